"""The Slurm tab shown with real Slurm data objects: empty state, summary, filters, numeric sorting, copy,
job detail and the stale / error banner."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.slurm import SlurmJob, SlurmNodeInfo, SlurmPartition, SlurmStatus, summarize
from gpuwatch_desktop.ui.alerts_panels import selected_rows
from gpuwatch_desktop.ui.slurm_tables import JOB_HEADERS
from gpuwatch_desktop.ui.slurm_view import EMPTY_TEXT, SlurmView
from gpuwatch_desktop.ui.theme import DARK

URL = "http://head:9341"


def status_of(jobs: tuple[SlurmJob, ...], error: str | None = None, data: bool = True) -> SlurmStatus:
    """Times are relative to now (the view reads the clock itself): mid-minute, so a slow run shows the same."""
    now = time.time()
    nodes = (SlurmNodeInfo("node-1", "mixed", "", ("gpu",), 64, 16, 8, 3, 512000),
             SlurmNodeInfo("node-2", "down", "Not responding", ("gpu",), 64, 0, 8, 0, 512000),
             SlurmNodeInfo("node-10", "idle", "", ("gpu", "debug"), 64, 0, 16, 0, 512000))
    parts = (SlurmPartition("gpu", True, "up", ("node-1", "node-2", "node-10"), 192, 16, 32, 3, None, 2, 2),)
    if not data:
        return SlurmStatus("head", URL, fetched_at=now, error=error)
    jobs = tuple(replace(j, submit_time=now - j.submit_time if j.submit_time is not None else None,
                         start_time=now - j.start_time if j.start_time is not None else None) for j in jobs)
    return SlurmStatus("head", URL, nodes, parts, jobs, summarize(nodes, jobs), now - 4.5, now, error)


# submit_time and start_time: seconds before now (see status_of)
JOBS = (
    SlurmJob("1000", "train-llm", "ada", "gpu", "RUNNING", "", "node-1", 1, 8, 2, 3930, 3630, 7200),
    SlurmJob("99", "eval", "bob", "gpu", "RUNNING", "", "node-1", 1, 4, 1, 730, 630, None),
    SlurmJob("123", "sweep", "ada", "gpu", "PENDING", "Resources", "", 1, 8, 10, 330, None, 3600),
    SlurmJob("123_4", "sweep", "ada", "gpu", "PENDING", "Priority", "", 1, 8, 10, 320, None, 3600),
    SlurmJob("77", "old", "cy", "debug", "FAILED", "NonZeroExitCode", "node-10", 1, 1, 0, 9030, 8030),
)


@pytest.fixture
def view(qtbot: QtBot) -> SlurmView:
    widget = SlurmView(DARK)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    return widget


def column(view: SlurmView, name: str) -> list[str]:
    table = view.jobs_table
    c = table.source_model.headers.index(name)
    return [table.model().index(r, c).data() for r in range(table.model().rowCount())]


def test_without_an_exporter_the_view_says_how_to_add_one(view: SlurmView, qtbot: QtBot) -> None:
    view.show_status("", None, fetching=False)
    assert view.stack.currentIndex() == 0
    assert view.empty_label.text() == EMPTY_TEXT
    with qtbot.waitSignal(view.settingsRequested) as opened:
        view.settings_button.click()
    assert opened.args == ["Nodes"]


def test_while_connecting_it_says_so_and_shows_progress(view: SlurmView) -> None:
    view.show_status(URL, None, fetching=True)
    assert view.stack.currentIndex() == 1
    assert view.summary_label.text() == f"Connecting to the Slurm exporter at {URL}…"
    assert not view.busy.isHidden() and not view.refresh_button.isEnabled()
    assert view.banner.isHidden()


def test_summary_nodes_and_partitions(view: SlurmView) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    summary = view.summary_label.text()
    for words in ("3 nodes:", "1 mixed", "1 down", "1 idle", "CPUs</b> 16/192", "GPUs</b> 3/32 (9 %)",
                  "Jobs</b> 2 running", "2 pending"):
        assert words in summary
    assert re.fullmatch(r"updated \d\d:\d\d:\d\d \([45] s ago\)", view.fresh_label.text())
    assert view.busy.isHidden() and view.banner.isHidden()
    nodes = view.nodes_table.model()
    rows = {nodes.index(r, 0).data(): [nodes.index(r, c).data() for c in range(7)] for r in range(nodes.rowCount())}
    assert rows["node-1"][:4] == ["node-1", "mixed", "3/8", "16/64"]
    assert rows["node-2"][6] == "Not responding"
    down_color = nodes.index([*rows].index("node-2"), 1).data(Qt.ItemDataRole.ForegroundRole)
    assert down_color.name() == DARK.crit
    part = view.partitions_table.model()
    assert [part.index(0, c).data() for c in range(8)] == ["gpu (default)", "up", "3", "3/32", "16/192", "2", "2",
                                                         "UNLIMITED"]


def test_nodes_and_jobs_sort_as_numbers(view: SlurmView) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    table = view.jobs_table
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert column(view, "Job ID") == ["77", "99", "123", "123_4", "1000"]
    table.sortByColumn(table.source_model.headers.index("GPUs"), Qt.SortOrder.DescendingOrder)
    assert column(view, "GPUs") == ["10", "10", "2", "1", "0"]
    table.sortByColumn(table.source_model.headers.index("Time"), Qt.SortOrder.DescendingOrder)
    assert column(view, "Time")[:2] == ["running for 1 h 0 m", "running for 10 m"]
    view.nodes_table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # GPUs alloc: 3/8 before 0/16 and 0/8
    nodes = view.nodes_table.model()
    assert [nodes.index(r, 2).data() for r in range(3)] == ["3/8", "0/16", "0/8"]
    view.nodes_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [nodes.index(r, 0).data() for r in range(3)] == ["node-1", "node-2", "node-10"]


def test_filters_by_text_state_and_user(view: SlurmView) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    assert view.jobs_count.text() == "5 of 5 jobs"
    view.state_combo.setCurrentText("pending")
    assert sorted(column(view, "Job ID")) == ["123", "123_4"]
    view.state_combo.setCurrentText("other")
    assert column(view, "Job ID") == ["77"]
    view.state_combo.setCurrentText("all")
    assert [view.user_combo.itemText(i) for i in range(view.user_combo.count())] == ["All users", "ada", "bob", "cy"]
    view.user_combo.setCurrentText("ada")
    assert sorted(column(view, "Job ID")) == ["1000", "123", "123_4"]
    view.filter_edit.setText("PRIOR")  # the pending reason, any case
    assert column(view, "Job ID") == ["123_4"]
    assert view.jobs_count.text() == "1 of 5 jobs"
    view.show_status(URL, status_of(JOBS[:2]), fetching=False)  # a refresh keeps the filters
    assert column(view, "Job ID") == [] and view.user_combo.currentText() == "ada"


def test_ctrl_c_copies_the_selected_rows_as_tsv(view: SlurmView, qtbot: QtBot) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    with qtbot.waitActive(view):  # Ctrl+C is the window's shortcut: it needs the window active
        view.show()
        view.activateWindow()
    table = view.jobs_table
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.selectRow(1)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QGuiApplication.clipboard().text().splitlines()
    assert lines[0].split("\t") == ["Job ID", "Name", "User", "Partition", "State", "Reason", "Nodes", "GPUs",
                                    "CPUs", "Submitted", "Time", "Time left"]
    assert lines[1].split("\t")[:9] == ["99", "eval", "bob", "gpu", "RUNNING", "", "node-1", "1", "4"]
    assert len(lines) == 2


def test_job_detail_shows_every_field_and_outlives_the_job(view: SlurmView) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    view.jobs_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.jobs_table.selectRow(2)  # job 123, pending
    fields = detail_fields(view)
    assert {k: fields[k] for k in ("Job ID", "User", "State", "Reason", "Nodes", "GPUs", "CPUs", "Started",
                                   "Time limit")} == {
        "Job ID": "123", "User": "ada", "State": "PENDING — pending for 5 m", "Reason": "Resources",
        "Nodes": "— (1 node)", "GPUs": "10", "CPUs": "8", "Started": "—", "Time limit": "01:00:00"}
    rows = view.jobs_table.source_model.rowCount()
    submitted = next(view.job_at(r) for r in range(rows) if view.job_at(r).id == "123").submit_time
    assert fields["Submitted"] == f"{time.strftime('%H:%M:%S', time.localtime(submitted))} (5 m ago)"
    view.jobs_table.selectRow(4)  # job 1000, running
    fields = detail_fields(view)
    assert (fields["State"], fields["Waited"], fields["Time left"]) == ("RUNNING — running for 1 h 0 m", "5 m",
                                                                       "59 m")
    view.jobs_table.selectRow(2)
    view.show_status(URL, status_of(JOBS[:2]), fetching=False)  # 123 has left the queue
    assert view.detail.toPlainText().strip().startswith("Job 123 has left the queue (finished or cancelled).")
    assert detail_fields(view)["Reason"] == "Resources"


def detail_fields(view: SlurmView) -> dict[str, str]:
    """The detail pane's table as name -> value (a name cell is followed by its value cell)."""
    lines = [line.strip() for line in view.detail.toPlainText().splitlines() if line.strip()]
    names = {"Job ID", "Name", "User", "Partition", "State", "Reason", "Nodes", "GPUs", "CPUs", "Submitted",
             "Started", "Time limit", "Waited", "Time left"}
    return {line: lines[i + 1] for i, line in enumerate(lines[:-1]) if line in names}


