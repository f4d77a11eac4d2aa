"""Reading an NDJSON request body as it arrives, with bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

# A call line is well under a hundred bytes; a longer line is answered as invalid, and its
# bytes are not kept.
MAX_LINE_BYTES = 4096


class TooLong:
    """Stands for a line longer than the limit (its bytes were dropped)."""


TOO_LONG = TooLong()
Line = bytes | TooLong


async def line_groups(
    chunks: AsyncIterable[bytes], max_line: int = MAX_LINE_BYTES
) -> AsyncIterator[list[Line]]:
    """The non-blank lines of a byte stream, a group per chunk read (the lines that chunk
    completed). At most one partial line is held between chunks, and never more than
    `max_line` bytes of it: memory stays flat however long the stream."""
    partial = bytearray()
    overlong = False  # the current line is already past the limit: drop until its end
    async for chunk in chunks:
        group: list[Line] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            piece = chunk[start:end]
            if overlong or len(partial) + len(piece) > max_line:
                group.append(TOO_LONG)
            else:
                line = bytes(partial + piece) if partial else piece
                if line.strip():
                    group.append(line)
            partial.clear()
            overlong = False
            start = end + 1
        rest = chunk[start:]
        if not overlong:
            if len(partial) + len(rest) > max_line:
                overlong = True
                partial.clear()
            else:
                partial += rest
        if group:
            yield group
    if overlong:
        yield [TOO_LONG]
    elif partial.strip():
        yield [bytes(partial)]
