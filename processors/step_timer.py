"""The step timer: a delivered workflow step whose timeout passed with no verification hands
over to the next step (docs/workflows.md). It marks the step "ending" and emits StepTimedOut;
the decisions start the next step (they alone reserve credit).

Like the expiry, it reads only a partial index (delivered steps waiting to hand over, in
deadline order), works from PostgreSQL so a restarted worker finds every deadline that passed
meanwhile, and lets any number of workers run it side by side (SKIP LOCKED, and the mark is
conditional). A deadline is set when a step starts, and a step may be delivered long after,
so it looks at least every `horizon` seconds (one indexed query; none finds nothing on an idle
platform), and sooner when it knows of an earlier deadline.
"""

from __future__ import annotations

from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus
from core.ids import derived_id
from processors.decisions.steps import StepStatus
from processors.due_timer import DueTimer
from runtime.outbox import Outbox, Publisher
from schemas.codec import new_event


async def hand_over_due(pool: AsyncConnectionPool, publisher: Publisher, limit: int = 500) -> int:
    """Mark up to `limit` delivered steps past their deadline as ending; returns how many."""
    outbox = Outbox()
    async with pool.connection() as conn, conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE proc_calls SET step_status = %s WHERE id IN ("
                "  SELECT id FROM proc_calls WHERE status = %s AND step_status = %s"
                "  AND step_deadline IS NOT NULL AND step_deadline <= now()"
                "  ORDER BY step_deadline LIMIT %s FOR UPDATE SKIP LOCKED"
                ") RETURNING id, service_id, step",
                (
                    StepStatus.ENDING,
                    CallStatus.DELIVERED,
                    StepStatus.DELIVERED,
                    limit,
                ),
            )
        ).fetchall()
        for call_id, service_id, step in rows:
            outbox.emit(
                new_event(
                    "StepTimedOut",
                    event_id=str(derived_id(call_id, f"StepTimedOut.{step}")),
                    call_id=call_id,
                    service_id=service_id,
                    step=step,
                )
            )
        await outbox.write(conn)
    await publisher.publish(outbox)
    return len(rows)


async def next_deadline(pool: AsyncConnectionPool) -> datetime | None:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT min(step_deadline) FROM proc_calls WHERE status = %s"
                " AND step_status = %s AND step_deadline IS NOT NULL",
                (CallStatus.DELIVERED, StepStatus.DELIVERED),
            )
        ).fetchone()
    return row[0] if row else None


def step_timer(horizon: float) -> DueTimer:
    """Hands delivered steps over when one may be due (see the module's note)."""
    return DueTimer(horizon, hand_over_due, next_deadline)
