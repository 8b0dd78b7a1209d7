"""The SSE parser the log client reads the pod's follow stream with: events, comments, chunking, bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gpuwatch_desktop.sources.sse import TRUNCATED, SseParser


def test_events_comments_and_crlf() -> None:
    parser = SseParser()
    stream = b": following\n\ndata: first line\n\ndata: second\r\n\r\n: keep-alive\n\ndata:no space\n\n"
    assert parser.feed(stream) == ["first line", "second", "no space"]


def test_an_event_split_across_chunks_comes_out_once_complete() -> None:
    parser = SseParser()
    assert parser.feed(b"data: hel") == []
    assert parser.feed(b"lo wor") == []
    assert parser.feed(b"ld\n") == []
    assert parser.feed(b"\n") == ["hello world"]


def test_multi_line_data_and_other_fields() -> None:
    parser = SseParser()
    assert parser.feed(b"event: log\nid: 7\ndata: a\ndata: b\nretry: 100\n\n") == ["a\nb"]


def test_a_carriage_return_inside_a_line_is_kept() -> None:
    parser = SseParser()
    line = "Loading shards:  25% Completed | 1/4\rLoading shards:  50% Completed | 2/4"
    assert parser.feed(f"data: {line}\n\n".encode()) == [line]


def test_an_over_long_line_is_cut_and_the_buffer_stays_bounded() -> None:
    parser = SseParser(max_line_bytes=64)
    assert parser.feed(b"data: " + b"x" * 10_000) == []
    assert len(parser._partial) <= 64
    assert parser.feed(b"y" * 10_000) == [] and len(parser._partial) <= 64
    assert parser.feed(b"\n\ndata: next\n\n") == ["x" * 58 + TRUNCATED, "next"]
    assert parser.feed(b"data: after\n\n") == ["after"]


def test_bad_utf8_is_replaced_not_raised() -> None:
    assert SseParser().feed(b"data: caf\xe9\n\n") == ["caf\ufffd"]


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                        max_size=40), max_size=20),
       st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10))
def test_any_chunking_gives_the_same_events(lines: list[str], cuts: list[int]) -> None:
    stream = b"".join(f"data: {line}\n\n".encode() for line in lines)
    parser, events, pos, i = SseParser(), [], 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        events += parser.feed(stream[pos:pos + step])
        pos, i = pos + step, i + 1
    assert events == lines
