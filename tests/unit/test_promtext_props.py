"""Property tests of the parser: prometheus_client's parser as the oracle, and garbage never crashes it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.sources.promtext import ParsedPayload, PromTextParser, parse_text

# Modest: the CI machine has 2 cores and the whole file should stay under ~20 s.
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHEAP = settings(SETTINGS, max_examples=300)

Row = tuple[str, tuple[tuple[str, str], ...], float | str, float | None]

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
metric_names = st.builds(
    str.__add__, st.sampled_from(LETTERS + ":"), st.text(LETTERS + "0123456789_:", max_size=10)
)
label_names = st.builds(
    str.__add__, st.sampled_from(LETTERS + "_"), st.text(LETTERS + "0123456789_", max_size=8)
).filter(lambda n: not n.startswith("__"))  # reserved: the oracle rejects them
label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ['a"b', "back\\slash", "new\nline", "a,b}c=d e", "\\n", "# {x} 1", "\\\\\""]
)
value_texts = (
    st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.integers(-(10**30), 10**30).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:e}")
    | st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "nan", "+inf", "Infinity", ".5", "5.", "1E5", "-0"])
)
timestamps = st.none() | st.integers(-(10**15), 10**15)
helps = st.none() | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=20
).map(str.strip)
SUFFIXES = {"summary": ["", "_sum", "_count"], "histogram": ["_bucket", "_sum", "_count"]}


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Exposition:
    text: str
    types: dict[str, str]
    helps: dict[str, str]


@st.composite
def expositions(draw: st.DrawFn) -> Exposition:
    """Valid Prometheus text with varied spacing, HELP/TYPE, comments, CRLF and an optional # EOF."""
    names = draw(st.lists(metric_names, min_size=1, max_size=4, unique_by=lambda n: n.removesuffix("_total")))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    sep = draw(st.sampled_from([" ", "\t"]))
    lines: list[str] = []
    types: dict[str, str] = {}
    docs: dict[str, str] = {}
    for name in names:
        doc = draw(helps)
        if doc is not None:
            docs[name] = doc
            lines.append(f"# HELP {name} {doc.replace(chr(92), chr(92) * 2)}".rstrip())
        kind = draw(st.sampled_from([None, "counter", "gauge", "untyped", "summary", "histogram"]))
        if kind is not None:
            types[name] = kind
            lines.append(f"# TYPE {name} {kind}")
        for _ in range(draw(st.integers(1, 4))):
            lines.append(draw(sample_lines(name + draw(st.sampled_from(SUFFIXES.get(kind or "", [""]))), sep)))
        lines.extend(draw(st.lists(st.sampled_from(["", "# a comment", "#", "# UNIT x seconds"]), max_size=1)))
    if draw(st.booleans()):
        lines.append("# EOF")
    return Exposition(eol.join(lines) + eol, types, docs)


@st.composite
def sample_lines(draw: st.DrawFn, name: str, sep: str) -> str:
    labels = draw(st.dictionaries(label_names, label_values, max_size=4))
    pairs = [f'{k}="{escape(v)}"' for k, v in labels.items()]
    series = name
    if pairs or draw(st.booleans()):
        comma = draw(st.sampled_from([",", ", "]))
        trailing = "," if pairs and draw(st.booleans()) else ""
        series += "{" + comma.join(pairs) + trailing + "}"
    stamp = draw(timestamps)
    return f"{series}{sep}{draw(value_texts)}" + ("" if stamp is None else f"{sep}{stamp}")


def _value(value: float) -> float | str:
    return "NaN" if math.isnan(value) else value


def our_rows(payload: ParsedPayload) -> list[Row]:
    return [
        (s.name, tuple(sorted(s.labels.items())), _value(s.value),
         None if s.timestamp_ms is None else s.timestamp_ms / 1000)
        for s in payload.samples
    ]


def oracle_rows(text: str, types: dict[str, str]) -> list[Row]:
    """prometheus_client's samples; it renames samples of a counter declared without ``_total``: undone."""
    rows: list[Row] = []
    for family in text_string_to_metric_families(text):
        renamed = family.type == "counter" and types.get(family.name) == "counter"
        for s in family.samples:
            name = s.name[: -len("_total")] if renamed and s.name == family.name + "_total" else s.name
            stamp = None if s.timestamp is None else float(s.timestamp)
            rows.append((name, tuple(sorted(s.labels.items())), _value(float(s.value)), stamp))
    return rows


@SETTINGS
@given(expositions())
def test_samples_equal_prometheus_client(expo: Exposition) -> None:
    payload = parse_text(expo.text)
    assert our_rows(payload) == oracle_rows(expo.text, expo.types)
    assert payload.types == expo.types
    assert payload.helps == expo.helps


@settings(SETTINGS, max_examples=50)
@given(expositions(), expositions())
def test_reused_parser_equals_fresh_parser(first: Exposition, second: Exposition) -> None:
    parser = PromTextParser()
    parser.parse(first.text)
    parser.parse(second.text)
    assert outcome(parser, first.text) == outcome(PromTextParser(), first.text)


def outcome(parser: PromTextParser, text: str) -> object:
    """Rows, types and helps, or the (line, reason) of the ParseError; other exceptions fail the test."""
    try:
        payload = parser.parse(text)
    except ParseError as error:
        return error.line_number, error.reason
    return our_rows(payload), payload.types, payload.helps


junk_alphabet = st.sampled_from('{}"=,\\ #\t\n\r_:.+-eEaxp019\x00\ufffd') | st.characters(codec="utf-8")


@CHEAP
@given(st.text(junk_alphabet, max_size=200))
def test_random_text_raises_only_parse_error(text: str) -> None:
    outcome(PromTextParser(), text)


@CHEAP
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    outcome(PromTextParser(), data.decode("utf-8", errors="replace"))


@SETTINGS
@given(expositions(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), junk_alphabet), max_size=4))
def test_damaged_payloads_fail_cleanly_and_same_warm_or_cold(expo: Exposition, edits: list) -> None:
    text = expo.text
    for at, op, char in edits:
        at %= len(text) + 1
        if op == 0:
            text = text[:at] + char + text[at:]
        elif op == 1:
            text = text[:at] + text[at + 1 :]
        elif op == 2:
            text = text[:at] + char + text[at + 1 :]
        else:
            text = text[:at] + text[at : at + 30] + text[at:]
    warm = PromTextParser()
    warm.parse(expo.text)  # the undamaged payload fills the caches: the fast path must not accept more
    assert outcome(warm, text) == outcome(PromTextParser(), text)
