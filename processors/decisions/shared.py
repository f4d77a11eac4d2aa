"""What every part of the decisions shares: their settings, the state "admitted", events whose
ids are fixed by the event that caused them, and the shape of a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from core.caller_ranges import HealthRules
from core.fraud import FraudRules
from core.ids import derived_id
from processors.service_book import ServiceBook
from runtime.outbox import Outbox
from schemas.codec import Event, new_event

# proc_calls.status adds "admitted" (decided, being dialled) to the public statuses; the
# projection alone tells queued from dialing.
ADMITTED = "admitted"


@dataclass(frozen=True)
class DecisionRules:
    phone_calls_per_hour: int
    retry_chain_max: int
    verify_max_attempts: int
    ttl_minute_seconds: float
    default_total_credit_limit: int  # for accounts whose operator set none
    fraud: FraudRules
    # The caller ranges' health rule (docs/ranges.md).
    ranges: HealthRules = field(default_factory=HealthRules)


def derived(event_type: str, source: Event, **fields: Any) -> Event:
    """An event caused by `source`, with an id fixed by it (so a replay re-creates the same id)."""
    return new_event(event_type, event_id=str(derived_id(source["event_id"], event_type)), **fields)


# Handles a run of consecutive events of its types, in the batch's transaction.
RunHandler = Callable[[psycopg.AsyncConnection, list[Event], Outbox, ServiceBook], Awaitable[None]]
EventHandler = Callable[[psycopg.AsyncConnection, Event, Outbox, ServiceBook], Awaitable[None]]


def each(handler: EventHandler) -> RunHandler:
    """A run handler applying `handler` to each event of the run in turn."""

    async def run(
        conn: psycopg.AsyncConnection, events: list[Event], out: Outbox, book: ServiceBook
    ) -> None:
        for event in events:
            await handler(conn, event, out, book)

    return run


async def ignore(*_: Any) -> None:
    """Delivered with events this consumer needs, and nothing to it."""


def code_expired(call_id: Any, service_id: Any) -> Event:
    """CodeExpired has one id per call, whoever notices the expiry first."""
    return new_event(
        "CodeExpired",
        event_id=str(derived_id(call_id, "CodeExpired")),
        call_id=call_id,
        service_id=service_id,
    )