def test_stale_data_is_kept_and_marked(view: SlurmView) -> None:
    view.show_status(URL, status_of(JOBS, error="squeue timed out after 10 s"), fetching=False)
    assert not view.banner.isHidden()
    assert view.banner.text().startswith("Stale: showing the data Slurm collected at ")
    assert re.search(r"\([45] s ago\)\. Latest update failed: squeue timed out after 10 s$", view.banner.text())
    assert view.jobs_table.model().rowCount() == 5 and view.nodes_table.model().rowCount() == 3


def test_an_error_before_any_data_says_what_failed(view: SlurmView) -> None:
    view.show_status(URL, status_of((), error="cannot connect to the Slurm exporter", data=False), fetching=False)
    assert view.banner.text() == "Cannot read Slurm: cannot connect to the Slurm exporter"
    assert view.summary_label.text() == f"No Slurm data from {URL}"
    assert view.fresh_label.text() == "no data yet"
    assert view.jobs_count.text() == "0 of 0 jobs"


def test_a_header_click_sorts_and_the_selection_and_order_survive_a_refresh(view: SlurmView, qtbot: QtBot) -> None:
    view.show_status(URL, status_of(JOBS), fetching=False)
    view.show()
    table = view.jobs_table
    header = table.horizontalHeader()
    cpus = JOB_HEADERS.index("CPUs")
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(cpus) + 5, header.height() // 2))
    assert header.sortIndicatorSection() == cpus
    order = [int(c) for c in column(view, "CPUs")]
    assert order in (sorted(order), sorted(order, reverse=True))
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.selectRow(1)  # job 99
    table.sortByColumn(JOB_HEADERS.index("GPUs"), Qt.SortOrder.DescendingOrder)
    assert [view.job_at(r).id for r in selected_rows(table)] == ["99"]
    view.show_status(URL, status_of(JOBS), fetching=False)  # the next poll
    assert column(view, "GPUs") == ["10", "10", "2", "1", "0"]
    assert [view.job_at(r).id for r in selected_rows(table)] == ["99"]
    assert detail_fields(view)["Job ID"] == "99"
