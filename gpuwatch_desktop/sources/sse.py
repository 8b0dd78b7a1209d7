"""Server-sent events, the part the pod log server uses: ``data:`` lines, blank-line dispatch, ``:`` comments.

Bytes in, the data of each complete event out; bounded: a line longer than ``max_line_bytes`` is cut (the
rest up to its newline is dropped), so a server that never sends a newline cannot grow the buffer.
Unlike the SSE spec, only ``\\n`` ends a line (a trailing ``\\r`` is dropped): the log server sends lines
exactly as written, and a progress bar's ``\\r`` inside a log line must not split it.
"""

from __future__ import annotations

MAX_LINE_BYTES = 256 * 1024
TRUNCATED = " …[line cut]"


class SseParser:
    """Incremental parser: ``feed(chunk)`` returns the data of every event the chunk completed."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._skipping = False  # inside the dropped rest of an over-long line
        self._cut = False  # the line in _partial was cut
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        events: list[str] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            self._take(piece)
            if end < 0:
                break
            self._end_line(events)
            start = end + 1
        return events

    def _take(self, piece: bytes) -> None:
        if self._skipping:
            return
        room = self.max_line_bytes - len(self._partial)
        if len(piece) > room:
            self._partial += piece[:room]
            self._skipping = self._cut = True
        else:
            self._partial += piece

    def _end_line(self, events: list[str]) -> None:
        raw = bytes(self._partial)
        cut = self._cut
        self._partial.clear()
        self._skipping = self._cut = False
        line = raw.removesuffix(b"\r").decode("utf-8", "replace")
        if cut:
            line += TRUNCATED
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(":"):
            return  # a comment: the server's heartbeat
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
            if len(self._data) > 1 and sum(len(d) for d in self._data) > self.max_line_bytes:
                self._data = self._data[-1:]  # a runaway multi-line event keeps only its last line
