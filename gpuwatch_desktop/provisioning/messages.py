"""Terraform's machine-readable UI (``-json``: one JSON object a line) turned into Progress for the app.

Message types used: version, planned_change, change_summary, apply_start, apply_progress, apply_complete,
apply_errored, refresh_start/complete, diagnostic, outputs, log; any other type (or a plain text line) is a log line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpuwatch_desktop.config.secrets import redact
from gpuwatch_desktop.provisioning.model import ChangeAction, PlannedChange, Progress, ProgressKind

_HOOK_KINDS = {
    "apply_start": ProgressKind.APPLY_START,
    "apply_progress": ProgressKind.APPLY_PROGRESS,
    "apply_complete": ProgressKind.APPLY_COMPLETE,
    "apply_errored": ProgressKind.APPLY_ERRORED,
}
_COUNTED = (ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE, ChangeAction.REPLACE)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""
    address: str = ""

    def text(self) -> str:
        """One line: where, what, and the first paragraph of why."""
        why = self.detail.strip().split("\n\n")[0].replace("\n", " ")
        where = f"{self.address}: " if self.address else ""
        return f"{where}{self.summary}" + (f": {why}" if why else "")


def planned_change(change: Any) -> PlannedChange | None:
    """A planned_change message's ``change`` object as a PlannedChange (None when it is not one)."""
    try:
        resource = change["resource"]
        action = ChangeAction(change["action"])
    except (KeyError, TypeError, ValueError):
        return None
    return PlannedChange(
        address=str(resource.get("addr", "")),
        resource_type=str(resource.get("resource_type", "")),
        name=str(resource.get("resource_name", "")),
        action=action,
    )


class MessageParser:
    """Feeds on output lines; keeps the plan, the change counts, the diagnostics and how many resources are done."""

    def __init__(self, total: int = 0, secrets: Sequence[str] = ()) -> None:
        self._secrets = tuple(secrets)
        self._changes: list[PlannedChange] = []
        self._diagnostics: list[Diagnostic] = []
        self._given_total = total
        self.counts: dict[str, int] = {}
        self.done = 0

    @property
    def changes(self) -> tuple[PlannedChange, ...]:
        return tuple(self._changes)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return tuple(self._diagnostics)

    @property
    def total(self) -> int:
        planned = sum(1 for c in self._changes if c.action in _COUNTED)
        return max(self._given_total, planned)

    def feed(self, line: str) -> Progress | None:
        """The Progress for one line of output (None for blank lines)."""
        line = line.strip()
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            return self._progress(ProgressKind.LOG, line)
        kind = message.get("type")
        text = str(message.get("@message", ""))
        if kind == "planned_change":
            return self._planned(message, text)
        if kind in _HOOK_KINDS:
            return self._hook(_HOOK_KINDS[kind], message, text)
        if kind == "diagnostic":
            return self._diagnostic(message, text)
        if kind == "change_summary" and isinstance(message.get("changes"), dict):
            self.counts = {k: int(message["changes"].get(k, 0)) for k in ("add", "change", "remove")}
        return self._progress(ProgressKind.LOG, text)

    def _planned(self, message: dict[str, Any], text: str) -> Progress:
        change = planned_change(message.get("change"))
        if change is None:
            return self._progress(ProgressKind.LOG, text)
        self._changes.append(change)
        return self._progress(ProgressKind.PLANNED, text, change.address)

    def _hook(self, kind: ProgressKind, message: dict[str, Any], text: str) -> Progress:
        hook = message.get("hook")
        resource = hook.get("resource") if isinstance(hook, dict) else None
        address = str(resource.get("addr", "")) if isinstance(resource, dict) else ""
        if kind in (ProgressKind.APPLY_COMPLETE, ProgressKind.APPLY_ERRORED):
            self.done += 1
        return self._progress(kind, text, address)

    def _diagnostic(self, message: dict[str, Any], text: str) -> Progress:
        body = message.get("diagnostic")
        body = body if isinstance(body, dict) else {}
        found = Diagnostic(
            severity=str(body.get("severity", message.get("@level", "error"))),
            summary=redact(str(body.get("summary", text)), self._secrets),
            detail=redact(str(body.get("detail", "")), self._secrets),
            address=str(body.get("address", "")),
        )
        self._diagnostics.append(found)
        return self._progress(ProgressKind.DIAGNOSTIC, found.text(), found.address, found.severity)

    def _progress(self, kind: ProgressKind, text: str, address: str = "", severity: str = "") -> Progress:
        one_line = " ".join(redact(text, self._secrets).split())
        return Progress(kind, one_line, address, done=self.done, total=self.total, severity=severity)
