"""The GPU exporter and the demo cluster over real loopback HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpuwatch_pod import families as f
from gpuwatch_pod.backend import GpuInfo, GpuReading
from gpuwatch_pod.demo_cluster import DemoCluster, start_demo_cluster
from gpuwatch_pod.exporter import GpuExporter
from gpuwatch_pod.sim import SimBackend


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        fam.name: [(s.labels, s.value) for s in fam.samples] for fam in text_string_to_metric_families(text)
    }


def base(url: str) -> str:
    return url.removesuffix("/metrics")


@pytest.fixture
def cluster() -> Iterator[DemoCluster]:
    with start_demo_cluster(nodes=2, gpus_per_node=8, seed=1) as demo:
        yield demo


def test_metrics_and_health(cluster: DemoCluster) -> None:
    (name, url), _ = cluster.nodes
    assert name == "node-1" and url.startswith("http://127.0.0.1:")
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    parsed = families(resp.text)
    assert set(parsed) >= f.FAMILY_NAMES
    assert {labels["Hostname"] for labels, _ in parsed[f.GPU_TEMP]} == {"node-1"}
    health = httpx.get(base(url) + "/health", timeout=5)
    assert (health.status_code, health.text) == (200, "ok\n")
    assert httpx.get(base(url) + "/nope", timeout=5).status_code == 404


def test_node2_exercises_the_quirks(cluster: DemoCluster) -> None:
    parsed = families(httpx.get(cluster.nodes[1][1], timeout=5).text)
    assert {labels["hostname"] for labels, _ in parsed[f.GPU_UTIL]} == {"node-2"}
    assert {value for _, value in parsed[f.MEMORY_TEMP]} == {f.BLANK_SENTINEL}


def test_scenario_switch_over_http(cluster: DemoCluster) -> None:
    url = base(cluster.nodes[0][1])
    with httpx.Client(timeout=5) as client:
        assert client.post(url + "/-/scenario", content=b"xid").text == "scenario xid\n"
        assert client.get(url + "/-/scenario").text == "xid\n"
        xids = {labels["gpu"]: v for labels, v in families(client.get(url + "/metrics").text)[f.XID_ERRORS]}
        assert xids["7"] == 48 and all(v == 0 for gpu, v in xids.items() if gpu != "7")
        refused = client.post(url + "/-/scenario", content=b"melt")
        assert refused.status_code == 400 and "known: healthy, overheat" in refused.text
        assert client.get(url + "/-/scenario").text == "xid\n"
    assert cluster.scenario("node-1") == "xid" and cluster.scenario("node-2") == "healthy"


def test_node_down_times_out_then_recovers(cluster: DemoCluster) -> None:
    url = cluster.nodes[0][1]
    cluster.set_scenario("node-1", "node-down")
    for path in (url, base(url) + "/health"):
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(path, timeout=0.5)
    assert httpx.post(base(url) + "/-/scenario", content=b"healthy", timeout=5).status_code == 200
    assert httpx.get(url, timeout=5).status_code == 200
    assert httpx.get(cluster.nodes[1][1], timeout=5).status_code == 200  # other nodes never stopped


def test_garbage_answers_200_with_invalid_text(cluster: DemoCluster) -> None:
    cluster.set_scenario("node-2", "garbage")
    resp = httpx.get(cluster.nodes[1][1], timeout=5)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        families(resp.content.decode("utf-8", "replace"))


def test_concurrent_scrapes_all_parse(cluster: DemoCluster) -> None:
    urls = [url for _, url in cluster.nodes] * 16
    with httpx.Client(timeout=5) as client, ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda u: client.get(u).text, urls))
    assert all(len(families(t)[f.GPU_UTIL]) == 8 for t in texts)


def test_close_ends_threads_even_with_open_and_hung_connections() -> None:
    threads_before = threading.active_count()
    demo = start_demo_cluster(nodes=2, gpus_per_node=2)
    keep_alive = httpx.Client(timeout=5)
    keep_alive.get(demo.nodes[0][1])  # leaves an idle keep-alive connection open
    demo.set_scenario("node-2", "node-down")
    errors: list[Exception] = []

    def scrape_hung_node() -> None:
        try:
            httpx.get(demo.nodes[1][1], timeout=5)
        except httpx.HTTPError as exc:
            errors.append(exc)

    hung = threading.Thread(target=scrape_hung_node)
    hung.start()
    time.sleep(0.3)
    started = time.monotonic()
    demo.close()
    assert time.monotonic() - started < 2.0
    hung.join()
    keep_alive.close()
    assert [type(e) for e in errors] == [httpx.RemoteProtocolError]  # dropped, never answered
    assert demo.nodes == []
    assert threading.active_count() == threads_before


def test_close_frees_the_port() -> None:
    sim = SimBackend(2, hostname="solo")
    exporter = GpuExporter(sim, port=0).start()
    port = exporter.port
    assert httpx.get(exporter.url, timeout=5).status_code == 200
    exporter.close()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


class FixedBackend:
    """A stand-in for real hardware: one GPU that does not report its memory temperature."""

    hostname = "fixed"
    driver_version = "535.0"

    def devices(self) -> list[GpuInfo]:
        return [GpuInfo(0, "GPU-fixed", "NVIDIA A100-SXM4-40GB", "00000000:07:00.0", "nvidia0")]

    def read(self) -> list[GpuReading]:
        return [GpuReading(0, {f.GPU_UTIL: 42.0, f.GPU_TEMP: 55.0})]

    def close(self) -> None:
        pass


def test_backend_without_scenarios_has_no_switch_and_omits_missing_families() -> None:
    exporter = GpuExporter(FixedBackend(), port=0).start()
    try:
        parsed = families(httpx.get(exporter.url, timeout=5).text)
        assert set(parsed) == {f.GPU_UTIL, f.GPU_TEMP}
        switch = httpx.post(base(exporter.url) + "/-/scenario", content=b"idle", timeout=5)
        assert switch.status_code == 404 and "sim backend" in switch.text
        with pytest.raises(ValueError, match="sim backend"):
            exporter.set_scenario("idle")
    finally:
        exporter.close()


def test_bad_cluster_arguments_start_nothing() -> None:
    threads_before = threading.active_count()
    with pytest.raises(ValueError, match="unknown scenario 'melt'"):
        start_demo_cluster(nodes=2, scenarios={"node-2": "melt"})
    with pytest.raises(ValueError, match="unknown node 'node-9'"):
        start_demo_cluster(nodes=2, scenarios={"node-9": "idle"})
    unknown = pytest.raises(ValueError, match="unknown node")
    with start_demo_cluster(nodes=1, gpus_per_node=1) as demo, unknown:
        demo.set_scenario("node-2", "idle")
    assert threading.active_count() == threads_before


def test_token_required_on_every_path_when_set() -> None:
    backend = SimBackend(1, seed=0, hostname="tok")
    exporter = GpuExporter(backend, "127.0.0.1", 0, token="s3cret").start()
    try:
        base = exporter.base_url
        for method, path in (("GET", "/metrics"), ("GET", "/health"), ("GET", "/-/scenario"), ("POST", "/-/scenario")):
            denied = httpx.request(method, base + path, content=b"overheat")
            assert denied.status_code == 401, path
            assert denied.headers["WWW-Authenticate"] == "Bearer"
            assert denied.text == "unauthorized\n"
            wrong = httpx.request(method, base + path, headers={"Authorization": "Bearer s3cre"})
            assert wrong.status_code == 401, path
        assert backend.scenario == "healthy"  # the refused POST changed nothing
        ok = httpx.get(exporter.url, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "DCGM_FI_DEV_GPU_UTIL" in ok.text
    finally:
        exporter.close()
        backend.close()
