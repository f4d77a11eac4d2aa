"""Placing many calls at once: the batch and NDJSON endpoints and the Kafka ingress.

Each item goes through the checks of `POST /v1/calls` (front_door/call_checks.py) and gets its own
answer, in input order: an id, or an error with the code the single endpoint would have
answered. The checks are made for a whole chunk of items, and the calls that pass are appended
together (one produce, one wake-up), which is what makes a streamed call cheap. A reference
names one call of a service for REFERENCE_HOURS: asking again with it answers that call and
rings no one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.call_rules import CallStatus
from core.ids import derived_id
from core.number_pool import caller_prefix
from core.phones import MAX_INPUT, InvalidPhone, normalise
from core.references import REFERENCE_HOURS, reference_problem
from core.workflow import workflow_of
from front_door import queries
from front_door.call_checks import (
    active_service,
    check_credit,
    check_destination,
    request_event,
)
from front_door.context import Context
from front_door.directory import KeyView, ServiceView
from front_door.problems import ApiError
from front_door.queries import ReferencedCall
from producers.event_producer import Appended, to_record
from schemas.codec import Event

REFERENCE_ELSEWHERE = "reference: it already names a call to another phone"


class KeyRate(StrEnum):
    """What an item over the access key's rate gets."""

    PACE = "pace"  # waits for its turn (the stream and the Kafka ingress read more slowly)
    REFUSE = "refuse"  # rate_limited (the batch endpoint answers at once)


@dataclass
class Item:
    """One requested call and, once placed, its answer."""

    index: int
    phone: str | None = None  # as sent, then normalised
    reference: str | None = None
    call_id: uuid.UUID | None = None
    status: str | None = None
    error: tuple[str, str] | None = None  # (code, detail)
    event: Event | None = None  # the CallRequested to append, if the item places a call
    phone_taken: bool = False  # the phone rule counts it (given back if it is not placed)
    same_as: Item | None = None  # an earlier item of the chunk with the same reference
    # What an app recognises the call by (core.number_pool.caller_prefix), once it has one.
    caller_prefix: str | None = None
    code_length: int | None = None
    channel: str | None = None  # the step in progress (the workflow's first, when placed)

    @property
    def pending(self) -> bool:
        return self.error is None and self.status is None and self.same_as is None

    def refuse(self, code: str, detail: str) -> None:
        self.error = (code, detail)

    def body(self) -> dict[str, Any]:
        """The item's answer as the contract shows it."""
        if self.error is not None:
            code, detail = self.error
            return {
                "index": self.index,
                "reference": self.reference,
                "error": {"code": code, "detail": detail},
            }
        return {
            "index": self.index,
            "reference": self.reference,
            "id": str(self.call_id),
            "status": self.status,
            "caller_prefix": self.caller_prefix,
            "code_length": self.code_length,
            "channel": self.channel,
        }

    def answer(
        self,
        call_id: uuid.UUID | None,
        status: str,
        caller: str | None,
        length: int | None,
        channel: str | None,
    ) -> None:
        """Answer with a call: its id, status, channel and what an app recognises it by."""
        self.call_id, self.status, self.code_length = call_id, status, length
        self.caller_prefix = caller_prefix(caller, length) if caller and length else None
        self.channel = channel

    def placed(self) -> None:
        """Answer with the call its CallRequested places."""
        e = self.event
        assert e is not None
        first = workflow_of(e.get("workflow"))[0].channel.value
        self.answer(self.call_id, CallStatus.QUEUED, e["caller_number"], e["code_length"], first)


def read_item(index: int, value: object) -> Item:
    """An item from a decoded JSON value: an object with a `phone` and maybe a `reference`,
    nothing else (invalid_request otherwise, as for the single endpoint)."""
    item = Item(index)
    if not isinstance(value, dict):
        item.refuse("invalid_request", "each call is a JSON object with a phone")
        return item
    reference = value.get("reference")
    if isinstance(reference, str):
        item.reference = reference
    unknown = sorted(set(value) - {"phone", "reference"})
    phone = value.get("phone")
    if unknown:
        item.refuse("invalid_request", f"unknown field {unknown[0]!r}")
    elif not isinstance(phone, str) or not phone:
        item.refuse("invalid_request", "phone: a string is required")
    elif len(phone) > MAX_INPUT:
        item.refuse("invalid_request", f"phone: at most {MAX_INPUT} characters")
    else:
        item.phone = phone
        problem = reference_problem(reference)
        if problem is not None:
            item.refuse("invalid_request", f"reference: {problem}")
    if item.reference is not None and reference_problem(item.reference) is not None:
        item.reference = None  # echoed only if it could be stored (it is shown in the answer)
    return item


