"""The rules tab against a real AlertService and SQLite file: new, edit, duplicate, delete, enable, import, export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.alerts.rules_file import load_rules_file
from gpuwatch_desktop.core.alerts import AlertRule, RuleKind, Severity
from tests.ui.test_alerts_support import HOT, Harness, run_alerts, select_row, table_texts, until

DOWN = AlertRule(id="down", name="Node down", kind=RuleKind.NODE_DOWN, for_s=30.0, severity=Severity.CRITICAL)


def test_a_new_rule_is_saved_and_shown_with_its_condition(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        assert table_texts(h.view.rule_table, "Name") == ["GPU hot"]
        h.view.new_button.click()
        editor = h.view.editor
        assert editor is not None and editor.isVisible()
        editor.name_edit.setText("Memory nearly full")
        editor.metric_combo.setCurrentIndex(editor.metric_combo.findData("fb_used_pct"))
        editor.threshold_edit.setText("95")
        editor.for_edit.setText("2m")
        editor.ok_button.click()
        await until(lambda: len(table_texts(h.view.rule_table, "Name")) == 2)
        assert "Memory used share > 95 % for 2m" in table_texts(h.view.rule_table, "Condition")
        assert [r.id for r in h.stored_rules()] == ["hot", "memory-nearly-full"]
        assert [r.id for r in h.service.rules] == ["hot", "memory-nearly-full"], "the engine evaluates it"
        assert "Saved rule" in h.view.message_label.text()

    run_alerts(qtbot, tmp_path, [HOT], scenario)


def test_edit_and_duplicate_keep_or_make_ids(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        select_row(h.view.rule_table, "GPU hot", "Name")
        h.view.edit_button.click()
        assert h.view.editor is not None and h.view.editor.name_edit.text() == "GPU hot"
        h.view.editor.threshold_edit.setText("70")
        h.view.editor.ok_button.click()
        await until(lambda: table_texts(h.view.rule_table, "Condition") == ["GPU temperature > 70 °C"])
        assert h.stored_rules()[0].threshold == 70.0
        select_row(h.view.rule_table, "GPU hot", "Name")
        h.view.duplicate_button.click()
        assert h.view.editor is not None and h.view.editor.windowTitle() == "New alert rule"
        h.view.editor.ok_button.click()
        await until(lambda: len(h.stored_rules()) == 2)
        copy = h.stored_rules()[1]
        assert (copy.id, copy.name, copy.threshold) == ("gpu-hot-copy", "GPU hot (copy)", 70.0)

    run_alerts(qtbot, tmp_path, [HOT], scenario)


def test_delete_asks_first_naming_the_rule(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]

    def question(parent: object, title: str, text: str, *args: object) -> QMessageBox.StandardButton:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)

    async def scenario(h: Harness) -> None:
        select_row(h.view.rule_table, "Node down", "Name")
        h.view.delete_button.click()
        assert "“Node down”" in asked[0]
        await asyncio.sleep(0.2)  # room for a deletion that should not happen
        assert [r.id for r in h.stored_rules()] == ["hot", "down"], "cancelled: nothing deleted"
        h.view.delete_button.click()
        await until(lambda: table_texts(h.view.rule_table, "Name") == ["GPU hot"])
        assert [r.id for r in h.stored_rules()] == ["hot"]
        assert len(asked) == 2

    run_alerts(qtbot, tmp_path, [HOT, DOWN], scenario)


def test_the_enabled_checkbox_saves_the_rule(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        index = select_row(h.view.rule_table, "Node down", "Name")
        assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        h.view.rule_table.model().setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
        await until(lambda: not h.stored_rules()[1].enabled)
        await until(lambda: "disabled" in table_texts(h.view.rule_table, "State"))
        shown = h.view.rule_table.model().index(table_texts(h.view.rule_table, "Name").index("Node down"), 0)
        assert shown.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
        assert h.stored_rules()[0].enabled, "only that rule changed"

    run_alerts(qtbot, tmp_path, [HOT, DOWN], scenario)


BAD_FILE = """\
version: 1
rules:
  - name: Fine rule
    metric: power
    threshold: 650
  - name: Broken rule
    metric: gpu_temp
    threshold: very hot
"""


def test_an_import_with_an_error_changes_nothing_and_says_where(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BAD_FILE)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(path), ""))

    async def scenario(h: Harness) -> None:
        h.view.import_button.click()
        await until(lambda: h.view.message_bar.isVisible())
        text = h.view.message_label.text()
        assert "rules.yaml not imported" in text and "line 8" in text and "'very hot'" in text
        assert [r.id for r in h.stored_rules()] == ["hot"], "not even the valid first rule was added"
        assert table_texts(h.view.rule_table, "Name") == ["GPU hot"]

    run_alerts(qtbot, tmp_path, [HOT], scenario)


def test_export_then_import_restores_the_rules(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "backup"  # no extension: the chosen filter decides
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(target), "JSON (*.json)"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(target) + ".json", ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)

    async def scenario(h: Harness) -> None:
        before = h.stored_rules()
        h.view.export_button.click()
        await until(lambda: "Exported 2 rules" in h.view.message_label.text())
        assert load_rules_file(tmp_path / "backup.json") == before
        select_row(h.view.rule_table, "GPU hot", "Name")
        h.view.delete_button.click()
        await until(lambda: table_texts(h.view.rule_table, "Name") == ["Node down"])
        extra = AlertRule(id="extra", name="Made after the export", metric="power", threshold=650.0)
        await h.service.save_rule(extra)
        h.view.import_button.click()
        await until(lambda: "Imported 2 rules" in h.view.message_label.text())
        assert "1 new, 1 replaced" in h.view.message_label.text()
        assert sorted(h.stored_rules(), key=lambda r: r.id) == sorted([*before, extra], key=lambda r: r.id), \
            "an import adds and replaces by id; rules not in the file stay"
        assert sorted(table_texts(h.view.rule_table, "Name")) == ["GPU hot", "Made after the export", "Node down"]

    run_alerts(qtbot, tmp_path, [HOT, DOWN], scenario)
