"""Idempotency-Key for POSTs that create: the first answer is kept 24 h and replayed.

A key is claimed before anything is made (one statement), so two requests with one key never
both make it, whatever replica each reaches: while the first is being made, a second with the
same body is answered 409 `idempotency_key_in_use` (Retry-After: 1; asked again, it gets the
kept answer), one with another body 422, as Stripe does. A request that fails gives its claim
up (the key is free for a retry at once); the claim of a process that died while making is
taken over after CLAIM_STALE_SECONDS. Keys past their 24 h are removed (`forget`, by every
replica's housekeeping).

A failure may come after the create's event is durable (the read model behind, the process
killed). A retry must then answer what was made, not make a second: calls and top-ups derive
their ids from the key (service_layer/calls.py, credit.py), and the creates that draw ids and
secrets at random keep what they drew with the claim (`remembered_drawn`, front_door/drawn.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool
from pydantic_core import to_jsonable_python

from front_door import queries
from front_door.context import Context
from front_door.drawn import Drawn
from front_door.problems import ApiError, invalid

log = logging.getLogger(__name__)

IDEMPOTENCY_HOURS = 24
# Longer than a create takes but for its waits (an append waits at most 10 s for the broker,
# then FLASHCALL_READ_MODEL_WAIT_SECONDS twice at most): a claim this old most likely belongs to
# a process that died while making, and the key is claimed again. Should the first still be
# waiting, the retry makes the same event again (what the first drew is kept with the claim).
CLAIM_STALE_SECONDS = 30.0


# How many keys of each kind one statement of `forget` removes (one short transaction each).
FORGET_SLICE = 10_000

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


async def forget(pool: AsyncConnectionPool) -> int:
    """Remove every key past its IDEMPOTENCY_HOURS (its answer would not be replayed, nor
    what its claim drew kept), a slice at a time; how many."""
    forgotten = 0
    while removed := await queries.forget_idempotency_keys(pool, IDEMPOTENCY_HOURS, FORGET_SLICE):
        forgotten += removed
    if forgotten:
        log.info("forgot %d Idempotency-Keys past their %d h", forgotten, IDEMPOTENCY_HOURS)
    return forgotten


async def _release(ctx: Context, scope: str, key: str, claimed: datetime) -> None:
    """Give the claim up; if PostgreSQL cannot be told now, the claim lapses after
    CLAIM_STALE_SECONDS (the request's own error is what its client hears)."""
    try:
        await queries.release_key(ctx.pool, scope, key, claimed)
    except Exception as exc:
        log.warning("Idempotency-Key claim in %s left to lapse: %r", scope, exc)


def reused_with_another_body() -> ApiError:
    return invalid("Idempotency-Key was used with another body")


def in_use() -> ApiError:
    return ApiError(
        "idempotency_key_in_use",
        "another request with this Idempotency-Key is being made; ask again for its answer",
        {"Retry-After": "1"},
    )


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
) -> tuple[Any, bool]:
    """What `make` answers (as JSON-ready values), or what it answered the first time this
    (scope, key) was used with the same body; and whether it is that replay."""
    return await _remember(ctx, scope, key, body, None, lambda _: make())


async def remembered_drawn(
    ctx: Context,
    scope: str,
    key: str | None,
    body: Any,
    draw_new: Callable[[], Drawn],
    make: Callable[[Drawn], Awaitable[Any]],
) -> tuple[Any, bool]:
    """As `remembered`, for a create that draws ids or a secret (`draw_new`): `make` is given
    what the key's first request with this body drew, or a new draw."""

    async def made(drawn: Drawn | None) -> Any:
        assert drawn is not None
        return await make(drawn)

    return await _remember(ctx, scope, key, body, draw_new, made)


async def _remember(
    ctx: Context,
    scope: str,
    key: str | None,
    body: Any,
    draw_new: Callable[[], Drawn] | None,
    make: Callable[[Drawn | None], Awaitable[Any]],
) -> tuple[Any, bool]:
    new = draw_new() if draw_new is not None else None
    if key is None:
        return jsonable(await make(new)), False
    check_key(key)
    digest = body_hash(body)
    claim = await queries.claim_key(
        ctx.pool,
        scope,
        key,
        digest,
        IDEMPOTENCY_HOURS,
        CLAIM_STALE_SECONDS,
        None if new is None else new.to_json(),
    )
    if claim is None:
        kept = await queries.kept_answer(ctx.pool, scope, key)
        if kept is not None and kept.body_hash != digest:
            raise reused_with_another_body()
        if kept is None or kept.status == queries.CLAIMED:
            raise in_use()
        return kept.response, True
    drawn = None if claim.drawn is None else Drawn.from_json(claim.drawn)
    try:
        response = jsonable(await make(drawn))
    except BaseException:
        await _release(ctx, scope, key, claim.claimed_at)
        raise
    await queries.keep_answer(ctx.pool, scope, key, claim.claimed_at, 201, response)
    return response, False
