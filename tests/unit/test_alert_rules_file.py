"""Rule files: YAML and JSON import/export, errors that name the line and reason, nothing half-imported."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.alerts.rules_file import (
    RulesFileError,
    dump_rules,
    format_duration,
    load_rules,
    load_rules_file,
    parse_duration,
    save_rules_file,
)
from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertRule,
    Comparator,
    LabelMatcher,
    MatchOp,
    MissingPolicy,
    RuleKind,
    Scope,
    Severity,
    validate_rule,
)
from gpuwatch_desktop.core.errors import GpuwatchError

HAND_WRITTEN = """\
# rules for the lab
rules:
  - name: GPU too hot
    metric: gpu_temp
    window: 1m
    comparator: gt
    threshold: 85
    clear_threshold: 80.5
    for: 1m30s
    keep_firing: 250ms
    severity: critical
    labels: {team: infra}
    description: "{node}/{gpu} at {value}"
    scope: {node: node-1, match: ['model=~"H100.*"', "gpu!=3"]}
  - id: idle
    name: Idle
    kind: idle
    window: 30m
    threshold: 5
    enabled: false
"""


def test_reads_a_hand_written_file_with_durations_and_defaults() -> None:
    hot, idle = load_rules(HAND_WRITTEN, "yaml")
    assert hot == AlertRule(
        "gpu-too-hot", "GPU too hot", metric="gpu_temp", window_s=60.0, comparator=Comparator.GT, threshold=85.0,
        clear_threshold=80.5, for_s=90.0, keep_firing_s=0.25, severity=Severity.CRITICAL, labels=(("team", "infra"),),
        description="{node}/{gpu} at {value}",
        scope=Scope(node="node-1", matchers=(LabelMatcher("model", MatchOp.RE, "H100.*"),
                                             LabelMatcher("gpu", MatchOp.NE, "3"))),
    )
    assert idle == AlertRule("idle", "Idle", kind=RuleKind.IDLE, window_s=1800.0, threshold=5.0, enabled=False)


def test_the_same_rules_from_json(tmp_path: Path) -> None:
    rules = load_rules(HAND_WRITTEN, "yaml")
    path = tmp_path / "rules.json"
    save_rules_file(path, rules)
    assert json.loads(path.read_text())["rules"][0]["for"] == "1m30s"
    assert load_rules_file(path) == rules
    yaml_path = tmp_path / "rules.yml"
    save_rules_file(yaml_path, rules)
    assert "for: 1m30s" in yaml_path.read_text() and load_rules_file(yaml_path) == rules


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("rules:\n  - name: a\n    for: 5 minutes\n", 3, "for: '5 minutes' is not a duration"),
    ("rules:\n  - name: a\n  - name: b\n    colour: red\n", 4, "unknown field 'colour'"),
    ("rules:\n  - name: a\n    threshold: high\n", 3, "threshold: expected a finite number, got 'high'"),
    ("rules:\n  - name: a\n    severity: urgent\n", 3, "severity: 'urgent' is not one of info, warning, critical"),
    ("rules:\n  - name: a\n    metric: gpu_tmp\n", 3, "metric: unknown metric 'gpu_tmp'"),
    ("rules:\n  - name: a\n    metric: gpu_temp\n    aggregation: rate\n", 4, "aggregation: rate needs a counter"),
    ("rules:\n  - name: a\n    threshold: 80\n    clear_threshold: 90\n", 4, "clear_threshold: the clear threshold"),
    ("rules:\n  - name: a\n  - name: b\n    id: a\n", 4, "id: 'a' is used by an earlier rule"),
    ("rules:\n  - name: a\n    scope: {match: [\"model=~(\"]}\n", 3, "scope: bad regular expression"),
    ("rules:\n  - name: a\n    scope:\n      gpu: one\n", 4, "scope.gpu: expected a GPU index"),
    ("rules:\n  - name: a\n    scope: {match: [model]}\n", 3, "scope.match: 'model' is not a label matcher"),
    ("rules:\n  - name: a\n    scope: {match: ['colour=red']}\n", 3, "scope: unknown label 'colour'"),
    ("rules:\n  - name: a\n    labels: {team: [x]}\n", 3, "labels: label 'team': names and values must be text"),
    ("rules:\n  - name: a\n    name: b\n", 3, "'name' appears twice"),
    ("rules:\n  - threshold: 3\n", 2, "rule 1: a rule needs a name"),
    ("rules:\n  - name: ''\n", 2, "name: a rule needs a name"),
    ("rules:\n  - name: a\n    description: '{nope}'\n", 3, "description: bad template"),
    ("rules:\n  - [a, b]\n", 1, "rule 1: expected a mapping"),
    ("rules: {name: a}\n", 1, "rules: expected a list"),
    ("rule:\n  - name: a\n", 1, "unknown field 'rule'"),
    ("rules:\n  - name: a\n   threshold: 3\n", 3, "not valid YAML"),
    ("rules:\n  - name: a\n    window: .inf\n", 3, "window: inf is not a duration"),
])
def test_yaml_errors_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        load_rules(text, "yaml")
    assert caught.value.line == line and reason in caught.value.reason, str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ")
    assert isinstance(caught.value, GpuwatchError)


@pytest.mark.parametrize(("text", "line", "reason"), [
    ('{"rules": [\n  {"name": "a"},\n  {"name": "b",\n   "for": "soon"}\n]}', 4, "for: 'soon' is not a duration"),
    ('{"rules": [\n  {"name": "a",\n   "labels": {"for": "x", "severity": 1}}\n]}', 3, "label 'severity'"),
    ('{"rules": [\n  {"name": "a",\n   "name": "b"}\n]}', 3, "'name' appears twice"),
    ('{"rules": [\n  {"name": "a",\n   "threshold": NaN}\n]}', 3, "threshold: expected a finite number"),
    ('{"rules": [\n  {"name": "a"}\n  {"name": "b"}\n]}', 3, "not valid JSON"),
    ('[{"name": "a", "enabled": "yes"}]', 1, "enabled: expected true or false"),
])
def test_json_errors_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        load_rules(text, "json")
    assert caught.value.line == line and reason in caught.value.reason, str(caught.value)


def test_a_bad_rule_late_in_the_file_imports_nothing(tmp_path: Path) -> None:
    good = [AlertRule(f"r{i}", f"rule {i}") for i in range(5)]
    text = dump_rules(good, "yaml") + "- name: broken\n  for: never\n"
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesFileError, match="for: 'never'"):
        load_rules_file(path)


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match=r"use a \.yaml, \.yml or \.json file"):
        load_rules_file(tmp_path / "rules.txt")
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules_file(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"rules:\n  - name: caf\xe9\n")
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules_file(tmp_path / "latin1.yaml")
    with pytest.raises(RulesFileError, match="format"):
        load_rules("rules: []", "toml")
    assert load_rules("", "yaml") == [] and load_rules("rules: []", "yaml") == []


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5m", 90.0),
    ("2d", 172800.0), ("1w", 604800.0), (" 45s ", 45.0), (12, 12.0), (0.5, 0.5),
])
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "-5s", "5x", True, -1, None, float("nan")])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(RulesFileError):
        parse_duration(bad)


def test_durations_are_written_the_way_people_write_them() -> None:
    assert [format_duration(s) for s in (0.0, 45.0, 60.0, 90.0, 3600.0, 5400.0, 86400.0, 2.5)] == [
        "0s", "45s", "1m", "1m30s", "1h", "1h30m", "24h", 2.5]


NAME = st.text(string.ascii_letters + string.digits + " -_:'\"{}é#", min_size=1, max_size=12).filter(str.strip)
SECONDS = st.one_of(st.integers(0, 10**7).map(float), st.floats(0, 1e6, allow_nan=False))
NUMBER = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)
LABEL = st.text(string.ascii_letters + string.digits + " _-=,\"'", max_size=8)
MATCHER = st.builds(LabelMatcher, st.sampled_from(["node", "gpu", "hostname", "model", "uuid"]),
                    st.sampled_from([MatchOp.EQ, MatchOp.NE]), LABEL) | st.builds(
    LabelMatcher, st.sampled_from(["model", "node"]), st.sampled_from([MatchOp.RE, MatchOp.NRE]),
    st.sampled_from(["H100.*", ".*", r"node-\d+", "a|b", '"quoted"']))


@st.composite
def rules(draw: st.DrawFn) -> AlertRule:
    kind = draw(st.sampled_from(RuleKind))
    threshold = draw(NUMBER)
    comparator = draw(st.sampled_from(Comparator))
    clear = None
    if comparator not in (Comparator.EQ, Comparator.NE) and draw(st.booleans()):
        gap = draw(st.floats(0, 100, allow_nan=False))
        clear = threshold - gap if comparator in (Comparator.GT, Comparator.GE) else threshold + gap
    metric = draw(st.sampled_from(["gpu_temp", "energy", "fb_used_pct", "power_capped", "pcie_replay"]))
    aggregation = draw(st.sampled_from(Aggregation))
    if aggregation is Aggregation.RATE and metric not in ("energy", "pcie_replay"):
        aggregation = Aggregation.MAX
    rule = AlertRule(
        id=draw(NAME), name=draw(NAME), kind=kind, metric=metric, aggregation=aggregation,
        window_s=draw(SECONDS.filter(lambda s: s > 0)), comparator=comparator, threshold=threshold,
        clear_threshold=clear, for_s=draw(SECONDS), keep_firing_s=draw(SECONDS),
        severity=draw(st.sampled_from(Severity)), no_data=draw(st.sampled_from(MissingPolicy)),
        on_error=draw(st.sampled_from(MissingPolicy)), enabled=draw(st.booleans()),
        labels=tuple(draw(st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5), LABEL,
                                          max_size=3)).items()),
        description=draw(st.sampled_from(["", "{node} {gpu}: {value}{unit} > {threshold}", "plain {{braces}}",
                                          "cost {cost}", "multi\nline: {rule}"])),
        scope=Scope(draw(st.none() | NAME), draw(st.none() | st.integers(0, 15)),
                    tuple(draw(st.lists(MATCHER, max_size=3)))),
    )
    assert validate_rule(rule) == {}
    return rule


@settings(max_examples=150, deadline=None)
@given(rules=st.lists(rules(), max_size=4, unique_by=lambda r: r.id), fmt=st.sampled_from(["yaml", "json"]))
def test_round_trip_is_lossless(rules: list[AlertRule], fmt: str) -> None:
    assert load_rules(dump_rules(rules, fmt), fmt) == rules
