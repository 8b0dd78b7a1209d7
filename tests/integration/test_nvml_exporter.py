"""``gpuwatch-pod gpu-exporter --backend nvml`` as a subprocess over a fake pynvml, read by the desktop's own reader."""

from __future__ import annotations

import ctypes.util
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from gpuwatch_desktop.core.snapshot import GpuProcess, NodeSnapshot
from gpuwatch_desktop.sources.dcgm import DcgmReader
from gpuwatch_pod import families as f

FAKE_DIR = Path(__file__).parents[1] / "fake_nvml"
TOKEN = "pod-token-for-the-nvml-test"
MIB = 1024 * 1024
GPU0 = {"uuid": "GPU-aaaaaaaa-0000-0000-0000-000000000000", "bus_id": "00000000:18:00.0", "minor": 0,
        "util_gpu": 93, "memory_used": 20480 * MIB, "power_mw": 612500, "temperature": 66,
        "compute_processes": [[4242, 20480 * MIB]]}
GPU1 = {"uuid": "GPU-bbbbbbbb-1111-1111-1111-111111111111", "bus_id": "00000000:2A:00.0", "minor": 1,
        "memory_temperature": None, "errors": {"nvmlDeviceGetRemappedRows": 3}}  # 3: NVML_ERROR_NOT_SUPPORTED


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Replace the fake's config atomically; the fake re-reads it on its next call."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    os.replace(tmp, path)


def read_line(stream: IO[bytes] | None, timeout: float = 20.0) -> str:
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no line from the exporter in time"
    return stream.readline().decode()


class Exporter:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, config: Path) -> None:
        self.proc, self.url, self.config = proc, url, config
        self.reader = DcgmReader()

    def snapshot(self) -> NodeSnapshot:
        resp = httpx.get(self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert resp.status_code == 200
        return self.reader.read("pod-1", resp.text, time.time())


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    config = tmp_path / "nvml.json"
    write_config(config, {"driver_version": "570.124.06", "gpus": [GPU0, GPU1],
                          "process_names": {"4242": "/usr/bin/python3"}})
    env = {**os.environ, "FAKE_NVML_CONFIG": str(config), "GPUWATCH_POD_TOKEN": TOKEN,
           "PYTHONPATH": os.pathsep.join([str(FAKE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpuwatch_pod", "gpu-exporter", "--backend", "nvml",
         "--host", "127.0.0.1", "--port", "0", "--hostname", "pod-1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        while not (match := re.search(r"serving (\S+) \((.*)\)", read_line(proc.stderr))):
            pass
        assert match.group(2) == "nvml, 2 GPUs, driver 570.124.06"
        yield Exporter(proc, match.group(1), config)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_the_desktop_reads_what_the_nvml_exporter_serves(exporter: Exporter) -> None:
    refused = httpx.get(exporter.url, timeout=5)
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    snap = exporter.snapshot()
    assert (snap.hostname, [g.index for g in snap.gpus], snap.warnings) == ("pod-1", [0, 1], ())
    gpu0, gpu1 = snap.gpus
    assert (gpu0.uuid, gpu0.pci_bus_id, gpu0.model) == (GPU0["uuid"], "00000000:18:00.0", "NVIDIA H100 80GB HBM3")
    assert {k: gpu0.values[k] for k in ("gpu_util", "fb_used", "gpu_temp", "xid", "ecc_dbe")} == {
        "gpu_util": 93, "fb_used": 20480, "gpu_temp": 66, "xid": 0, "ecc_dbe": 0,
    }
    assert gpu0.values["power"] == pytest.approx(612.5)
    assert "mem_temp" in gpu0.values and "mem_temp" not in gpu1.values  # not supported on GPU 1: no value
    assert snap.processes == (GpuProcess(0, 4242, "python3", 20480.0),)


def test_a_gpu_lost_while_serving_and_an_xid(exporter: Exporter) -> None:
    exporter.snapshot()
    write_config(exporter.config, {"driver_version": "570.124.06", "gpus": [GPU0, {**GPU1, "lost": True}],
                                   "process_names": {"4242": "/usr/bin/python3"}, "xid_events": [[0, 79]]})
    for _ in range(2):
        snap = exporter.snapshot()
        assert [g.index for g in snap.gpus] == [0] and snap.gpus[0].values["xid"] == 79
    resp = httpx.get(exporter.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert f"{f.UNCORRECTABLE_REMAPPED_ROWS}{{gpu=\"0\"" in resp.text
    assert 'gpu="1"' not in resp.text
    exporter.proc.send_signal(signal.SIGTERM)
    _, err = exporter.proc.communicate(timeout=10)
    assert exporter.proc.returncode == 0
    log = err.decode()
    assert log.count(f"GPU 1 ({GPU1['uuid']}) is lost") == 1
    assert log.count("GPU 1: memory temperature is not supported here") == 1  # once, not once per scrape
    assert log.count("GPU 1: remapped rows is not supported here") == 1


def run_nvml_exporter(*python: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *python], capture_output=True, timeout=30, check=False,
        env={k: v for k, v in os.environ.items() if k != "FAKE_NVML_CONFIG"},
    )


def test_without_nvidia_ml_py_the_exporter_says_what_to_install() -> None:
    proc = run_nvml_exporter(
        "-c", "import sys; sys.modules['pynvml'] = None; from gpuwatch_pod.__main__ import main; "
              "sys.exit(main(['gpu-exporter', '--backend', 'nvml', '--port', '0']))",
    )
    assert proc.returncode == 2
    assert b"gpuwatch-pod: error: the nvml backend needs nvidia-ml-py: pip install" in proc.stderr


def test_without_an_nvidia_driver_the_real_pynvml_gives_a_clear_error() -> None:
    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("this machine has an NVIDIA driver")
    proc = run_nvml_exporter("-m", "gpuwatch_pod", "gpu-exporter", "--backend", "nvml", "--port", "0")
    assert proc.returncode == 2
    assert b"the NVML library (libnvidia-ml.so.1) was not found" in proc.stderr
    assert b"Traceback" not in proc.stderr
