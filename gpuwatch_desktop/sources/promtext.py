"""Prometheus text format (0.0.4) and OpenMetrics parser, fast on repeated scrapes of one node.

``PromTextParser`` keeps a table from the raw series text of a line (``NAME{labels}``, everything
before the value) to its parsed (name, labels), one from value text to float, one of HELP and
TYPE lines, and the last payload's lines with the sample each gave. A later scrape of the same
node then costs a string comparison for a line equal to the one at its place last time (most of
a dcgm payload: the exporter writes the same series in the same order), a split and two dict
lookups per line with a new value; label parsing runs only for series it has not seen. The
tables are bounded relative to the payload's size. Any malformed input raises ``ParseError`` with the
1-based line number and the reason, never another exception type.

Leniencies, as in the Prometheus server: blanks around ``{``, ``=``, ``,`` and after ``}``; a
trailing comma in a label set; unknown escapes in label values (``\\t``) kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.core.snapshot import Sample

# A table with more entries than 4x the payload's lines (at least CACHE_MIN, at most CACHE_LIMIT)
# is cleared before the parse: a node's steady state stays cached, churn (new pids, changing
# values) cannot grow it without bound.
CACHE_LIMIT = 100_000
CACHE_MIN = 1024

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_SPLIT = re.compile(r"[ \t]+")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_HELP_ESCAPE = re.compile(r"\\([\\n])")
# What Go's strconv.ParseFloat accepts, ASCII only and without underscores.
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])"
)
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_TIMESTAMP = re.compile(r"-?[0-9]{1,19}")  # int64 milliseconds
_INT64_MAX = 2**63 - 1
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_TYPES = frozenset(
    {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}
)
_EOF = "# EOF"

Series = tuple[str, dict[str, str]]
Meta = tuple[bool, str, str]
SampleFactory = Callable[[str, Mapping[str, str], float, int | None], Sample]


def _sample_factory() -> SampleFactory:
    """A constructor for ``Sample`` that skips the frozen dataclass ``__init__``.

    That ``__init__`` calls ``object.__setattr__`` once per field (about 1.3 µs a sample, more than
    the rest of the fast path); setting the slots through their descriptors is about 3x faster.
    Falls back to the plain constructor if ``Sample`` ever changes shape.
    """
    if tuple(f.name for f in fields(Sample)) != ("name", "labels", "value", "timestamp_ms"):
        return Sample
    slots = Sample.__dict__
    if not all(hasattr(slots.get(n), "__set__") for n in ("name", "labels", "value", "timestamp_ms")):
        return Sample
    new = object.__new__
    set_name, set_labels = slots["name"].__set__, slots["labels"].__set__
    set_value, set_stamp = slots["value"].__set__, slots["timestamp_ms"].__set__

    def make(name: str, labels: Mapping[str, str], value: float, stamp: int | None) -> Sample:
        sample = new(Sample)
        set_name(sample, name)
        set_labels(sample, labels)
        set_value(sample, value)
        set_stamp(sample, stamp)
        return sample

    return make


_new_sample = _sample_factory()


@dataclass(frozen=True, slots=True)
class ParsedPayload:
    """Every sample of a payload in order, and the HELP and TYPE of each family that declared one."""

    samples: list[Sample]
    types: dict[str, str]
    helps: dict[str, str]


class PromTextParser:
    """Parser for one node's payloads; reuse it so that repeated series skip label parsing."""

    __slots__ = ("_last", "_metas", "_series", "_values")

    def __init__(self) -> None:
        self._series: dict[str, Series] = {}
        self._values: dict[str, float] = {}
        self._metas: dict[str, Meta] = {}  # raw HELP/TYPE line -> parsed
        self._last: tuple[list[str], list[Sample | None]] = ([], [])  # last payload's lines, their samples

    def parse(self, text: str) -> ParsedPayload:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        self._bound_tables(len(lines))
        samples: list[Sample] = []
        types: dict[str, str] = {}
        helps: dict[str, str] = {}
        append = samples.append
        new_sample = _new_sample
        series = self._series
        values = self._values
        metas = self._metas
        last_lines, last_samples = self._last
        comparable = min(len(lines), len(last_lines))
        by_line: list[Sample | None] = [None] * len(lines)  # the fast path's sample of each line, for next time
        try:
            for i, line in enumerate(lines):
                # The same text as the line at this place last time: the same (frozen) sample.
                if i < comparable and line == last_lines[i] and (sample := last_samples[i]) is not None:
                    append(sample)
                    by_line[i] = sample
                    continue
                # Fast path: 'SERIES VALUE' with a series seen before. A hit is exact: a cached key
                # is a complete series, so a full parse stops at the same place. A new value text
                # that is a plain decimal float is parsed here, as the full path would parse it.
                head, _, token = line.rpartition(" ")
                entry = series.get(head)
                if entry is not None:
                    value = values.get(token)
                    if value is None and _FLOAT.fullmatch(token):
                        value = values[token] = float(token)
                    if value is not None:
                        sample = by_line[i] = new_sample(entry[0], entry[1], value, None)
                        append(sample)
                        continue
                meta = metas.get(line)
                if meta is not None:
                    (helps if meta[0] else types)[meta[1]] = meta[2]
                    continue
                sample = self._fast_timestamped(head, token) or self._parse_line(line, i + 1, types, helps)
                if sample is not None:
                    append(sample)
                    if sample.timestamp_ms is None and head in series:  # a new series' plain line: reused next time
                        by_line[i] = sample
        except _EndOfPayload as eof:
            _check_after_eof(lines, eof.line_number)
        self._last = lines, by_line
        return ParsedPayload(samples, types, helps)

    def last_lines(self) -> tuple[list[str], list[Sample | None]]:
        """The last payload's lines and, per line, its sample when the line was a plain ``SERIES VALUE``
        line of a series seen before (else None). For such a line, everything before its last blank is
        the complete series: the same series with another plain decimal value parses to that series."""
        return self._last

    def _bound_tables(self, line_count: int) -> None:
        limit = min(CACHE_LIMIT, max(CACHE_MIN, 4 * line_count))
        for table in (self._series, self._values, self._metas):
            if len(table) > limit:
                table.clear()

    def _fast_timestamped(self, head: str, token: str) -> Sample | None:
        """'SERIES VALUE TIMESTAMP' with a known series and value text, else None."""
        head, _, value_text = head.rpartition(" ")
        entry = self._series.get(head)
        if entry is None or not _TIMESTAMP.fullmatch(token):
            return None
        value = self._values.get(value_text)
        stamp = int(token)
        if value is None or not -_INT64_MAX - 1 <= stamp <= _INT64_MAX:
            return None
        return _new_sample(entry[0], entry[1], value, stamp)

    def _parse_line(
        self, line: str, number: int, types: dict[str, str], helps: dict[str, str]
    ) -> Sample | None:
        raw = line
        line = line.strip(" \t")
        if not line:
            return None
        if line[0] == "#":
            meta = _parse_comment(line, number)
            if meta is not None:
                self._metas[raw] = meta
                (helps if meta[0] else types)[meta[1]] = meta[2]
            return None
        name, labels, pos = _parse_series(line, number)
        key = line[:pos]
        entry = self._series.get(key)
        if entry is None:
            entry = self._series[key] = (name, labels)
        value, timestamp = self._parse_value_part(line, pos, number)
        return _new_sample(entry[0], entry[1], value, timestamp)

    def _parse_value_part(self, line: str, pos: int, number: int) -> tuple[float, int | None]:
        rest = line[pos:]
        hash_at = rest.find("#")
        if hash_at >= 0:
            if hash_at == 0 or rest[hash_at - 1] not in " \t":
                raise ParseError(number, "bad value ('#' must follow a blank to start an exemplar)", line)
            _check_exemplar(line, pos + hash_at + 1, number)
            rest = rest[:hash_at]
        tokens = _SPLIT.split(rest.strip(" \t"))
        if not tokens[0]:
            raise ParseError(number, "missing value", line)
        if len(tokens) > 2:
            raise ParseError(number, "unexpected text after the timestamp", line)
        value = self._values.get(tokens[0])
        if value is None:
            value = self._values[tokens[0]] = _parse_float(tokens[0], number, line, "bad value")
        return value, (_parse_timestamp(tokens[1], number, line) if len(tokens) == 2 else None)


