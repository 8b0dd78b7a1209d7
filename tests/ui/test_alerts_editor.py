"""The rule editor: messages next to the offending fields, OK refused while invalid, fields by kind, preview timing."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.alerts import Aggregation, AlertRule, Comparator, MatchOp, RuleKind, Scope, Severity
from gpuwatch_desktop.core.metrics import ALERT_METRICS_BY_KEY
from gpuwatch_desktop.ui.rule_editor import ALL_FIELDS, KIND_FIELDS, RuleEditorDialog
from gpuwatch_desktop.ui.theme import DARK

HOT = AlertRule(id="gpu-too-hot", name="GPU too hot", metric="gpu_temp", aggregation=Aggregation.MAX,
                window_s=300.0, threshold=85.0, clear_threshold=80.0, for_s=60.0, severity=Severity.CRITICAL,
                labels=(("team", "infra"),), description="GPU {gpu} on {node}: {value} {unit}")


def _editor(qtbot: QtBot, rule: AlertRule | None = HOT, taken: tuple[str, ...] = ("gpu-too-hot",)) -> RuleEditorDialog:
    dialog = RuleEditorDialog(rule, ["node-1", "node-2"], taken, DARK)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_an_unchanged_valid_rule_round_trips_through_the_fields(qtbot: QtBot) -> None:
    dialog = _editor(qtbot)
    assert dialog.ok_button.isEnabled()
    assert dialog.threshold_unit.text() == "°C"
    dialog.accept()
    assert dialog.result_rule == HOT


@pytest.mark.parametrize(("edit", "text", "field", "words"), [
    ("threshold_edit", "hot", "threshold", "'hot' is not a number"),
    ("threshold_edit", "", "threshold", "enter a number"),
    ("window_edit", "5 minutes", "window_s", "is not a duration"),
    ("for_edit", "-1", "for_s", "is not a duration"),
    ("matchers_edit", "model=~H100[", "scope", "bad regular expression"),
    ("matchers_edit", "colour=red", "scope", "unknown label 'colour'"),
    ("labels_edit", "team", "labels", "'team' is not a label like team=ml"),
    ("description_edit", "GPU {gpus}", "description", "bad template"),
    ("clear_edit", "90", "clear_threshold", "OK side of the threshold"),
    ("name_edit", "  ", "name", "a rule needs a name"),
])
def test_a_bad_field_is_named_next_to_it_and_the_rule_is_refused(
    qtbot: QtBot, edit: str, text: str, field: str, words: str
) -> None:
    dialog = _editor(qtbot)
    getattr(dialog, edit).setText(text)
    assert words in dialog.error_text(field)
    assert [k for k in ALL_FIELDS if dialog.error_text(k)] == [field], "only the offending field is marked"
    assert not dialog.ok_button.isEnabled()
    dialog.accept()  # e.g. Enter in a field: still refused
    assert dialog.result_rule is None and dialog.isVisible()
    getattr(dialog, edit).setText(_valid_text(field))
    assert not dialog.error_text(field) and dialog.ok_button.isEnabled()


def _valid_text(field: str) -> str:
    return {"threshold": "85", "window_s": "5m", "for_s": "1m", "scope": 'model=~"H100.*"', "labels": "team=ml",
            "description": "{node}", "clear_threshold": "80", "name": "Hot"}[field]


def test_a_gauge_with_rate_and_an_unknown_metric_are_refused(qtbot: QtBot) -> None:
    dialog = _editor(qtbot)
    dialog.aggregation_combo.setCurrentIndex(dialog.aggregation_combo.findData(Aggregation.RATE))
    assert "rate needs a counter" in dialog.error_text("aggregation")
    assert not dialog.ok_button.isEnabled()
    old = _editor(qtbot, AlertRule(id="old", name="From an older version", metric="sm_occupancy"))
    assert old.metric_combo.currentText() == "sm_occupancy (unknown metric)"
    assert "unknown metric 'sm_occupancy'" in old.error_text("metric")
    old.metric_combo.setCurrentIndex(old.metric_combo.findData("power"))
    assert old.ok_button.isEnabled() and old.threshold_unit.text() == "W"


def test_the_metric_combo_offers_every_alert_metric_with_its_unit(qtbot: QtBot) -> None:
    dialog = _editor(qtbot)
    offered = {dialog.metric_combo.itemData(i): dialog.metric_combo.itemText(i)
               for i in range(dialog.metric_combo.count())}
    assert set(offered) == set(ALERT_METRICS_BY_KEY)
    assert offered["gpu_temp"] == "GPU temperature (°C)"
    assert offered["fb_used_pct"] == "Memory used share (%)"


@pytest.mark.parametrize("kind", list(RuleKind))
def test_each_kind_shows_only_the_fields_it_uses(qtbot: QtBot, kind: RuleKind) -> None:
    dialog = _editor(qtbot)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(kind))
    shown = {k for k in ALL_FIELDS if dialog.is_field_shown(k)}
    assert shown == KIND_FIELDS[kind] | {"name", "kind", "severity", "labels", "description", "enabled"}
    assert dialog.ok_button.isEnabled(), dialog.errors
    dialog.accept()
    assert dialog.result_rule is not None and dialog.result_rule.kind is kind


def test_idle_kind_reads_its_threshold_as_utilisation(qtbot: QtBot) -> None:
    dialog = _editor(qtbot)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(RuleKind.IDLE))
    assert not dialog.is_field_shown("metric") and not dialog.is_field_shown("comparator")
    assert dialog.form.labelForField(dialog._rows["threshold"]).text() == "Utilisation under"  # type: ignore[union-attr]
    assert dialog.threshold_unit.text() == "%"
    dialog.threshold_edit.setText("5")
    dialog.window_edit.setText("30m")
    dialog.accept()
    rule = dialog.result_rule
    assert rule is not None
    assert (rule.kind, rule.threshold, rule.window_s, rule.clear_threshold) == (RuleKind.IDLE, 5.0, 1800.0, None)


def test_window_reads_as_a_look_back_for_the_newest_value(qtbot: QtBot) -> None:
    from gpuwatch_desktop.core.alerts import Aggregation

    dialog = _editor(qtbot)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(RuleKind.THRESHOLD))
    label = dialog.form.labelForField(dialog._rows["window_s"])
    dialog.aggregation_combo.setCurrentIndex(dialog.aggregation_combo.findData(Aggregation.LAST))
    assert label.text() == "Look back (newest value)"  # type: ignore[union-attr]
    dialog.aggregation_combo.setCurrentIndex(dialog.aggregation_combo.findData(Aggregation.MAX))
    assert label.text() == "Window"  # type: ignore[union-attr]


def test_a_new_rule_gets_an_id_from_its_name_and_every_field(qtbot: QtBot) -> None:
    dialog = _editor(qtbot, None, taken=("gpu-too-hot",))
    assert dialog.windowTitle() == "New alert rule"
    dialog.name_edit.setText("GPU too hot")
    dialog.node_combo.setCurrentIndex(dialog.node_combo.findData("node-2"))
    dialog.gpu_spin.setValue(3)
    dialog.matchers_edit.setText('model=~"H100.*", hostname!=spare-1')
    dialog.comparator_combo.setCurrentIndex(dialog.comparator_combo.findData(Comparator.GE))
    dialog.threshold_edit.setText("90")
    dialog.for_edit.setText("1h30m")
    dialog.keep_edit.setText("45")
    dialog.labels_edit.setText("team=ml, pager=yes")
    dialog.enabled_check.setChecked(False)
    dialog.accept()
    rule = dialog.result_rule
    assert rule is not None
    assert rule.id == "gpu-too-hot-2", "unique among the existing ids"
    assert rule.scope == Scope("node-2", 3, rule.scope.matchers)
    assert [(m.name, m.op, m.value) for m in rule.scope.matchers] == [
        ("model", MatchOp.RE, "H100.*"), ("hostname", MatchOp.NE, "spare-1")]
    assert (rule.comparator, rule.threshold, rule.for_s, rule.keep_firing_s) == (Comparator.GE, 90.0, 5400.0, 45.0)
    assert rule.labels == (("team", "ml"), ("pager", "yes")) and not rule.enabled


def test_preview_is_asked_once_after_edits_settle_and_only_for_a_valid_rule(qtbot: QtBot) -> None:
    dialog = _editor(qtbot)
    asked: list[AlertRule] = []
    dialog.previewRequested.connect(asked.append)
    for text in ("9", "90", "91"):
        dialog.threshold_edit.setText(text)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=3000)
    qtbot.wait(700)
    assert len(asked) == 1 and asked[0].threshold == 91.0, "typing 3 characters asks once, for the last value"
    dialog.show_preview(asked[0], "Would have fired 3 times on 2 GPUs in the last hour.")
    assert dialog.preview_label.text() == "Would have fired 3 times on 2 GPUs in the last hour."
    dialog.threshold_edit.setText("x")
    qtbot.waitUntil(lambda: "Fix the fields" in dialog.preview_label.text(), timeout=3000)
    dialog.show_preview(asked[0], "stale answer")
    assert "stale answer" not in dialog.preview_label.text(), "an answer for an older rule is dropped"
    assert len(asked) == 1
