"""The Slurm tab fed by the real SlurmService over the real pod Slurm exporter (simulated cluster) on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.services.slurm_service import SlurmService
from gpuwatch_desktop.ui.slurm_controller import SlurmController
from gpuwatch_desktop.ui.slurm_view import EMPTY_TEXT, SlurmView
from gpuwatch_desktop.ui.theme import DARK
from gpuwatch_pod.slurm_sim import SimSlurm
from tests.integration.slurm_support import BreakableSlurm, serving

Scenario = Callable[[SlurmService, SlurmView], Coroutine[Any, Any, None]]


def run_tab(qtbot: QtBot, scenario: Scenario) -> None:
    loop = qasync.QEventLoop(QApplication.instance())
    view = SlurmView(DARK)
    qtbot.addWidget(view)
    service = SlurmService(interval_s=3600)
    controller = SlurmController(service, view)

    async def main() -> None:
        try:
            await scenario(service, view)
        finally:
            await service.aclose()

    with loop:
        loop.run_until_complete(main())
    controller.detach()


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def source() -> BreakableSlurm:
    now = time.time()
    return BreakableSlurm(SimSlurm(["node-1", "node-2"], seed=2, drained_node="node-3", clock=lambda: now))


def test_the_tab_shows_the_cluster_and_refreshes_on_request(qtbot: QtBot) -> None:
    slurm = source()
    truth = slurm.sim.collect()

    async def scenario(service: SlurmService, view: SlurmView) -> None:
        assert view.stack.currentIndex() == 0 and view.empty_label.text() == EMPTY_TEXT
        fetches: list[float] = []
        service.subscribe(lambda: fetches.append(service.latest.fetched_at)
                          if service.latest is not None and not service.fetching else None)
        with serving(slurm) as exporter:
            await service.set_nodes([NodeConfig("head", "http://127.0.0.1:9/metrics", slurm_url=exporter.url)])
            assert view.stack.currentIndex() == 1
            await until(lambda: fetches)
            assert view.nodes_table.model().rowCount() == 3 and view.busy.isHidden()
            assert view.jobs_count.text() == f"{len(truth.jobs)} of {len(truth.jobs)} jobs"
            assert "3 nodes:" in view.summary_label.text() and "1 drained" in view.summary_label.text()
            view.refresh_button.click()
            await until(lambda: len(fetches) == 2)
        await service.set_nodes([])
        assert view.stack.currentIndex() == 0

    run_tab(qtbot, scenario)


def test_when_the_exporter_goes_away_the_tab_keeps_the_data_marked_stale(qtbot: QtBot) -> None:
    slurm = source()

    async def scenario(service: SlurmService, view: SlurmView) -> None:
        with serving(slurm) as exporter:
            await service.set_nodes([NodeConfig("head", "http://127.0.0.1:9/metrics", slurm_url=exporter.url)])
            await until(lambda: service.latest is not None and not service.fetching)
        await service.refresh()
        assert not view.banner.isHidden()
        assert view.banner.text().startswith("Stale: showing the data Slurm collected at ")
        assert f"Latest update failed: cannot connect to the Slurm exporter at {exporter.url}" in view.banner.text()
        assert view.nodes_table.model().rowCount() == 3 and view.jobs_table.model().rowCount() > 0

    run_tab(qtbot, scenario)
