"""Dial outcomes: a delivered call is charged, a failed one gives its reservation back."""

from __future__ import annotations

import psycopg

from core.call_rules import CallStatus
from core.ids import derived_id
from processors.decisions.shared import ADMITTED
from processors.service_book import ServiceBook, credit_event
from runtime.outbox import Outbox
from schemas.codec import Event, new_event


async def record_outcomes(
    conn: psycopg.AsyncConnection,
    outcomes: list[Event],
    out: Outbox,
    book: ServiceBook,
) -> None:
    """A run of dial outcomes: a delivered call is charged (exactly once: only the move
    out of "admitted" charges), a failed one gives its reservation back."""
    await book.lock(conn, {e["service_id"] for e in outcomes})
    rows = await (
        await conn.execute(
            "UPDATE proc_calls p SET status = o.status, expires_at = o.expires_at"
            " FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[])"
            " AS o(id, status, expires_at)"
            " WHERE p.id = o.id AND p.status = %s"
            " RETURNING p.id, p.service_id, p.status, p.price",
            (
                [e["call_id"] for e in outcomes],
                [
                    CallStatus.DELIVERED
                    if e["event_type"] == "CallDelivered"
                    else CallStatus.FAILED
                    for e in outcomes
                ],
                [e.get("expires_at") for e in outcomes],
                ADMITTED,
            ),
        )
    ).fetchall()
    for call_id, service_id, status, price in sorted(rows, key=lambda r: str(r[0])):
        state = book[service_id]
        if status == CallStatus.DELIVERED:
            state.credit.debit(price)
            out.emit(
                credit_event(
                    "CreditDebited",
                    call_id,
                    state,
                    call_id=call_id,
                    amount=price,
                    balance_after=state.credit.balance,
                )
            )
        else:
            state.credit.release(price)
            out.emit(
                new_event(
                    "CreditReleased",
                    event_id=str(derived_id(call_id, "CreditReleased")),
                    call_id=call_id,
                    service_id=service_id,
                    amount=price,
                )
            )
