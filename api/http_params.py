"""What routes take from HTTP beyond their bodies, as FastAPI checks (422) and OpenAPI
documents it: paging parameters and the Idempotency-Key header; and the answer of a create
that takes the header. Kept apart so that what the Kafka ingress shares with the API loads no
FastAPI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from front_door.idempotency import KEY_PATTERN, MAX_KEY_LENGTH

Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=200)]

# The header as routes take it; FastAPI checks it (422) and OpenAPI documents it.
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Repeat a create with the same key and body within 24 h to get the first"
        " answer again instead of a second resource. While the first request with the key is"
        " still being made, another is answered 409 `idempotency_key_in_use` (Retry-After).",
    ),
]


def created(answer: Any, replayed: bool, status: int = 201) -> JSONResponse:
    """The answer of a create that takes an Idempotency-Key: a replayed one says so
    (`Idempotent-Replayed: true`), the one place that header is written."""
    return JSONResponse(answer, status_code=status, headers=_replay_headers(replayed))


def created_as(model: type[BaseModel], answer: Any, replayed: bool) -> Response:
    """`created` through a response model, serialised by it (pydantic's own JSON, as compact
    as JSONResponse's, without the detour through Python objects)."""
    body = model.model_validate(answer).model_dump_json().encode()
    return Response(
        body, status_code=201, media_type="application/json", headers=_replay_headers(replayed)
    )


def _replay_headers(replayed: bool) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if replayed else None