def plain_float(token: str) -> float | None:
    """A value token as the fast path reads it (a plain decimal, ``Inf`` or ``NaN``), else None."""
    return float(token) if _FLOAT.fullmatch(token) else None


class _EndOfPayload(Exception):
    """Raised at OpenMetrics' ``# EOF`` line."""

    def __init__(self, line_number: int) -> None:
        super().__init__(line_number)
        self.line_number = line_number


def parse_text(text: str) -> ParsedPayload:
    """Parse one payload with a fresh parser (no cache carried over)."""
    return PromTextParser().parse(text)


def _check_after_eof(lines: list[str], number: int) -> None:
    for offset, rest in enumerate(lines[number:], number + 1):
        if rest.strip(" \t\r"):
            raise ParseError(offset, "content after # EOF", rest)


def _parse_comment(line: str, number: int) -> Meta | None:
    """(is HELP, name, text) of a HELP or TYPE line; None for other comments."""
    if line == _EOF:
        raise _EndOfPayload(number)
    parts = _SPLIT.split(line[1:].lstrip(" \t"), maxsplit=2)
    keyword = parts[0]
    if keyword not in ("HELP", "TYPE"):
        return None  # a plain comment
    name = parts[1] if len(parts) > 1 else ""
    if not _METRIC_NAME.fullmatch(name):
        raise ParseError(number, f"bad metric name in {keyword} line", line)
    text = parts[2] if len(parts) > 2 else ""
    if keyword == "HELP":
        return True, name, _HELP_ESCAPE.sub(_unescape, text) if "\\" in text else text
    if text not in _TYPES:
        raise ParseError(number, f"bad metric type {text!r}", line)
    return False, name, text


