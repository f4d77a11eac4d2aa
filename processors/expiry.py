"""Expiry: turns delivered codes whose validity has passed into CodeExpired events.

It reads only the partial index of delivered codes in expiry order, so it never scans all calls,
and it works from PostgreSQL, so a restarted worker picks up every code that expired meanwhile.
SKIP LOCKED and the conditional update let any number of workers run it side by side.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus
from processors.decisions import code_expired
from processors.outbox import Outbox, Publisher


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
