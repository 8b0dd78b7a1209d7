"""Deterministic tests of the Prometheus text / OpenMetrics parser: each feature, each error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.sources import promtext
from gpuwatch_desktop.sources.promtext import PromTextParser, parse_text

DATA = Path(__file__).resolve().parent.parent / "data"


def one(text: str) -> tuple[str, dict[str, str], float, int | None]:
    payload = parse_text(text)
    assert len(payload.samples) == 1
    s = payload.samples[0]
    return s.name, dict(s.labels), s.value, s.timestamp_ms


def error_of(text: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_text(text)
    return caught.value


def test_help_and_type_lines_and_samples() -> None:
    payload = parse_text(
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
        'http_requests_total{method="post",code="400"}    3 1395066363000\n'
    )
    assert payload.types == {"http_requests_total": "counter"}
    assert payload.helps == {"http_requests_total": "The total number of HTTP requests."}
    assert [(s.name, dict(s.labels), s.value, s.timestamp_ms) for s in payload.samples] == [
        ("http_requests_total", {"method": "post", "code": "200"}, 1027.0, 1395066363000),
        ("http_requests_total", {"method": "post", "code": "400"}, 3.0, 1395066363000),
    ]


def test_help_escapes_backslash_and_newline_only() -> None:
    payload = parse_text('# HELP m A \\\\ back\\nslash and \\"quote\\" \\t\nm 1\n')
    assert payload.helps["m"] == 'A \\ back\nslash and \\"quote\\" \\t'


def test_help_without_text_and_other_comments() -> None:
    payload = parse_text("#\n# a comment\n# UNIT m seconds\n#HELP m not a help line\n# HELP m\nm 1\n")
    assert payload.helps == {"m": ""}
    assert payload.types == {}
    assert len(payload.samples) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r'a\\b', "a\\b"),
        (r'say \"hi\"', 'say "hi"'),
        (r'two\nlines', "two\nlines"),
        (r'\\n', "\\n"),
        (r'tab\t', "tab\\t"),  # unknown escape kept as written, like the Prometheus server
        ("a,b}c=d e", "a,b}c=d e"),
        ("# {not an exemplar} 1", "# {not an exemplar} 1"),
        ("ünïcødé ✓ 🚀", "ünïcødé ✓ 🚀"),
        ("", ""),
    ],
)
def test_label_values(raw: str, expected: str) -> None:
    assert one(f'm{{v="{raw}",w="x"}} 1\n')[1] == {"v": expected, "w": "x"}


def test_empty_label_set_no_braces_trailing_comma_and_blanks() -> None:
    assert one("m{} 1")[:2] == ("m", {})
    assert one("m 1")[:2] == ("m", {})
    assert one('m{a="1",} 1')[1] == {"a": "1"}
    assert one('m { a = "1" , b="2" , } 1')[1] == {"a": "1", "b": "2"}
    assert one('m{a="1"}1')[1:3] == ({"a": "1"}, 1.0)
    assert one("  m\t1\t  ")[2] == 1.0
    assert one("name:with_colons_0 2")[0] == "name:with_colons_0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+Inf", math.inf), ("-Inf", -math.inf), ("Inf", math.inf), ("inf", math.inf),
        ("Infinity", math.inf), ("-infinity", -math.inf),
        ("1e3", 1000.0), ("1E-3", 0.001), ("-2.5e+2", -250.0), (".5", 0.5), ("5.", 5.0),
        ("-0", 0.0), ("+7", 7.0), ("0x1p4", 16.0), ("0X1.8P1", 3.0), ("1e400", math.inf),
        ("9223372036854775794", 9223372036854775794.0), ("007", 7.0),
    ],
)
def test_float_spellings(text: str, expected: float) -> None:
    assert one(f"m {text}")[2] == expected


def test_nan() -> None:
    assert math.isnan(one("m NaN")[2])
    assert math.isnan(one("m nan")[2])


def test_timestamps() -> None:
    assert one("m 1 1700000000123")[3] == 1700000000123
    assert one("m 1 -5")[3] == -5
    assert one("m 1")[3] is None


def test_exemplars_are_ignored() -> None:
    assert one('foo_total{a="b"} 17 # {trace_id="oHg5 # SiYy}"} 1 1520879607.789') == (
        "foo_total", {"a": "b"}, 17.0, None,
    )
    assert one("foo_total 17 1520879607789 # {} 0.5")[2:] == (17.0, 1520879607789)


def test_eof_and_line_endings() -> None:
    payload = parse_text("# TYPE m gauge\r\nm 1\r\n\r\n\n# EOF\n")
    assert [s.value for s in payload.samples] == [1.0]
    assert parse_text("m 1\n# EOF").samples[0].value == 1.0
    assert parse_text("").samples == []
    assert parse_text("\n\n").samples == []


def test_parse_text_on_the_dcgm_fixture() -> None:
    payload = parse_text((DATA / "dcgm_h100_8gpu.txt").read_text())
    assert len(payload.samples) == 233
    assert payload.types["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"] == "counter"
    assert payload.helps["DCGM_FI_DEV_GPU_UTIL"] == "GPU utilization (in %)."
    first = payload.samples[0]
    assert first.name == "DCGM_FI_DEV_SM_CLOCK" and first.labels["modelName"] == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("1abc 1", 1, "bad metric name"),
        ("foo-bar 1", 1, "bad metric name"),
        ("föö 1", 1, "bad metric name"),
        ("m 1\n\x00\x01\x02 junk", 2, "bad metric name"),
        ('m{1a="x"} 1', 1, "bad label name"),
        ("m{,} 1", 1, "bad label name"),
        ('m{a="x"', 1, "unterminated label set"),
        ('m{a="x} 1', 1, "unterminated quote"),
        ('m{a="x\\"} 1', 1, "unterminated quote"),
        ("m{a=x} 1", 1, "value must be quoted"),
        ("m{a} 1", 1, "expected '='"),
        ('m{a="x" b="y"} 1', 1, "expected ',' or '}'"),
        ('m{a="x",a="y"} 1', 1, "duplicate label name a"),
        ("m", 1, "missing value"),
        ('m{a="x"}', 1, "missing value"),
        ("m abc", 1, "bad value"),
        ("m 1_000", 1, "bad value"),
        ("m \u0661", 1, "bad value"),  # an Arabic-Indic digit: Python's float() takes it, Go's does not
        ("m 0x10", 1, "bad value"),
        ("m 1\x00", 1, "bad value"),
        ("m 1 1.5", 1, "bad timestamp"),
        ("m 1 ts", 1, "bad timestamp"),
        ("m 1 99999999999999999999", 1, "bad timestamp"),
        ("m 1 " + "9" * 5000, 1, "bad timestamp"),
        ("m 1 2 3", 1, "unexpected text after the timestamp"),
        ("m 1#x", 1, "must follow a blank"),
        ("m 1 # junk", 1, "bad exemplar"),
        ("m 1 # {a=\"b\"}", 1, "bad exemplar"),
        ("m 1 # {a=\"b\"} x", 1, "bad exemplar"),
        ("# TYPE m bogus\nm 1", 1, "bad metric type 'bogus'"),
        ("# TYPE m\nm 1", 1, "bad metric type ''"),
        ("# HELP 9m text", 1, "bad metric name in HELP line"),
        ("# HELP", 1, "bad metric name in HELP line"),
        ("m 1\n# EOF\nm 2\n", 3, "content after # EOF"),
        ("# HELP m x\n# TYPE m gauge\nm 1\nm{a=\"\n", 4, "unterminated quote"),
    ],
)
def test_errors_name_line_and_reason(text: str, line: int, reason: str) -> None:
    error = error_of(text)
    assert error.line_number == line
    assert reason in error.reason
    assert f"line {line}: " in str(error)


def test_error_on_a_later_line_after_good_ones() -> None:
    text = "a 1\nb 2\r\n\n# TYPE c gauge\nc{x=\"1\"} 3\nc{x=\"2\"} three\n"
    assert error_of(text).line_number == 6


def test_reused_parser_gives_the_same_result_and_shares_labels() -> None:
    text = (DATA / "dcgm_h100_8gpu.txt").read_text()
    parser = PromTextParser()
    first, second = parser.parse(text), parser.parse(text)
    assert second == first
    assert second.samples[5].labels is first.samples[5].labels  # label parsing skipped


def test_reused_parser_parses_new_values_and_timestamps_of_known_series() -> None:
    parser = PromTextParser()
    parser.parse('m{a="1"} 1\nn 2\n')
    payload = parser.parse('m{a="1"} 5 1000\nn 0x1p1\nn {b="2"} 3\nm{a="1"} NaN\n')
    rows = [(s.name, dict(s.labels), s.value, s.timestamp_ms) for s in payload.samples]
    assert rows[:3] == [("m", {"a": "1"}, 5.0, 1000), ("n", {}, 2.0, None), ("n", {"b": "2"}, 3.0, None)]
    assert math.isnan(rows[3][2])


def test_reused_parser_still_rejects_bad_values_of_known_series() -> None:
    parser = PromTextParser()
    parser.parse('m{a="1"} 1\n')
    with pytest.raises(ParseError) as caught:
        parser.parse('m{a="1"} 1\nm{a="1"} 1x\n')
    assert caught.value.line_number == 2 and "bad value" in caught.value.reason
    with pytest.raises(ParseError, match="bad timestamp"):
        parser.parse('m{a="1"} 1 1.5\n')


def test_caches_stay_bounded_under_churn() -> None:
    parser = PromTextParser()
    sizes = []
    for round_ in range(40):  # every scrape brings 100 new series, values and HELP lines
        text = "".join(f'# HELP m{round_}_{i} h\nm{round_}_{i}{{i="{i}"}} {round_}.{i}\n' for i in range(100))
        payload = parser.parse(text)
        assert len(payload.samples) == 100 and payload.samples[-1].labels == {"i": "99"}
        sizes.append(max(len(parser._series), len(parser._values), len(parser._metas)))
    assert max(sizes) <= promtext.CACHE_MIN + 100
