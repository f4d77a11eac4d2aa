"""Top-ups: credit added to a service once per top-up id, answered by CreditToppedUp."""

from __future__ import annotations

import psycopg

from core.ids import derived_id
from processors.service_book import ServiceBook, credit_event
from runtime.outbox import Outbox
from schemas.codec import Event, new_event


async def on_top_up(
    conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
) -> None:
    done = await (
        await conn.execute(
            "SELECT amount, reference, balance_after, credit_seq, created_at FROM proc_topups"
            " WHERE id = %s",
            (e["topup_id"],),
        )
    ).fetchone()
    if done is not None:
        # Asked again (same Idempotency-Key): answer again with the same event.
        amount, reference, balance_after, seq, at = done
        out.emit(
            new_event(
                "CreditToppedUp",
                event_id=str(derived_id(e["topup_id"], "CreditToppedUp")),
                occurred_at=at,
                topup_id=e["topup_id"],
                service_id=e["service_id"],
                amount=amount,
                reference=reference,
                balance_after=balance_after,
                credit_seq=seq,
            )
        )
        return
    await book.lock(conn, {e["service_id"]})
    state = book[e["service_id"]]
    state.credit.top_up(e["amount"])
    event = credit_event(
        "CreditToppedUp",
        e["topup_id"],
        state,
        topup_id=e["topup_id"],
        amount=e["amount"],
        reference=e["reference"],
        balance_after=state.credit.balance,
    )
    await conn.execute(
        "INSERT INTO proc_topups (id, service_id, amount, reference, balance_after,"
        " credit_seq, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            e["topup_id"],
            e["service_id"],
            e["amount"],
            e["reference"],
            state.credit.balance,
            event["credit_seq"],
            event["occurred_at"],
        ),
    )
    out.emit(event)
