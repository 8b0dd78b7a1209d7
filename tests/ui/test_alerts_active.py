"""Active alerts and event history from real evaluations: acknowledge, silence, end a silence, filter events."""

from __future__ import annotations

import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.alerts import AlertRule, AlertState, Severity
from tests.ui.test_alerts_support import HOT, Harness, run_alerts, select_row, table_texts, until

WARM = AlertRule(id="warm", name="GPU warm", metric="gpu_temp", threshold=55.0, for_s=600.0, severity=Severity.INFO)


async def _fire(h: Harness) -> None:
    """node-1's GPUs 2, 4 and 6 are over 60 °C in the recorded payload: HOT fires on them, WARM is pending on 6."""
    now = time.time()
    h.publish("node-1", now)
    await h.service.evaluate_once(now)
    expected = len(h.state.alerts)
    assert expected == (9 if len(h.service.rules) == 2 else 3)
    await until(lambda: len(h.view.active_panel.alerts) == expected)


def test_active_alerts_show_state_value_and_age_and_rules_their_worst_state(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await _fire(h)
        table = h.view.active_panel.alert_table
        firing = [w for w, s in zip(table_texts(table, "Where"), table_texts(table, "State"), strict=True)
                  if s == "firing"]
        assert sorted(firing) == ["node-1 GPU 2", "node-1 GPU 4", "node-1 GPU 6"]
        assert "69 °C" in table_texts(table, "Value")
        assert set(table_texts(table, "Since")) <= {"0s", "1s", "2s"}
        assert h.view.tabs.tabText(1) == "Active (3 firing, 6 pending)"
        states = dict(zip(table_texts(h.view.rule_table, "Name"), table_texts(h.view.rule_table, "State"),
                          strict=True))
        assert states == {"GPU hot": "firing (3)", "GPU warm": "pending (6)"}
        values = dict(zip(table_texts(h.view.rule_table, "Name"), table_texts(h.view.rule_table, "Value"),
                          strict=True))
        assert values["GPU hot"] == "69 °C", "the worst series' value"

    run_alerts(qtbot, tmp_path, [HOT, WARM], scenario)


def test_acknowledge_from_the_table_marks_the_alert(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await _fire(h)
        table = h.view.active_panel.alert_table
        assert not h.view.active_panel.ack_button.isEnabled(), "nothing selected yet"
        select_row(table, "node-1 GPU 4", "Where")
        h.view.active_panel.ack_button.click()
        await until(lambda: "acknowledged" in table_texts(table, "Marks"))
        marks = dict(zip(table_texts(table, "Where"), table_texts(table, "Marks"), strict=True))
        assert [w for w, m in marks.items() if m == "acknowledged"] == ["node-1 GPU 4"]
        acked = [a for a in h.state.alerts if a.acknowledged]
        assert [(a.key.rule_id, a.key.gpu) for a in acked] == [("hot", 4)]
        assert "Acknowledged node-1 GPU 4" in h.view.message_label.text()

    run_alerts(qtbot, tmp_path, [HOT], scenario)


def test_silence_from_the_table_then_end_it(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await _fire(h)
        panel = h.view.active_panel
        select_row(panel.alert_table, "node-1 GPU 2", "Where")
        panel.silence_button.click()
        dialog = panel.silence_dialog
        assert dialog is not None and dialog.rule_check.text() == "Rule: GPU hot"
        dialog.node_check.setChecked(False)
        dialog.duration_combo.setCurrentIndex(3)  # Custom…
        dialog.custom_edit.setText("soon")
        assert not dialog.ok_button.isEnabled() and "not a duration" in dialog.error_label.text()
        dialog.custom_edit.setText("90m")
        dialog.reason_edit.setText("fan replaced tomorrow")
        started = time.time()
        dialog.ok_button.click()
        await until(lambda: panel.silence_model.rowCount() == 1)
        [silence] = await h.service.silences()
        assert (silence.rule_id, silence.node, silence.reason) == ("hot", None, "fan replaced tomorrow")
        assert abs(silence.ends_at - started - 5400) < 5
        assert table_texts(panel.silence_table, "Node") == ["every node"]
        await until(lambda: set(table_texts(panel.alert_table, "Marks")) == {"silenced"})
        panel.silence_table.selectRow(0)
        panel.expire_button.click()
        await until(lambda: panel.silence_model.rowCount() == 0)
        assert await h.service.silences() == []

    run_alerts(qtbot, tmp_path, [HOT], scenario)


def test_event_history_filters(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await _fire(h)
        history = h.view.history_panel
        h.view.tabs.setCurrentWidget(history)
        await until(lambda: history.model.rowCount() == 9)
        assert sorted(set(table_texts(history.table, "State"))) == ["firing", "pending"]
        history.state_combo.setCurrentIndex(history.state_combo.findData(AlertState.FIRING))
        await until(lambda: history.model.rowCount() == 3)
        assert set(table_texts(history.table, "Rule")) == {"GPU hot"}
        history.state_combo.setCurrentIndex(0)
        history.severity_combo.setCurrentIndex(history.severity_combo.findData(Severity.INFO))
        await until(lambda: history.model.rowCount() == 6)
        assert set(table_texts(history.table, "Rule")) == {"GPU warm"}
        history.rule_combo.setCurrentIndex(history.rule_combo.findData("hot"))
        await until(lambda: history.model.rowCount() == 0)
        assert history.count_label.text() == "No events match these filters."
        assert history.node_combo.findData("node-1") > 0, "known nodes offered"

    run_alerts(qtbot, tmp_path, [HOT, WARM], scenario)
