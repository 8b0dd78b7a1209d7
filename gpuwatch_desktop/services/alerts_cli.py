"""``gpuwatch alerts``: print the active alerts and the recent alert events stored in the history file.

The file is opened as the app opens it (an older file is migrated forward; a missing one is
never created). No Qt here.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from gpuwatch_desktop.cli import alerts_parser
from gpuwatch_desktop.config.paths import default_data_dir, history_db_path
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertRule, effective_metric
from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import ALERT_METRICS_BY_KEY
from gpuwatch_desktop.storage import HistoryStore


@dataclass(frozen=True, slots=True)
class AlertsReport:
    now: float
    since: float  # events from this time on
    active: list[ActiveAlert]
    events: list[AlertEvent]  # newest first
    more: bool  # older events in the period were left out (--limit)
    units: dict[str, str]  # rule id -> unit of its metric


def read_report(store: HistoryStore, now: float, period_s: float, limit: int) -> AlertsReport:
    alerts = store.alerts()
    events = alerts.events(since=now - period_s, limit=limit + 1)
    return AlertsReport(now, now - period_s, alerts.active(), events[:limit], len(events) > limit,
                        _units(alerts.list_rules()))


def _units(rules: Sequence[AlertRule]) -> dict[str, str]:
    """The unit of what each rule watches (XID and idle rules watch fixed metrics, some metrics are derived)."""
    units = {}
    for rule in rules:
        spec = ALERT_METRICS_BY_KEY.get(effective_metric(rule) or "")
        if spec is not None:
            units[rule.id] = spec.unit
    return units


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    for unit, size, sub_unit, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit} {s % size // sub_size:02d}{sub_unit}"
    return f"{s}s"


def _where(node: str, gpu: int | None) -> str:
    return node if gpu is None else f"{node} GPU {gpu}"


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g} {unit}".rstrip()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]]


def format_tables(report: AlertsReport) -> str:
    lines = [f"Active alerts: {len(report.active)}" if report.active else "Active alerts: none"]
    rows = [
        [a.state.value, a.severity.value, a.rule_name, _where(a.key.node, a.key.gpu),
         _value(a.value, report.units.get(a.key.rule_id, "")), _clock(a.since), _age(report.now - a.since),
         ", ".join(m for m, on in (("silenced", a.silenced), ("acked", a.acknowledged)) if on), a.summary]
        for a in report.active
    ]
    if rows:
        lines += _table(["STATE", "SEVERITY", "RULE", "NODE/GPU", "VALUE", "SINCE", "AGE", "MARKS", "SUMMARY"], rows)
    lines.append("")
    shown = f"newest {len(report.events)} shown, older ones left out (raise --limit)" if report.more else "newest first"
    lines.append(f"Alert events since {_clock(report.since)}: {len(report.events) or 'none'}"
                 + (f" ({shown})" if report.events else ""))
    rows = [
        [_clock(e.time), f"{e.previous.value} -> {e.state.value}", e.severity.value, e.rule_name,
         _where(e.node, e.gpu), _value(e.value, report.units.get(e.rule_id, "")),
         "silenced" if e.silenced else "", e.summary]
        for e in report.events
    ]
    if rows:
        lines += _table(["TIME", "STATE", "SEVERITY", "RULE", "NODE/GPU", "VALUE", "MARKS", "SUMMARY"], rows)
    return "\n".join(lines)


def _active_json(a: ActiveAlert, report: AlertsReport) -> dict[str, Any]:
    return {
        "fingerprint": a.key.fingerprint, "rule_id": a.key.rule_id, "rule_name": a.rule_name,
        "node": a.key.node, "gpu": a.key.gpu, "state": a.state.value, "severity": a.severity.value,
        "since": a.since, "active_since": a.active_since, "age_s": round(report.now - a.since, 3),
        "value": a.value, "unit": report.units.get(a.key.rule_id, ""), "summary": a.summary,
        "labels": dict(a.labels), "silenced": a.silenced, "acknowledged": a.acknowledged,
    }


def _event_json(e: AlertEvent, report: AlertsReport) -> dict[str, Any]:
    return {
        "time": e.time, "rule_id": e.rule_id, "rule_name": e.rule_name, "node": e.node, "gpu": e.gpu,
        "state": e.state.value, "previous": e.previous.value, "severity": e.severity.value, "value": e.value,
        "unit": report.units.get(e.rule_id, ""), "summary": e.summary, "silenced": e.silenced,
    }


def to_json(report: AlertsReport) -> str:
    return json.dumps({
        "active": [_active_json(a, report) for a in report.active],
        "events": [_event_json(e, report) for e in report.events],
    }, indent=2)


def run_alerts(argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = alerts_parser().parse_args(argv)
    path = history_db_path(args.data_dir or default_data_dir())
    if not path.is_file():
        print(f"gpuwatch alerts: no history database at {path} (has the app run with this --data-dir?)", file=err)
        if args.data_dir is None:
            demo = history_db_path(default_data_dir() / "demo")
            print(f"  `gpuwatch --demo` keeps its history apart: gpuwatch alerts --data-dir {demo.parent}", file=err)
        return 1
    try:
        with HistoryStore(path) as store:
            report = read_report(store, time.time(), args.since, args.limit)
    except StorageError as exc:
        print(f"gpuwatch alerts: {exc}", file=err)
        return 1
    print(to_json(report) if args.json else format_tables(report), file=out)
    return 0
