"""Timers that act on what falls due in PostgreSQL (codes expiring, workflow steps handing
over) without asking it between due moments: an idle platform stays quiet."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from runtime.outbox import Publisher

Sweep = Callable[[AsyncConnectionPool, Publisher], Awaitable[int]]
NextDue = Callable[[AsyncConnectionPool], Awaitable[datetime | None]]


class DueTimer:
    """Sweeps when something may be due: at the earliest due moment it knows of, and at least
    every `horizon` seconds (something made due after a look is due no sooner than that)."""

    def __init__(self, horizon: float, sweep: Sweep, next_due: NextDue) -> None:
        self._horizon = horizon
        self._sweep = sweep
        self._next_due = next_due
        self._look_at = 0.0  # time.monotonic() of the next look

    async def tick(self, pool: AsyncConnectionPool, publisher: Publisher) -> None:
        if time.monotonic() < self._look_at:
            return
        while await self._sweep(pool, publisher) > 0:
            pass
        due = await self._next_due(pool)
        wait = self._horizon
        if due is not None:
            wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        self._look_at = time.monotonic() + wait
