"""The `gpuwatch` command as a user runs it: snapshot, version, and the demo window with a screenshot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtGui import QImage

from gpuwatch_desktop import __version__
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_pod.demo_cluster import DemoCluster

ROOT = Path(__file__).resolve().parents[2]


def _gpuwatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "gpuwatch_desktop", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_snapshot_prints_every_gpu_as_a_table(demo_cluster: DemoCluster) -> None:
    urls = [url for _, url in demo_cluster.nodes[:2]]
    result = _gpuwatch("snapshot", *urls)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{urls[0]}: host node-1, 4 GPUs")
    assert "GPU utilisation" in lines[1] and "NVIDIA H100 80GB HBM3" in lines[2]
    assert sum("NVIDIA H100" in line for line in lines) == 8


def test_snapshot_json_and_a_failed_node_exit_1(demo_cluster: DemoCluster, refused_url: str) -> None:
    demo_cluster.set_scenario("node-3", "garbage")
    urls = [url for _, url in demo_cluster.nodes]
    result = _gpuwatch("snapshot", "--json", "--timeout", "2", *urls, refused_url)
    assert result.returncode == 1
    nodes = json.loads(result.stdout)["nodes"]
    assert [n["ok"] for n in nodes] == [True, True, False, False]
    assert len(nodes[0]["gpus"]) == 4 and 0 <= nodes[0]["gpus"][0]["metrics"]["gpu_util"] <= 100
    assert nodes[0]["processes"] or nodes[1]["processes"]
    assert nodes[2]["error"].startswith("bad payload: line")
    assert f"{refused_url}: cannot connect" in result.stderr
    assert f"{urls[2]}: bad payload" in result.stderr


def test_version() -> None:
    result = _gpuwatch("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"gpuwatch {__version__}"


def test_bad_option_is_refused() -> None:
    result = _gpuwatch("--screenshot", "x.png")
    assert result.returncode == 2 and "--exit-after" in result.stderr


def test_demo_screenshot_shows_live_data_and_stores_history(tmp_path: Path) -> None:
    shot, data = tmp_path / "out.png", tmp_path / "data"
    result = _gpuwatch("--demo", "--demo-nodes", "3", "--demo-scenario", "garbage@node-3",
                       "--screenshot", str(shot), "--exit-after", "5", "--data-dir", str(data),
                       "--config", str(tmp_path / "settings.json"), timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 600
    colors = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colors) > 50, "the window has content, not a blank fill"
    with HistoryStore(data / "history.sqlite3") as store:
        nodes = {gpu.node for gpu in store.known_gpus()}
    assert nodes == {"node-1", "node-2"}, "the garbled node stores nothing, the others are stored"


def test_without_a_display_the_app_says_so_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "gpuwatch_desktop", "--demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "no display" in result.stderr and "xvfb-run" in result.stderr


def test_sigterm_shuts_down_cleanly_and_stops_the_demo_exporters(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "gpuwatch_desktop", "--demo", "--data-dir", str(tmp_path / "d"),
               "--config", str(tmp_path / "s.json")]
    database = tmp_path / "d" / "history.sqlite3"
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True) as process:
        deadline = time.monotonic() + 30
        while not database.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # a few poll rounds
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert children, "the demo exporters run as a child process"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr[-2000:]
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "the exporters stopped with the app"
    with HistoryStore(database) as store:
        assert {gpu.node for gpu in store.known_gpus()} == {"node-1", "node-2"}


def test_snapshot_without_a_scheme_suggests_http() -> None:
    result = _gpuwatch("snapshot", "127.0.0.1:9400/metrics")
    assert result.returncode == 2
    assert "'127.0.0.1:9400/metrics' is not an http(s) URL; try http://127.0.0.1:9400/metrics" in result.stderr
