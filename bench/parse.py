"""Parse speed of our Prometheus text parser against prometheus_client on 8-GPU dcgm payloads.

Baseline: ``prometheus_client.parser.text_string_to_metric_families``. The headline figure parses a
sequence of successive scrapes of one simulated 8-GPU node (values change from scrape to scrape as
they do on a real node), with one warm ``PromTextParser`` as the poller uses it; parsing the same
text over and over would flatter our parser's per-line cache. Results are checked equal to the
baseline's first. The last line is ``parse speedup vs prometheus_client: N.Nx``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from gpuwatch_desktop.sources.promtext import ParsedPayload, PromTextParser  # noqa: E402
from gpuwatch_pod.render import MetricsRenderer  # noqa: E402
from gpuwatch_pod.sim import SimBackend  # noqa: E402

SCRAPES = 60  # two minutes of a node scraped every 2 s

FIXTURE = ROOT / "tests" / "data" / "dcgm_h100_8gpu.txt"
Row = tuple[str, tuple[tuple[str, str], ...], float | str, float | None]


def ours(payload: ParsedPayload) -> list[Row]:
    return [
        (s.name, tuple(sorted(s.labels.items())), _value(s.value),
         None if s.timestamp_ms is None else s.timestamp_ms / 1000)
        for s in payload.samples
    ]


def oracle(text: str, types: dict[str, str]) -> list[Row]:
    """prometheus_client's samples, undoing its rename of counters declared without ``_total``."""
    rows: list[Row] = []
    for family in text_string_to_metric_families(text):
        renamed = family.type == "counter" and types.get(family.name) == "counter"
        for s in family.samples:
            name = s.name[: -len("_total")] if renamed and s.name == family.name + "_total" else s.name
            stamp = None if s.timestamp is None else float(s.timestamp)
            rows.append((name, tuple(sorted(s.labels.items())), _value(float(s.value)), stamp))
    return rows


def _value(value: float) -> float | str:
    return "NaN" if value != value else value


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def successive_scrapes(count: int) -> list[str]:
    clock = [1_700_000_000.0]
    sim = SimBackend(8, seed=1, hostname="node-1", clock=lambda: clock[0])
    renderer = MetricsRenderer(sim.devices(), sim.hostname, sim.driver_version)
    texts = []
    for _ in range(count):
        clock[0] += 2.0
        texts.append(renderer.render(sim.read()).decode())
    return texts


def sequence_speedup(texts: list[str]) -> tuple[float, float, int]:
    """(ours samples/s, baseline samples/s, samples) over the scrapes in order, best of 3 passes."""
    samples = sum(len(PromTextParser().parse(t).samples) for t in texts)
    for text in texts[:3]:
        payload = PromTextParser().parse(text)
        if ours(payload) != oracle(text, payload.types):
            raise SystemExit("error: our samples differ from prometheus_client's on a simulated scrape")
    baseline = best_of(3, lambda: [list(text_string_to_metric_families(t)) for t in texts])

    def ours_in_order() -> None:
        parser = PromTextParser()
        for t in texts:
            parser.parse(t)

    mine = best_of(3, ours_in_order)
    return samples / mine, samples / baseline, samples


def main() -> int:
    text = FIXTURE.read_text()
    parser = PromTextParser()
    payload = parser.parse(text)
    if ours(payload) != oracle(text, payload.types):
        print("error: our samples differ from prometheus_client's on", FIXTURE.name)
        return 1
    count = len(payload.samples)
    baseline = best_of(7, lambda: list(text_string_to_metric_families(text)))
    cold = best_of(7, lambda: PromTextParser().parse(text))
    warm = best_of(200, lambda: parser.parse(text))
    print(f"payload: {FIXTURE.name}, {count} samples")
    print(f"prometheus_client: {count / baseline:,.0f} samples/s")
    print(f"ours, fresh parser (cold cache): {count / cold:,.0f} samples/s")
    print(f"ours, same text again (best case, not the headline): {count / warm:,.0f} samples/s")
    mine, theirs, samples = sequence_speedup(successive_scrapes(SCRAPES))
    print(f"{SCRAPES} successive scrapes, {samples} samples: ours {mine:,.0f}/s, prometheus_client {theirs:,.0f}/s")
    print(f"parse speedup vs prometheus_client: {mine / theirs:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
