"""What vLLM is doing, read from its log: not running, loading (with a percentage), ready or failed.

Pure and incremental: feed lines as they arrive (``VllmStateReader.feed``) and read ``state``. The
formats are vLLM 0.x's own (V0 and V1 engines), e.g.::

    (APIServer pid=1) INFO 05-03 18:40:00 [api_server.py:1839] vLLM API server version 0.11.0
    Loading safetensors checkpoint shards:  40% Completed | 2/5 [00:14<00:21,  7.09s/it]
    (APIServer pid=1) INFO 05-03 18:42:15 [launcher.py:37] Available routes are:
    INFO:     Application startup complete.
    (EngineCore_DP0 pid=812) ERROR 10-08 01:47:51 [core.py:708] EngineCore failed to start.
    torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has ...

Rules: a start line (the version banner, ``non-default args``, ``Initializing ... LLM engine``) begins a
new run (loading). A ready line (``Application startup complete``, the route listing, ``Uvicorn running
on``, or a served request) means ready. While loading, a traceback, an ``ERROR`` line or a CUDA
out-of-memory line means failed; once ready, only fatal engine errors do (a single request's ERROR line
does not stop the server). Failed stays failed until the next start or ready line. uvicorn's
``Finished server process`` means the server stopped: not running.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

MAX_ERROR_CHARS = 300


class VllmPhase(enum.Enum):
    NOT_RUNNING = "not running"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class VllmState:
    """``percent`` while loading weights (None before the first progress line); ``error`` when failed."""

    phase: VllmPhase = VllmPhase.NOT_RUNNING
    percent: int | None = None
    step: str = ""  # while loading: "starting", "loading weights 2/5", "warming up", "starting the API server"
    error: str = ""  # when failed: the most telling line, without vLLM's log prefix

    def summary(self) -> str:
        """Short text for a badge: "Model loading… 40 %", "Ready", "Failed: CUDA out of memory", "Not running"."""
        if self.phase is VllmPhase.READY:
            return "Ready"
        if self.phase is VllmPhase.NOT_RUNNING:
            return "Not running"
        if self.phase is VllmPhase.FAILED:
            return f"Failed: {short_error(self.error)}" if self.error else "Failed"
        if self.percent is not None and self.step.startswith("loading weights"):
            return f"Model loading… {self.percent} %"
        return f"Model loading… {self.step}" if self.step else "Model loading…"


# "(EngineCore_DP0 pid=812) ERROR 10-08 01:47:51 [core.py:708] " (V1) or "INFO 01-26 17:51:41 api_server.py:786] " (V0)
_PREFIX = re.compile(
    r"^(?:[\w.-]+\s+\| |\d{4}-\d\d-\d\d[T ][\d:.,]+\S*\s+\| )?"  # docker compose / timestamped collectors
    r"(?:\([^()]*pid=\d+\)\s*)?"
    r"(?:(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\d\d-\d\d\s+[\d:.]+\s+(?:\[[^\]]*\]|[\w./-]+:\d+\])\s?"
    r"|(?P<uvicorn>DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+)?"
)
_SHARDS = re.compile(r"Loading \w+ checkpoint shards:\s*(\d{1,3})% Completed \| (\d+)/(\d+)")
_START = re.compile(
    r"vLLM API server version \d|\] non-default args: |\] args: Namespace\(|Initializing an? (?:V1 )?LLM engine"
)
_READY = re.compile(
    r"Application startup complete|Available routes are|Uvicorn running on|Avg prompt throughput"
    r"|\"(?:GET|POST) /v1/\S* HTTP/1\.[01]\" 200"
)
_STOPPED = re.compile(r"Finished server process")
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory")
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit)\b:?")
_ENGINE_DEAD = re.compile(r"EngineCore encountered a fatal error|EngineDeadError|Engine loop has died")
_FATAL = re.compile(
    r"Traceback \(most recent call last\)|EngineCore failed to start|Engine core initialization failed|"
    + _ENGINE_DEAD.pattern
)
_STEPS = (  # the first that matches names the step
    (re.compile(r"Loading weights took|Model loading took|torch\.compile|Capturing CUDA graph|init engine"),
     "warming up"),
    (re.compile(r"Starting vLLM (?:API )?server(?: \d+)? on"), "starting the API server"),
    (re.compile(r"Starting to load model|Loading model weights|Loading weights"), "loading weights"),
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def strip_prefix(line: str) -> tuple[str, str]:
    """(the level, "" when none; the message without vLLM's or uvicorn's log prefix)."""
    line = _ANSI.sub("", line).rsplit("\r", 1)[-1] if "\r" in line or "\x1b" in line else line
    match = _PREFIX.match(line)
    if match is None:  # pragma: no cover - the pattern is all optional, it always matches
        return "", line.strip()
    return match.group("level") or match.group("uvicorn") or "", line[match.end():].strip()


def short_error(error: str) -> str:
    """The gist of an error line for a badge: "CUDA out of memory", else the line cut to 80 characters."""
    if _OOM.search(error):
        return "CUDA out of memory"
    return error if len(error) <= 80 else error[:79] + "…"


def _error_rank(level: str, message: str) -> int:
    """How telling a failure line is (0: not a failure line): OOM > an exception line > ERROR/fatal > traceback."""
    if _OOM.search(message):
        return 4
    if _EXCEPTION.match(message) and not message.startswith("Traceback"):
        return 3
    if level in ("ERROR", "CRITICAL") or _FATAL.search(message):
        return 2 if not message.startswith("Traceback") else 1
    return 0


class VllmStateReader:
    """Reads vLLM's log line by line; ``state`` is what the lines so far say."""

    def __init__(self) -> None:
        self.state = VllmState()
        self._error_rank = 0

    def reset(self) -> None:
        """Forget everything (the log went away or was replaced)."""
        self.state = VllmState()
        self._error_rank = 0

    def feed(self, line: str) -> bool:
        """Read one line; True when the state changed."""
        before = self.state
        level, message = strip_prefix(line)
        if _START.search(line):
            self._error_rank = 0
            self.state = VllmState(VllmPhase.LOADING, step="starting")
        elif _READY.search(line):
            self._error_rank = 0
            self.state = VllmState(VllmPhase.READY)
        elif _STOPPED.search(line) and self.state.phase is not VllmPhase.FAILED:  # failed, then stopped: failed
            self.state = VllmState(VllmPhase.NOT_RUNNING)
        else:
            self._read_failure(line, level, message)
            if self.state.phase in (VllmPhase.LOADING, VllmPhase.NOT_RUNNING):
                self._read_progress(line)
        return self.state != before

    def feed_all(self, lines: list[str]) -> bool:
        """Read several lines; True when the state changed."""
        before = self.state
        for line in lines:
            self.feed(line)
        return self.state != before

    def _read_failure(self, line: str, level: str, message: str) -> None:
        phase = self.state.phase
        if phase is VllmPhase.READY and not _ENGINE_DEAD.search(line):
            return  # a served request's error (even with a traceback): the server keeps serving
        rank = _error_rank(level, message)
        if rank == 0:
            return
        if phase is not VllmPhase.FAILED:
            self._error_rank = 0
        if rank > self._error_rank:  # the first line of the most telling kind is kept
            self._error_rank = rank
            self.state = VllmState(VllmPhase.FAILED, error=message[:MAX_ERROR_CHARS])

    def _read_progress(self, line: str) -> None:
        shards = _SHARDS.findall(line)
        if shards:
            percent, done, total = shards[-1]  # tqdm may put several updates on one line (\r)
            self.state = VllmState(VllmPhase.LOADING, min(int(percent), 100), f"loading weights {done}/{total}")
            return
        for pattern, step in _STEPS:
            if pattern.search(line):
                if step != "loading weights" or not self.state.step.startswith("loading weights"):
                    self.state = VllmState(VllmPhase.LOADING, self.state.percent, step)
                return
