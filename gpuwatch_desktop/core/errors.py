"""Error types shared across layers."""

from __future__ import annotations


class GpuwatchError(Exception):
    """Base of every error the app raises on purpose."""


class ParseError(GpuwatchError):
    """A metrics payload could not be parsed; names the 1-based line (0 for the whole payload) and why."""

    def __init__(self, line_number: int, reason: str, line: str = "") -> None:
        self.line_number = line_number
        self.reason = reason
        self.line = line
        shown = line if len(line) <= 120 else line[:117] + "..."
        where = f"line {line_number}: " if line_number > 0 else ""  # 0: the payload as a whole
        super().__init__(f"{where}{reason}" + (f": {shown!r}" if line else ""))


class StorageError(GpuwatchError):
    """The history database could not be read or written (disk full, locked, corrupt)."""


class ConfigError(GpuwatchError):
    """Settings could not be read or are invalid."""


class ScrapeError(GpuwatchError):
    """A node could not be scraped; ``reason`` is short and shown to the user as is."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
