"""Chat rendering benchmark: the GUI-thread time a streaming answer costs.

While an answer streams the dock re-renders it (markdown to HTML with tables and Pygments-highlighted code, then
Qt's rich-text layout in a dock-wide view) at most every 100 ms, and less often when a render takes long
(``chat_view.RENDER_SHARE``). Two figures for a long answer (six sections with a table, a list and code, ~3.3 KB):
one full render, and the share of the GUI thread taken while the answer streams in 8-character pieces every 5 ms
(~1600 characters/s, a fast model). Baseline "chat streaming 25 % of the GUI thread". The LAST line prints the
streaming share and the single render time.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from gpuwatch_desktop.ui.chat_items import AnswerBrowser  # noqa: E402
from gpuwatch_desktop.ui.chat_view import ChatView  # noqa: E402
from gpuwatch_desktop.ui.markdown_render import render_markdown  # noqa: E402
from gpuwatch_desktop.ui.theme import DARK  # noqa: E402

BASELINE_SHARE = 0.25
SECTION = """### node-{n}

**GPU 3 runs hot**: 88 °C while the others sit at 60–70 °C, and its SM clock drops to 1410 MHz.

| GPU | Util | Temp | Power | SM clock |
|---|---:|---:|---:|---:|
| 0 | 96 % | 64 °C | 602 W | 1980 MHz |
| 1 | 95 % | 66 °C | 610 W | 1980 MHz |
| 2 | 97 % | 69 °C | 622 W | 1980 MHz |
| 3 | 97 % | 88 °C | 640 W | 1410 MHz |

1. Check the airflow around the node (fans, blanking panels).
2. Watch the clocks for thermal slowdown:

```bash
nvidia-smi -i 3 --query-gpu=temperature.gpu,clocks.sm,clocks_throttle_reasons.active --format=csv -l 5
```

"""
ANSWER = "".join(SECTION.format(n=n) for n in range(6))


def one_render(app: QApplication) -> float:
    view = AnswerBrowser(DARK)
    view.resize(400, 300)
    view.show()
    timings = []
    for round_ in range(30):
        start = time.perf_counter()
        view.show_markdown(ANSWER + " " * (round_ % 2))  # a changed text each time, as while streaming
        app.processEvents()  # the layout and the height fit run here
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings[5:])


def streaming_share(app: QApplication) -> tuple[float, int]:
    """Busy share of the GUI thread while ``ANSWER`` streams into a ChatView; and how many renders it took."""
    chat = ChatView(DARK)
    chat.resize(420, 700)
    chat.show()
    busy = 0.0
    started = time.perf_counter()
    for end in range(8, len(ANSWER) + 8, 8):
        t0 = time.perf_counter()
        chat.show_partial_answer(ANSWER[:end])
        app.processEvents()  # timers due fire here: the throttled renders
        busy += time.perf_counter() - t0
        time.sleep(0.005)
    t0 = time.perf_counter()
    chat.end_answer(ANSWER)
    app.processEvents()
    busy += time.perf_counter() - t0
    return busy / (time.perf_counter() - started), chat.renders


def main() -> None:
    app = QApplication.instance() or QApplication([])
    render_ms = one_render(app)
    md_ms = statistics.median(_timed(lambda: render_markdown(ANSWER)) for _ in range(20))
    share, renders = streaming_share(app)
    print(f"answer {len(ANSWER)} characters in a 400 px view: markdown to HTML {md_ms:.1f} ms, with Qt's layout "
          f"{render_ms:.1f} ms")
    print(f"baseline 'chat streaming {BASELINE_SHARE:.0%} of the GUI thread': "
          f"{'within' if share <= BASELINE_SHARE else 'OVER'}")
    print(f"streaming: GUI thread busy {share:.1%} ({renders} renders); one full render {render_ms:.1f} ms")


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
