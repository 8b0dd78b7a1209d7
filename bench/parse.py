"""Parse speed of our Prometheus text parser against prometheus_client on an 8-GPU dcgm payload.

Baseline: ``prometheus_client.parser.text_string_to_metric_families``. Our parser is timed warm
(the same ``PromTextParser`` parsed the payload before), as the poller uses it. Both results are
checked equal first. The last line is ``parse speedup vs prometheus_client: N.Nx``.
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
    print(f"ours, reused parser (warm cache): {count / warm:,.0f} samples/s")
    print(f"parse speedup vs prometheus_client: {baseline / warm:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
