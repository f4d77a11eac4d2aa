"""Access key: many calls in one request, as a JSON batch or a streamed NDJSON body.

Each item is answered as `POST /v1/calls` would answer it, in input order
(front_door/many_calls.py).
The stream answers while it reads: a chunk's answers go out once its calls are durable, and the
next chunk is read only then, so a client that sends faster than its key's rate is read more
slowly rather than refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.auth import AccessKey, Ctx
from api.models import CallBatchIn, CallBatchOut
from api.ndjson import TooLong, line_groups
from api.openapi import problems
from front_door.context import Context
from front_door.directory import KeyView
from front_door.many_calls import Item, KeyRate, count_items, place_items, read_item
from front_door.problems import ApiError

router = APIRouter(prefix="/v1/calls", tags=["access key"])

NDJSON = "application/x-ndjson"
# Lines decided and appended together (a larger chunk from the network is cut into these).
STREAM_CHUNK = 1000


@router.post(
    "/batch",
    response_model=CallBatchOut,
    responses=problems("unauthorized", "invalid_request"),
)
async def create_batch(body: CallBatchIn, ctx: Ctx, key: AccessKey) -> dict[str, Any]:
    """Up to 1,000 calls; each item answered in input order. Items over the key's rate are
    answered `rate_limited` (send them again later); the others are placed."""
    items = [read_item(index, value) for index, value in enumerate(body.calls)]
    await place_items(ctx, key, items, KeyRate.REFUSE)
    count_items("batch", items)
    return {"results": [item.body() for item in items]}


class DuplexResponse(StreamingResponse):
    """A streamed answer written while the request body is still being read. Starlette's own
    would also read the request to notice a disconnect, taking the body from the handler; here
    a disconnect shows as ClientDisconnect where the body is read."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


@router.post(
    "/stream",
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "One result line per input line, in input order, streamed.",
        },
        **problems("unauthorized", "unsupported_media_type", "invalid_request"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            # Any bytes: each line is answered on its own, a line that is no call included.
            "content": {NDJSON: {"schema": {}}},
            "description": 'One call per line: {"phone": "...", "reference": "..."}.',
        }
    },
)
async def create_stream(request: Request, ctx: Ctx, key: AccessKey) -> StreamingResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != NDJSON:
        raise ApiError("unsupported_media_type", f"send the calls as {NDJSON}, one per line")
    return DuplexResponse(answer_stream(ctx, key, request), media_type=NDJSON)


async def answer_stream(ctx: Context, key: KeyView, request: Request) -> AsyncIterator[bytes]:
    index = 0
    try:
        async for lines in line_groups(request.stream()):
            for start in range(0, len(lines), STREAM_CHUNK):
                items = []
                for line in lines[start : start + STREAM_CHUNK]:
                    items.append(read_line(index, line))
                    index += 1
                await place_items(ctx, key, items, KeyRate.PACE)
                count_items("stream", items)
                yield b"".join(orjson.dumps(item.body()) + b"\n" for item in items)
    except ClientDisconnect:
        return  # what was answered stands; the rest was never read


def read_line(index: int, line: bytes | TooLong) -> Item:
    if isinstance(line, TooLong):
        item = Item(index)
        item.refuse("invalid_request", "the line is too long for a call")
        return item
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        item = Item(index)
        item.refuse("invalid_request", "the line is not JSON")
        return item
    return read_item(index, value)
