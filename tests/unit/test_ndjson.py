from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from api.ndjson import TOO_LONG, Line, line_groups


def lines_of(chunks: list[bytes], max_line: int = 16) -> list[list[Line]]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[list[Line]]:
        return [group async for group in line_groups(source(), max_line)]

    return asyncio.run(collect())


def test_lines_split_across_chunks_come_whole_and_blank_lines_are_skipped() -> None:
    groups = lines_of([b'{"a"', b':1}\n\n  \n{"b":2}\n{"c"', b":3}"])
    assert groups == [[b'{"a":1}', b'{"b":2}'], [b'{"c":3}']]


def test_a_group_per_chunk_with_every_line_it_completed() -> None:
    assert lines_of([b"1\n2\n3\n", b"4\n"]) == [[b"1", b"2", b"3"], [b"4"]]


def test_an_overlong_line_is_one_marker_and_its_bytes_are_not_kept() -> None:
    long = b"x" * 40
    groups = lines_of([b"ok\n" + long[:20], long[20:], b"\nafter\n"], max_line=16)
    assert [line for group in groups for line in group] == [b"ok", TOO_LONG, b"after"]


def test_an_overlong_last_line_without_newline_is_reported() -> None:
    assert lines_of([b"a\n", b"y" * 20], max_line=16) == [[b"a"], [TOO_LONG]]


def test_a_line_exactly_at_the_limit_is_kept() -> None:
    assert lines_of([b"z" * 16 + b"\n"], max_line=16) == [[b"z" * 16]]
