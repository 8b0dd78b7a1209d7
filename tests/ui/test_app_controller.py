"""The composition root end to end: real exporters, real database, alerting, tray mute, ordered shutdown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

from gpuwatch_desktop.cli import AppOptions
from gpuwatch_desktop.core.snapshot import NodeState
from gpuwatch_desktop.ui.app import AppController
from gpuwatch_pod.demo_cluster import start_demo_cluster


def _options(tmp_path: Path) -> AppOptions:
    return AppOptions(demo=False, demo_nodes=2, demo_scenarios=(), config_path=tmp_path / "settings.json",
                      data_dir=tmp_path / "data", screenshot=None, exit_after_s=None)


def test_app_watches_configured_nodes_alerts_and_mutes_from_the_tray(qapp: QApplication, tmp_path: Path) -> None:
    with start_demo_cluster(nodes=2, gpus_per_node=2, seed=3) as cluster:
        nodes = [{"name": name, "url": url} for name, url in cluster.nodes]
        (tmp_path / "settings.json").write_text(json.dumps({"nodes": nodes, "poll_interval_s": 0.5,
                                                            "scrape_timeout_s": 0.4}))
        controller = AppController(_options(tmp_path), qapp)
        loop = qasync.QEventLoop(qapp)

        async def scenario() -> None:
            await controller.start()
            for _ in range(60):
                if all(v.status.state is NodeState.UP for v in controller.state.views()):
                    break
                await asyncio.sleep(0.1)
            assert [v.status.state for v in controller.state.views()] == [NodeState.UP, NodeState.UP]
            assert controller.alerts is not None and len(controller.alerts.rules) >= 6, "default rules seeded"
            assert controller.notifier is not None and controller.notifier.tray is None  # offscreen: banner instead
            controller.notifier.muteRequested.emit()
            for _ in range(50):
                silences = await controller.alerts.silences()
                if silences:
                    break
                await asyncio.sleep(0.05)
            assert len(silences) == 1 and silences[0].rule_id is None and silences[0].node is None
            assert 3590 <= silences[0].ends_at - silences[0].starts_at <= 3600
            await controller.shutdown()

        with loop:
            loop.run_until_complete(scenario())
    assert (tmp_path / "data" / "history.sqlite3").exists()
    assert all(task.done() for task in controller.tasks.values())
