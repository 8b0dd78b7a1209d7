"""``gpuwatch snapshot URL...``: scrape each exporter once and print its GPUs as a table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlsplit

from gpuwatch_desktop.cli import snapshot_parser
from gpuwatch_desktop.core.errors import ScrapeError
from gpuwatch_desktop.core.metrics import GPU_METRICS, metric
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.sources.scrape import DcgmSource

TABLE_METRICS = ("gpu_util", "fb_used", "gpu_temp", "power", "sm_clock", "xid")


def node_name_for(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


async def scrape_all(urls: Sequence[str], timeout_s: float) -> list[tuple[str, NodeSnapshot | ScrapeError]]:
    sources = [DcgmSource(node_name_for(u), u, timeout_s) for u in urls]

    async def one(source: DcgmSource) -> NodeSnapshot | ScrapeError:
        try:
            return await source.poll()
        except ScrapeError as exc:
            return exc
        finally:
            await source.aclose()

    results = await asyncio.gather(*(one(s) for s in sources))
    return list(zip(urls, results, strict=True))


def _cell(gpu: GpuSnapshot, key: str) -> str:
    value = gpu.value(key)
    if value is None:
        return "-"
    spec = metric(key)
    if key == "fb_used":
        free = gpu.value("fb_free")
        total = f" / {value + free:.0f}" if free is not None else ""
        return f"{value:.0f}{total} MiB"
    if key == "xid":
        return "-" if value == 0 else f"{value:.0f}"
    digits = 1 if spec.scale >= 10 else 0
    return f"{value:.{digits}f} {spec.unit}".rstrip()


def format_table(results: Sequence[tuple[str, NodeSnapshot | ScrapeError]]) -> str:
    headers = ["GPU", "Model", *(metric(k).label for k in TABLE_METRICS)]
    lines: list[str] = []
    for url, result in results:
        if isinstance(result, ScrapeError):
            lines.append(f"{url}: FAILED: {result.reason}")
            continue
        lines.append(f"{url}: host {result.hostname}, {len(result.gpus)} GPUs, {result.sample_count} samples")
        rows = [[str(g.index), g.model, *(_cell(g, k) for k in TABLE_METRICS)] for g in result.gpus]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)


def to_json(results: Sequence[tuple[str, NodeSnapshot | ScrapeError]]) -> str:
    nodes = []
    for url, result in results:
        if isinstance(result, ScrapeError):
            nodes.append({"url": url, "ok": False, "error": result.reason})
            continue
        gpus = [
            {"index": g.index, "uuid": g.uuid, "model": g.model, "pci_bus_id": g.pci_bus_id,
             "metrics": {m.key: g.value(m.key) for m in GPU_METRICS if g.value(m.key) is not None}}
            for g in result.gpus
        ]
        processes = [
            {"gpu": p.gpu_index, "pid": p.pid, "name": p.name, "used_mib": p.used_mib} for p in result.processes
        ]
        nodes.append({"url": url, "ok": True, "hostname": result.hostname, "time": result.time,
                      "gpus": gpus, "processes": processes, "warnings": list(result.warnings)})
    return json.dumps({"nodes": nodes}, indent=2)


def run_snapshot(argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = snapshot_parser().parse_args(argv)
    bad = [u for u in args.urls if urlsplit(u).scheme not in ("http", "https")]
    if bad:
        for url in bad:
            print(f"gpuwatch snapshot: {url!r} is not an http(s) URL; try http://{url}", file=err)
        return 2
    results = asyncio.run(scrape_all(args.urls, args.timeout))
    print(to_json(results) if args.json else format_table(results), file=out)
    failed = [(url, r) for url, r in results if isinstance(r, ScrapeError)]
    for url, error in failed:
        print(f"gpuwatch snapshot: {url}: {error.reason}", file=err)
    return 1 if failed else 0
