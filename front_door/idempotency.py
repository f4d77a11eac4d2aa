"""Idempotency-Key for management POSTs: the first response is kept 24 h and replayed.

Calls do not come through here: their id is derived from the key, so the call path writes
nothing to the database (see service_layer/calls.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic_core import to_jsonable_python

from front_door import queries
from front_door.context import Context
from front_door.problems import ApiError, invalid

IDEMPOTENCY_HOURS = 24


MAX_KEY_LENGTH = 255
# Printable ASCII, no spaces at either end (HTTP trims them anyway).
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"


def jsonable(value: Any) -> Any:
    """`value` as JSON would carry it (UUIDs and times as strings: RFC 3339, +00:00), to keep
    and replay an answer exactly."""
    return orjson.loads(orjson.dumps(value, default=to_jsonable_python))


def valid_key(key: str) -> bool:
    """Whether `key` is one an Idempotency-Key may be (as `IdempotencyKey` checks it)."""
    # fullmatch: with re.match, "$" also matches before a trailing newline.
    return len(key) <= MAX_KEY_LENGTH and re.fullmatch(KEY_PATTERN, key) is not None


def check_key(key: str) -> None:
    """For keys that do not come through `IdempotencyKey` (the panel's forms)."""
    if not valid_key(key):
        raise invalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def reused_with_another_body() -> ApiError:
    return invalid("Idempotency-Key was used with another body")


def body_hash(body: Any) -> str:
    return hashlib.sha256(
        orjson.dumps(body, default=to_jsonable_python, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


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
        return jsonable(await make()), False
    check_key(key)
    digest = body_hash(body)
    row = await queries.remembered_answer(ctx.pool, scope, key, IDEMPOTENCY_HOURS)
    if row is not None:
        if row[0] != digest:
            raise reused_with_another_body()
        return row[2], True
    response = jsonable(await make())
    await queries.remember_answer(ctx.pool, scope, key, digest, status, response, IDEMPOTENCY_HOURS)
    return response, False
