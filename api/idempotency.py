"""Idempotency-Key for management POSTs: the first response is kept 24 h and replayed.

Calls do not come through here: their id is derived from the key, so the call path writes
nothing to the database (see service_layer/calls.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb

from api.context import Context
from api.errors import ApiError, invalid

IDEMPOTENCY_HOURS = 24


MAX_KEY_LENGTH = 255
# Printable ASCII, no spaces at either end (HTTP trims them anyway).
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"

# The header as routes take it; FastAPI checks it (422) and OpenAPI documents it.
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Repeat a create with the same key and body within 24 h to get the first"
        " answer again instead of a second resource.",
    ),
]


def check_key(key: str) -> None:
    """For keys that do not come through `IdempotencyKey` (the panel's forms)."""
    # fullmatch: with re.match, "$" also matches before a trailing newline.
    if not re.fullmatch(KEY_PATTERN, key) or len(key) > MAX_KEY_LENGTH:
        raise invalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def reused_with_another_body() -> ApiError:
    return invalid("Idempotency-Key was used with another body")


def body_hash(body: Any) -> str:
    return hashlib.sha256(
        orjson.dumps(jsonable_encoder(body), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def created(answer: Any, replayed: bool, status: int = 201) -> JSONResponse:
    """The answer of a create that takes an Idempotency-Key: a replayed one says so
    (`Idempotent-Replayed: true`), the one place that header is written."""
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer, status_code=status, headers=headers)


async def remembered(
    ctx: Context,
    scope: str,
    key: str | None,
    body: Any,
    make: Callable[[], Awaitable[Any]],
    status: int = 201,
) -> tuple[Any, bool]:
    """What `make` answers (as JSON-ready values), or what it answered the first time this
    (scope, key) was used with the same body; and whether it is that replay."""
    if key is None:
        return jsonable_encoder(await make()), False
    check_key(key)
    digest = body_hash(body)
    async with ctx.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT body_hash, status, response FROM idempotency_keys WHERE scope = %s"
                " AND key = %s AND created_at > now() - make_interval(hours => %s)",
                (scope, key, IDEMPOTENCY_HOURS),
            )
        ).fetchone()
    if row is not None:
        if row[0] != digest:
            raise reused_with_another_body()
        return row[2], True
    response = jsonable_encoder(await make())
    async with ctx.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (scope, key, body_hash, status, response)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, key) DO UPDATE SET"
            " body_hash = EXCLUDED.body_hash, status = EXCLUDED.status,"
            " response = EXCLUDED.response, created_at = now()"
            " WHERE idempotency_keys.created_at <= now() - make_interval(hours => %s)",
            (scope, key, digest, status, Jsonb(response), IDEMPOTENCY_HOURS),
        )
    return response, False
