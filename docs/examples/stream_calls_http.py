"""Stream calls to flashcall over HTTP and print each result line as it comes.

    python docs/examples/stream_calls_http.py BASE_URL ACCESS_KEY FILE.ndjson

FILE.ndjson holds one call per line: {"phone": "+989121234567", "reference": "order-1"}
(`reference` is optional: your own id, which makes sending the line again safe). Each result
line is {"index": n, "reference": ..., "id": ..., "status": "queued"} or
{"index": n, "reference": ..., "error": {"code": ..., "detail": ...}}, in input order.

The body is sent while the results are read (aiohttp writes the request in its own task): a
client that sends its whole body before reading anything stalls once its unread results fill
the connection's buffers. Exits 0 if every line was accepted, 1 if some were refused, 2 if the
stream itself was refused.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp


async def read_file(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:  # noqa: ASYNC230 - a local file, read a chunk at a time
        while chunk := f.read(64 * 1024):
            yield chunk


async def stream(base_url: str, key: str, path: str) -> int:
    refused = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    # No overall timeout: a long stream is read at the key's rate.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(
            f"{base_url.rstrip('/')}/v1/calls/stream", data=read_file(path), headers=headers
        ) as response,
    ):
        if response.status != 200:
            print(await response.text(), file=sys.stderr)
            return 2
        async for line in response.content:
            print(line.decode().rstrip("\n"), flush=True)
            refused += b'"error"' in line
    return 1 if refused else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(asyncio.run(stream(*sys.argv[1:4])))
