"""Expiry: turns delivered codes whose validity has passed into CodeExpired events.

It reads only the partial index of delivered codes in expiry order, so it never scans all calls,
and it works from PostgreSQL, so a restarted worker picks up every code that expired meanwhile.
SKIP LOCKED and the conditional update let any number of workers run it side by side. Between
expiries it does not ask PostgreSQL (an idle platform stays quiet): it looks again at the
earliest expiry it knows of, and at least every `horizon` seconds, since a code delivered after
a look expires no sooner than one TTL unit after its ring.
"""

from __future__ import annotations

from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus
from processors.decisions.shared import code_expired
from processors.due_timer import DueTimer
from runtime.outbox import Outbox, Publisher


async def expire_due(pool: AsyncConnectionPool, publisher: Publisher, limit: int = 500) -> int:
    """Expire up to `limit` due codes; returns how many."""
    outbox = Outbox()
    async with pool.connection() as conn, conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE proc_calls SET status = %s WHERE id IN ("
                "  SELECT id FROM proc_calls WHERE status = %s AND expires_at <= now()"
                "  ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED"
                ") RETURNING id, service_id",
                (CallStatus.EXPIRED, CallStatus.DELIVERED, limit),
            )
        ).fetchall()
        for call_id, service_id in rows:
            outbox.emit(code_expired(call_id, service_id))
        await outbox.write(conn)
    await publisher.publish(outbox)
    return len(rows)


async def next_expiry(pool: AsyncConnectionPool) -> datetime | None:
    """The earliest expiry of a delivered code, if any (from the partial index)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT min(expires_at) FROM proc_calls WHERE status = %s",
                (CallStatus.DELIVERED,),
            )
        ).fetchone()
    return row[0] if row else None


def expiry(horizon: float) -> DueTimer:
    """Expires due codes when one may be due (see the module's note)."""
    return DueTimer(horizon, expire_due, next_expiry)
