"""Calls, the main use case: place, read, retry and verify, with their read-your-writes
across replicas. The HTTP routes (api/routers/calls.py) and anything else that acts on calls
call these."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from core.call_rules import STATUS_RANK, CallStatus, code_ttl_seconds
from core.ids import derived_id
from front_door import queries
from front_door.call_checks import parse_phone
from front_door.context import READ_YOUR_WRITES_SECONDS, Context, behind, read_back
from front_door.directory import AccountView, KeyView
from front_door.idempotency import remembered, reused_with_another_body
from front_door.limits import retry_after
from front_door.many_calls import Item, resolve_references
from front_door.problems import ApiError, invalid, not_found
from front_door.single_call import (
    call_body,
    idempotent_call_id,
    place_call,
    placed_body,
    seconds_until,
)
from schemas.codec import new_event
from schemas.topics import CALL_REQUESTS

log = logging.getLogger(__name__)

# How long verify asks again while the decisions catch up with a call's request or ring.
CATCH_UP_SECONDS = 2.0


async def find_call(ctx: Context, call_id: uuid.UUID) -> dict[str, Any] | None:
    """A call, placed a moment ago perhaps through another replica: once the projection has
    applied every request the broker holds, a call still missing does not exist. The broker's
    high watermarks come from ListOffsets, which Tansu answers wrongly (too low): there the row
    is looked for FLASHCALL_READ_GRACE_MS longer before the answer is "none"."""
    row = await queries.call(ctx.pool, call_id)
    if row is not None:
        return row
    if not await ctx.projected_up_to_now(CALL_REQUESTS.name):
        raise behind()
    grace = ctx.settings.read_grace_ms / 1000
    return await ctx.eventually(lambda: queries.call(ctx.pool, call_id), grace)


async def key_call(ctx: Context, key: KeyView, call_id: uuid.UUID) -> dict[str, Any]:
    row = await find_call(ctx, call_id)
    if row is None or row["service_id"] != key.service_id:
        raise not_found("call")
    return row


async def place(
    ctx: Context,
    key: KeyView,
    raw_phone: str,
    reference: str | None,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Place a call (POST /v1/calls), and whether the answer is a replay. An `Idempotency-Key`
    means what it means on every create (front_door/idempotency.py): the same key and body
    within 24 h answer the first answer again, another body 422. A `reference` names one call
    for 24 h, with or without a key."""
    phone = parse_phone(ctx, raw_phone)
    if idempotency_key is None:
        return await _place(ctx, key, phone, reference, uuid.uuid4()), False
    call_id = idempotent_call_id(key, idempotency_key)
    return await remembered(
        ctx,
        f"calls:{key.id}",
        idempotency_key,
        {"phone": phone, "reference": reference},
        lambda: _place_once(ctx, key, phone, reference, call_id),
    )


async def _place_once(
    ctx: Context, key: KeyView, phone: str, reference: str | None, call_id: uuid.UUID
) -> dict[str, Any]:
    """A call whose id the Idempotency-Key fixes: two requests racing with one key name one
    call (the decisions place it once), and a key whose answer is no longer kept still names
    the call it placed."""
    earlier = await queries.call(ctx.pool, call_id)
    if earlier is not None:
        if earlier["phone"] != phone or earlier.get("reference") != reference:
            raise reused_with_another_body()
        return call_body(earlier, ctx.directory.services.get(key.service_id))
    return await _place(ctx, key, phone, reference, call_id)


async def _place(
    ctx: Context, key: KeyView, phone: str, reference: str | None, call_id: uuid.UUID
) -> dict[str, Any]:
    if reference is not None:
        return await create_with_reference(ctx, key, phone, reference)
    return placed_body(await place_call(ctx, key, phone, call_id))


async def create_with_reference(
    ctx: Context, key: KeyView, phone: str, reference: str
) -> dict[str, Any]:
    """A reference names one call for 24 h: the call it already names, or a new one."""
    item = Item(0, phone, reference)
    await resolve_references(ctx.pool, key.service_id, [item])
    if item.error is not None:
        raise ApiError(*item.error)
    if item.status is not None:
        assert item.call_id is not None
        earlier = await find_call(ctx, item.call_id)
        return call_body(read_back(earlier), ctx.directory.services.get(key.service_id))
    assert item.call_id is not None
    return placed_body(await place_call(ctx, key, phone, item.call_id, reference=reference))


async def read(ctx: Context, caller: KeyView | AccountView, call_id: uuid.UUID) -> dict[str, Any]:
    """A call as its key or its account may see it; right after placing, on any replica."""
    row = await find_call(ctx, call_id)
    if isinstance(caller, KeyView):
        allowed = row is not None and row["service_id"] == caller.service_id
    else:
        allowed = row is not None and row["account_id"] == caller.id
    if row is None or not allowed:
        raise not_found("call")
    return call_body(row, ctx.directory.services.get(row["service_id"]))


