"""Simulated pod logs for the demo: vLLM start-up and serving, slurmctld, slurmd and the exporter.

One background thread appends realistic lines to files in a directory, the way the real services write
them on a pod, so the real LogServer serves and follows them. The head's vLLM log loads its checkpoint
shards over about 20 s and then reports ready; a file that grows past ``rotate_bytes`` is rotated
(renamed to ``.1``) like logrotate would, so followers exercise rotation too.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

MODEL = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
SHARDS = 13
TICK_S = 0.5
ROTATE_BYTES = 2 * 1024 * 1024
USERS = ("alice", "bob", "chen", "dana")


def _stamp_vllm() -> str:
    return time.strftime("%m-%d %H:%M:%S")


def _stamp_slurm() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def vllm_startup_lines(port: int = 8000) -> Iterator[list[str]]:
    """vLLM 0.12's start-up, one list of lines per tick: args, shard loading with progress, KV cache, routes."""
    info = lambda where, text: f"INFO {_stamp_vllm()} [{where}] {text}"  # noqa: E731
    yield [info("api_server.py:1896", "vLLM API server version 0.12.0"),
           info("utils.py:328", f"non-default args: {{'model': '{MODEL}', 'max_model_len': 32768, "
                "'enable_auto_tool_choice': True, 'tool_call_parser': 'hermes', 'api_key': ['***']}"),
           info("model.py:547", "Resolved architecture: NemotronHForCausalLM")]
    yield [info("gpu_model_runner.py:2338", f"Starting to load model {MODEL}...")]
    for done in range(SHARDS + 1):
        pct = done * 100 // SHARDS
        yield [f"Loading safetensors checkpoint shards: {pct:3d}% Completed | {done}/{SHARDS} "
               f"[00:{done * 2:02d}<00:{(SHARDS - done) * 2:02d},  1.21s/it]"]
        yield []
    yield [info("default_loader.py:267", "Loading weights took 31.46 seconds"),
           info("gpu_model_runner.py:2653", "Model loading took 58.92 GiB and 32.10 seconds")]
    yield [info("gpu_worker.py:298", "Available KV cache memory: 58.30 GiB"),
           info("kv_cache_utils.py:1087", "GPU KV cache size: 1,273,424 tokens")]
    yield [info("core.py:210", "init engine (profile, create kv cache, warmup model) took 41.07 seconds")]
    yield [info("api_server.py:1912", f"Starting vLLM API server 0 on http://0.0.0.0:{port}"),
           info("launcher.py:34", "Available routes are:"),
           info("launcher.py:42", "Route: /v1/chat/completions, Methods: POST"),
           info("launcher.py:42", "Route: /v1/models, Methods: GET"),
           "INFO:     Started server process [1]",
           "INFO:     Waiting for application startup.",
           "INFO:     Application startup complete."]


def vllm_serving_lines(rng: random.Random) -> list[str]:
    """A throughput report and some request lines, as a serving vLLM prints them."""
    running = rng.randint(0, 6)
    prompt, gen = rng.uniform(200, 2400) * (running > 0), rng.uniform(80, 600) * (running > 0)
    lines = [f"INFO {_stamp_vllm()} [loggers.py:123] Engine 000: Avg prompt throughput: {prompt:.1f} tokens/s, "
             f"Avg generation throughput: {gen:.1f} tokens/s, Running: {running} reqs, Waiting: 0 reqs, "
             f"GPU KV cache usage: {rng.uniform(0, 30):.1f}%, Prefix cache hit rate: {rng.uniform(20, 80):.1f}%"]
    lines += [f'INFO:     10.0.0.{rng.randint(2, 40)}:{rng.randint(30000, 60000)} - "POST /v1/chat/completions '
              'HTTP/1.1" 200 OK' for _ in range(running)]
    return lines


def slurmctld_lines(rng: random.Random, nodes: list[str], job_id: int) -> list[str]:
    node = rng.choice(nodes)
    user = rng.choice(USERS)
    stamp = _stamp_slurm()
    return [f"[{stamp}] _slurm_rpc_submit_batch_job: JobId={job_id} InitPrio=4294901{job_id % 1000:03d} "
            f"usec={rng.randint(200, 900)}",
            f"[{stamp}] sched: Allocate JobId={job_id} NodeList={node} #CPUs={rng.choice((8, 16, 32))} Partition=gpu",
            f"[{stamp}] _job_complete: JobId={job_id - 3} WEXITSTATUS 0 user={user}",
            f"[{stamp}] _job_complete: JobId={job_id - 3} done"]


def slurmd_lines(rng: random.Random, job_id: int) -> list[str]:
    stamp = _stamp_slurm()
    return [f"[{stamp}] Launching batch job {job_id} for UID {rng.randint(1000, 1004)}",
            f"[{stamp}] [{job_id}.batch] task/none: task_p_pre_launch: Using sched_affinity for tasks",
            f"[{stamp}] [{job_id - 3}.batch] done with job"]


class SimLogs:
    """Writes the simulated logs of every node into ``directory``; ``paths(node)`` says which files."""

    def __init__(self, directory: Path, nodes: list[str], head: str, seed: int = 0,
                 rotate_bytes: int = ROTATE_BYTES, tick_s: float = TICK_S) -> None:
        self._dir = directory
        self._nodes, self._head = nodes, head
        self._rng = random.Random(seed)
        self._rotate_bytes, self._tick_s = rotate_bytes, tick_s
        self._vllm = vllm_startup_lines()
        self._job_id = 100
        self._ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._start_lines()

    def paths(self, node: str) -> dict[str, Path]:
        """Log name -> file for one node: vllm and slurmctld on the head, slurmd and gpu-exporter everywhere."""
        names = (["vllm", "slurmctld"] if node == self._head else []) + ["slurmd", "gpu-exporter"]
        return {name: self._dir / f"{node}-{name}.log" for name in names}

    def start(self) -> SimLogs:
        self._thread = threading.Thread(target=self._run, name="sim-logs", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _start_lines(self) -> None:
        for node in self._nodes:
            stamp = _stamp_slurm()
            self._append(node, "slurmd", [f"[{stamp}] slurmd version 22.05.8 started",
                                          f"[{stamp}] CPUs=64 Boards=1 Sockets=2 Cores=16 Threads=2 Memory=515000"])
            self._append(node, "gpu-exporter", [f"serving http://0.0.0.0:9400/metrics (nvml, 8 GPUs) on {node}"])
        self._append(self._head, "slurmctld", [f"[{_stamp_slurm()}] slurmctld version 22.05.8 started on cluster "
                                               "gpuwatch", f"[{_stamp_slurm()}] Running as primary controller"])
        self._append(self._head, "vllm", next(self._vllm))

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.tick()

    def tick(self) -> None:
        """One step of every log (called by the thread; tests may call it directly)."""
        self._ticks += 1
        lines = next(self._vllm, None)
        if lines is None:
            lines = vllm_serving_lines(self._rng) if self._ticks % 10 == 0 else []
        self._append(self._head, "vllm", lines)
        if self._ticks % 8 == 0:
            self._job_id += 1
            self._append(self._head, "slurmctld", slurmctld_lines(self._rng, self._nodes, self._job_id))
            self._append(self._rng.choice(self._nodes), "slurmd", slurmd_lines(self._rng, self._job_id))

    def _append(self, node: str, name: str, lines: list[str]) -> None:
        path = self.paths(node).get(name)
        if path is None or not lines:
            return
        if path.exists() and path.stat().st_size > self._rotate_bytes:
            path.replace(path.with_name(path.name + ".1"))
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))