async def decide(
    ctx: Context, key: KeyView, items: list[Item], key_rate: KeyRate, *, derive: str | None = None
) -> None:
    """Check every pending item as `POST /v1/calls` would; an item that passes gets its id and
    the CallRequested to append (`event`). `derive` fixes the ids of calls without a
    reference (the Kafka ingress: the request's position), so that reading a request again
    places the same call."""
    pending = [i for i in items if i.pending]
    for item in pending:
        try:
            item.phone = normalise(item.phone or "", ctx.settings.default_region)
        except InvalidPhone as exc:
            item.refuse("invalid_phone", str(exc))
    try:
        service = await active_service(ctx, key, test=True)
    except ApiError as exc:
        refuse_all(pending, exc)
        return
    # A test number's call costs nothing: a cut-off service still places it.
    tests = {i.index for i in pending if i.error is None and is_test(ctx, service, i)}
    try:
        await check_credit(ctx, service)
    except ApiError as exc:
        refuse_all([i for i in pending if i.index not in tests], exc)
    await resolve_references(ctx.pool, service.id, [i for i in pending if i.error is None])
    eligible: list[Item] = []
    for item in pending:
        if not item.pending:
            continue
        assert item.phone is not None
        if item.call_id is None:
            item.call_id = derived_id(derive, item.index) if derive else uuid.uuid4()
        if item.index in tests:  # rings no one: no limit counts it, no destination rule applies
            item.event = request_event(
                ctx, key, service, item.phone, item.call_id, reference=item.reference
            )
            item.placed()
            continue
        try:
            check_destination(ctx, service, item.phone)
        except ApiError as exc:
            item.refuse(exc.code, exc.detail)
            continue
        eligible.append(item)
    while eligible:
        takes = await ctx.limits.take_calls(
            key.id, service.id, [(i.phone or "", i.call_id or uuid.UUID(int=0)) for i in eligible]
        )
        for item, phone_wait in zip(eligible, takes.phone_waits, strict=False):
            if phone_wait:
                item.refuse("rate_limited", "too many calls to this phone number")
                continue
            assert item.phone is not None and item.call_id is not None
            item.phone_taken = True
            item.event = request_event(
                ctx,
                key,
                service,
                item.phone,
                item.call_id,
                reference=item.reference,
                occurred_at=takes.decided_at,
            )
            item.placed()
        eligible = eligible[takes.granted :]
        if eligible and key_rate is KeyRate.REFUSE:
            for item in eligible:
                item.refuse("rate_limited", "too many calls for this access key")
            return
        if eligible:  # paced: the rest wait for the key's rate (one rate for every replica)
            await asyncio.sleep(takes.key_wait)


def is_test(ctx: Context, service: ServiceView, item: Item) -> bool:
    return item.phone is not None and ctx.directory.test_code(service.id, item.phone) is not None


def refuse_all(items: list[Item], exc: ApiError) -> None:
    for item in items:
        if item.error is None:
            item.refuse(exc.code, exc.detail)


async def resolve_references(
    pool: AsyncConnectionPool, service_id: uuid.UUID, items: list[Item]
) -> None:
    """Give each item with a reference the id it names. A reference already used within
    REFERENCE_HOURS answers that call (nothing is placed; `call_id` and `status` set, `event`
    left empty); otherwise the id is derived from the reference (and from the call it named
    before, if any), so two requests racing with one reference name one call, which the
    decisions place once. Within a chunk, a reference's later items answer as its first
    does (`same_as`, settled by `copy_duplicates`)."""
    named = [i for i in items if i.reference is not None]
    if not named:
        return
    references = sorted({i.reference for i in named if i.reference is not None})
    latest = await queries.latest_calls_by_reference(pool, service_id, references)
    since = datetime.now(UTC) - timedelta(hours=REFERENCE_HOURS)
    first: dict[str, Item] = {}
    for item in named:
        assert item.reference is not None
        earlier = first.get(item.reference)
        if earlier is not None:
            item.same_as = earlier
            continue
        first[item.reference] = item
        known = latest.get(item.reference)
        if known is not None and known.created_at > since:
            answer_as(item, known)
        else:
            item.call_id = derived_id(
                known.id if known else service_id, "reference", item.reference
            )


def answer_as(item: Item, known: ReferencedCall) -> None:
    """Answer `item` with the call its reference already names (same phone only)."""
    if known.phone != item.phone:
        item.refuse("invalid_request", REFERENCE_ELSEWHERE)
    else:
        item.answer(known.id, known.status, known.caller_number, known.code_length, known.channel)


def copy_duplicates(items: list[Item]) -> None:
    """Items that repeat an earlier item's reference answer as it did (same phone only)."""
    for item in items:
        first = item.same_as
        if first is None:
            continue
        if first.error is not None:
            item.error = first.error
        elif first.phone != item.phone:
            item.refuse("invalid_request", REFERENCE_ELSEWHERE)
        else:
            item.call_id, item.status = first.call_id, first.status or CallStatus.QUEUED
            item.caller_prefix, item.code_length = first.caller_prefix, first.code_length
            item.channel = first.channel


async def append_placed(ctx: Context, items: list[Item]) -> None:
    """Append the calls the items place, together; an item whose call the broker did not
    take is answered `unavailable` (asking again with its reference is safe)."""
    placing = [i for i in items if i.event is not None]
    if not placing:
        return
    outcomes = await ctx.producer.append_each([to_record(i.event) for i in placing if i.event])
    not_taken = []
    for item, outcome in zip(placing, outcomes, strict=True):
        if not isinstance(outcome, Appended):
            if item.phone_taken and item.call_id is not None:
                not_taken.append(item.call_id)
            item.event = item.call_id = item.status = item.caller_prefix = item.channel = None
            item.code_length = None
            item.refuse("unavailable", "the broker did not take the call; send it again")
    await ctx.limits.give_back_calls(not_taken)


def count_items(way: str, items: list[Item]) -> None:
    """The items' outcomes, for flashcall_stream_requests_total."""
    outcomes: dict[str, int] = {}
    for item in items:
        outcome = item.error[0] if item.error is not None else "accepted"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for outcome, n in outcomes.items():
        metrics.STREAM_REQUESTS.labels(way, outcome).inc(n)


async def place_items(ctx: Context, key: KeyView, items: list[Item], key_rate: KeyRate) -> None:
    """Decide and append a chunk of items (HTTP): each ends with an id or an error."""
    await decide(ctx, key, items, key_rate)
    await append_placed(ctx, items)
    copy_duplicates(items)
