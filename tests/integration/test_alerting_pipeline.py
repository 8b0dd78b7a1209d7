"""Fault scenario → exporter → poller → alert engine → events in SQLite → Alertmanager webhook, all real."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gpuwatch_desktop.alerts.notify.channels import WebhookChannel
from gpuwatch_desktop.alerts.notify.dispatcher import NotificationDispatcher
from gpuwatch_desktop.alerts.rules_file import default_rules
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.alerts import AlertState
from gpuwatch_desktop.services.alerts_service import AlertService
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.poller import Poller
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_pod.demo_cluster import start_demo_cluster
from tests.integration.notify_servers import WebhookReceiver


def test_xid_and_a_garbled_node_end_as_stored_events_and_one_webhook_message(tmp_path: Path) -> None:
    with start_demo_cluster(nodes=3, gpus_per_node=4, seed=5,
                            scenarios={"node-2": "xid"}) as cluster, WebhookReceiver() as receiver:
        nodes = [NodeConfig(name, url) for name, url in cluster.nodes]
        cluster.set_scenario("node-3", "garbage")
        state = ClusterState()

        async def scenario() -> None:
            history = HistoryWorker(lambda: HistoryStore(tmp_path / "h.sqlite3"))
            await history.open()
            channel = WebhookChannel("ops", receiver.url, "alertmanager", timeout_s=2)
            dispatcher = NotificationDispatcher([channel], group_wait_s=0.2, still_firing=lambda: state.alerts)
            service = AlertService(state, history, dispatcher=dispatcher, defaults=default_rules)
            await service.start()
            notify_task = asyncio.create_task(dispatcher.run(), name="notifications")
            poller = Poller(state, history.write_round, interval_s=0.5, timeout_s=0.4)
            await poller.set_nodes(nodes)
            for _ in range(3):
                await poller.poll_round()
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # group_wait, then the POST
            events = await service.events(since=time.time() - 60)
            firing = [e for e in events if e.state is AlertState.FIRING]
            assert [(e.rule_id, e.node, e.gpu, e.value) for e in firing] == [("xid-error", "node-2", 3, 48.0)]
            stored = await history.run(lambda s: s.alerts().active())
            assert [(a.key.node, a.key.gpu, a.state) for a in stored if a.key.rule_id == "xid-error"] == [
                ("node-2", 3, AlertState.FIRING)]
            await service.aclose()
            await dispatcher.aclose()
            notify_task.cancel()
            await asyncio.gather(notify_task, return_exceptions=True)
            await poller.aclose()
            await history.close()

        asyncio.run(scenario())
        [post] = receiver.wait_for(1)
    body = post.body
    assert body["version"] == "4" and body["status"] == "firing"
    [alert] = body["alerts"]
    assert alert["labels"]["alertname"] == "XID error" and alert["labels"]["node"] == "node-2"
    assert alert["labels"]["severity"] == "critical" and alert["annotations"]["summary"] == (
        "GPU 3 on node-2 reported XID 48")
    assert state.view("node-3").status.reason.startswith("bad payload")  # type: ignore[union-attr]