def _parse_series(line: str, number: int) -> tuple[str, dict[str, str], int]:
    """Name and labels at the start of ``line``, and the position just after them."""
    match = _METRIC_NAME.match(line)
    if match is None:
        raise ParseError(number, "bad metric name", line)
    pos = match.end()
    brace = _skip_blanks(line, pos)
    if brace < len(line) and line[brace] == "{":
        labels, pos = _parse_labels(line, brace + 1, number)
        return match.group(), labels, pos
    if pos < len(line) and line[pos] not in " \t":
        raise ParseError(number, f"bad metric name (unexpected {line[pos]!r})", line)
    return match.group(), {}, pos


def _parse_labels(line: str, pos: int, number: int) -> tuple[dict[str, str], int]:
    """The label set that starts at ``pos`` (just after ``{``) and the position after its ``}``."""
    labels: dict[str, str] = {}
    end = len(line)
    while True:
        pos = _skip_blanks(line, pos)
        if pos < end and line[pos] == "}":
            return labels, pos + 1
        match = _LABEL_NAME.match(line, pos)
        if match is None:
            reason = "unterminated label set" if pos >= end else "bad label name"
            raise ParseError(number, reason, line)
        name = match.group()
        pos = _skip_blanks(line, match.end())
        if pos >= end or line[pos] != "=":
            raise ParseError(number, f"bad label {name}: expected '='", line)
        pos = _skip_blanks(line, pos + 1)
        quoted = _QUOTED.match(line, pos)
        if quoted is None:
            reason = "unterminated quote" if line.startswith('"', pos) else "value must be quoted"
            raise ParseError(number, f"bad label {name}: {reason}", line)
        if name in labels:
            raise ParseError(number, f"duplicate label name {name}", line)
        raw = quoted.group(1)
        labels[name] = _ESCAPE.sub(_unescape, raw) if "\\" in raw else raw
        pos = _skip_blanks(line, quoted.end())
        if pos >= end:
            raise ParseError(number, "unterminated label set", line)
        if line[pos] == ",":
            pos += 1
        elif line[pos] != "}":
            raise ParseError(number, f"bad label set: expected ',' or '}}' after label {name}", line)


def _skip_blanks(line: str, pos: int) -> int:
    end = len(line)
    while pos < end and line[pos] in " \t":
        pos += 1
    return pos


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPES.get(match.group(1), match.group(0))


def _check_exemplar(line: str, pos: int, number: int) -> None:
    """Validate an OpenMetrics exemplar ``{labels} value [timestamp]`` starting at ``pos``; it is dropped."""
    pos = _skip_blanks(line, pos)
    if not line.startswith("{", pos):
        raise ParseError(number, "bad exemplar: expected '{'", line)
    _, pos = _parse_labels(line, pos + 1, number)
    tokens = _SPLIT.split(line[pos:].strip(" \t"))
    if not tokens[0] or len(tokens) > 2:
        raise ParseError(number, "bad exemplar: expected a value and an optional timestamp", line)
    for token in tokens:
        _parse_float(token, number, line, "bad exemplar")


def _parse_float(token: str, number: int, line: str, what: str) -> float:
    if _FLOAT.fullmatch(token):
        return float(token)
    if _HEX_FLOAT.fullmatch(token):
        try:
            return float.fromhex(token)
        except OverflowError:
            pass
    raise ParseError(number, f"{what} {token[:40]!r}", line)


def _parse_timestamp(token: str, number: int, line: str) -> int:
    if _TIMESTAMP.fullmatch(token):
        stamp = int(token)
        if -_INT64_MAX - 1 <= stamp <= _INT64_MAX:
            return stamp
    raise ParseError(number, f"bad timestamp {token[:40]!r} (integer milliseconds expected)", line)