async def retry(ctx: Context, key: KeyView, call_id: uuid.UUID) -> dict[str, Any]:
    """A new call with a new code once the previous code can no longer be used."""
    previous = await key_call(ctx, key, call_id)
    status = previous["status"]
    if status == CallStatus.VERIFIED:
        raise invalid("the call is already verified")
    if status in (CallStatus.QUEUED, CallStatus.DIALING):
        service = ctx.directory.services.get(key.service_id)
        ttl = code_ttl_seconds(
            service.code_ttl_minutes if service else 1, ctx.settings.ttl_minute_seconds
        )
        raise ApiError("code_still_valid", "the call is still being placed", retry_after(ttl))
    if status == CallStatus.DELIVERED and previous["expires_at"] is not None:
        left = seconds_until(previous["expires_at"])
        if left > 0:
            raise ApiError("code_still_valid", "the code is still valid", retry_after(left))
    if previous["attempt"] >= ctx.settings.retry_chain_max:
        raise ApiError("retry_limit_reached", "this call has been retried as often as allowed")
    # One retry per call: retrying the same call again answers with the same new call.
    retry_id = derived_id(call_id, "retry")
    existing = await queries.retry_of(ctx.pool, call_id)
    if existing is not None:
        return call_body(existing, ctx.directory.services.get(key.service_id))
    placed = await place_call(ctx, key, previous["phone"], retry_id, retry=previous)
    return placed_body(placed)


async def next_channel(ctx: Context, key: KeyView, call_id: uuid.UUID) -> dict[str, Any]:
    """Start the call's next workflow step now (docs/workflows.md): the decisions do, once the
    step in progress has its outcome; the answer is the call as it stands."""
    call = await key_call(ctx, key, call_id)
    step, count = call.get("step") or 0, call.get("step_count") or 1
    if call["status"] not in OPEN_STATUSES:
        raise ApiError("no_next_channel", f"the call is {call['status']}: it has no next step")
    if step + 1 >= count:
        raise ApiError("no_next_channel", "the call is at the last step of its workflow")
    # Durable once appended; the decisions read it (the read model shows the step it starts).
    await ctx.append(
        new_event("NextChannelRequested", call_id=call_id, service_id=key.service_id, step=step)
    )
    return call_body(call, ctx.directory.services.get(key.service_id))


# A call still waiting for its code: another step may start.
OPEN_STATUSES = frozenset({CallStatus.QUEUED, CallStatus.DIALING, CallStatus.DELIVERED})


async def verify(ctx: Context, key: KeyView, call_id: uuid.UUID, code: str) -> dict[str, Any]:
    """Judge a code (the decisions do, exactly once per attempt) and answer once the read
    model shows the verdict."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        attempt_id = uuid.uuid4()
        reply = await ctx.ask(
            new_event(
                "VerificationAttempted",
                attempt_id=attempt_id,
                call_id=call_id,
                service_id=key.service_id,
                key_id=key.id,
                code=code,
            ),
            attempt_id,
        )
        verdict = reply.event
        # The decisions worker reads requests, attempts and dial outcomes on three topics: an
        # attempt can reach it before the call's request, or a code typed the moment the phone
        # rang before the delivery. Judged "no such call" or "not delivered" (neither costs an
        # attempt) while the projection already shows the call or the ring, the attempt is
        # asked again until the decisions catch up.
        if time.monotonic() > deadline or not await _decisions_behind(ctx, call_id, verdict):
            break
        await asyncio.sleep(0.02)
    if not verdict["found"]:
        raise not_found("call")
    await _read_model_shows(ctx, call_id, verdict)
    return {
        "id": call_id,
        "verified": verdict["verified"],
        "status": verdict["status"],
        "reason": verdict["reason"],
        "attempts_left": verdict["attempts_left"],
    }


async def _read_model_shows(ctx: Context, call_id: uuid.UUID, verdict: dict[str, Any]) -> None:
    """Until the read model shows the call as the verdict left it (its status, its attempts), so
    that a read after the answer, on any replica, shows it too. The verdict is never withheld:
    a read model more than READ_YOUR_WRITES_SECONDS behind is logged, and answered all the
    same."""
    rank = STATUS_RANK.get(verdict["status"], 0)

    async def shows() -> bool | None:
        row = await queries.call(ctx.pool, call_id)
        shown = (
            row is not None
            and STATUS_RANK[row["status"]] >= rank
            and row["verify_attempts"] >= verdict["verify_attempts"]
        )
        return True if shown else None

    if await ctx.eventually(shows, READ_YOUR_WRITES_SECONDS) is None:
        log.warning("answered a verification of %s before the read model showed it", call_id)


async def _decisions_behind(ctx: Context, call_id: uuid.UUID, verdict: dict[str, Any]) -> bool:
    """Whether the verdict says less than the projection already knows."""
    if verdict["found"] and verdict["reason"] != "not_delivered":
        return False
    projected = await queries.call(ctx.pool, call_id)
    if projected is None:
        return False
    return not verdict["found"] or projected["delivered_at"] is not None
