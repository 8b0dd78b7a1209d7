"""CPU cost of the simulated pod cluster: 64 nodes x 8 GPUs in one process, scraped every 2 s.

Starts ``python -m gpuwatch_pod demo --nodes N`` as the desktop does, then every 2 s scrapes all
nodes at once (httpx.AsyncClient, keep-alive, like the poller) and reads the server process's
CPU time from /proc (Linux). Baseline: the 2 s scrape interval, i.e. one core's time budget per
round. The last line is ``pod demo CPU per round: N.N ms (N.N % of the 2 s interval)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import httpx

INTERVAL_S = 2.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def scrape_round(client: httpx.AsyncClient, urls: list[str]) -> float:
    started = time.perf_counter()
    responses = await asyncio.gather(*(client.get(u) for u in urls))
    assert all(r.status_code == 200 and r.content.startswith(b"# HELP") for r in responses)
    return time.perf_counter() - started


async def measure(pid: int, urls: list[str], rounds: int) -> tuple[float, float, float]:
    """(CPU s per round incl. idle time between rounds, CPU s of the scrape burst, worst wall s)."""
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        await scrape_round(client, urls)  # warm: connections open, caches built
        start_cpu, burst_cpu, worst = cpu_seconds(pid), 0.0, 0.0
        start = time.monotonic()
        for k in range(rounds):
            before = cpu_seconds(pid)
            worst = max(worst, await scrape_round(client, urls))
            await asyncio.sleep(0.05)  # let the server finish its bookkeeping
            burst_cpu += cpu_seconds(pid) - before
            await asyncio.sleep(max(0.0, start + (k + 1) * INTERVAL_S - time.monotonic()))
        return (cpu_seconds(pid) - start_cpu) / rounds, burst_cpu / rounds, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpuwatch_pod", "demo", "--nodes", str(args.nodes), "--gpus", str(args.gpus)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        urls = [n["url"] for n in json.loads(proc.stdout.readline())["nodes"]]
        print(f"{len(urls)} nodes x {args.gpus} GPUs up in {time.perf_counter() - started:.2f} s")
        per_round, burst, worst = asyncio.run(measure(proc.pid, urls, args.rounds))
        print(f"server RSS {rss_mib(proc.pid):.0f} MiB; slowest round {worst * 1000:.0f} ms wall")
        print(f"server CPU in the scrape burst: {burst * 1000:.1f} ms per round")
        proc.stdin.close()
        exit_started = time.perf_counter()
        code = proc.wait(timeout=30)
        print(f"exit code {code} after {time.perf_counter() - exit_started:.2f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    share = per_round / INTERVAL_S * 100
    print(f"pod demo CPU per round: {per_round * 1000:.1f} ms ({share:.1f} % of the 2 s interval)")


if __name__ == "__main__":
    main()
