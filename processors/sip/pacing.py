"""Pacing that holds a carrier's calls (or messages) per second: a trunk's CPS, the SMS
gateway's. The limit is the carrier's, so it is the whole platform's: with a database, every
dialer worker takes its starts from one schedule kept in PostgreSQL (SharedPacer); alone (tests
of a carrier by itself), a worker spaces its own (Pacer)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.faults import until_back

log = logging.getLogger(__name__)


class Pacing(Protocol):
    async def wait(self) -> None:
        """Return when the caller may start (callers queue: none is dropped)."""


class Pacer:
    """Spaces starts at least 1/rate seconds apart, in arrival order: never more than `rate`
    starts in any one-second window, and callers queue (backpressure) rather than drop."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            # From when this start really happens: a late wake-up never bunches the next one.
            self._next = time.monotonic() + self._gap


class SharedPacer:
    """Spaces the starts of every worker pacing `name` 1/rate seconds apart: each start takes
    the next free moment of the pacer's row in carrier_pace (under its row lock, for as long
    as one statement runs) and waits for it. A start is never early. A worker takes one moment
    at a time, none sooner than 1/rate after its own last start (as Pacer: its late wake-up
    never bunches its next start), so its starts keep their arrival order; across workers, the
    order they asked in. While PostgreSQL is away the caller waits for it (a start it cannot
    schedule is not made)."""

    def __init__(self, pool: AsyncConnectionPool, name: str, rate: float) -> None:
        self._pool = pool
        self._name = name
        self._gap = 1.0 / rate
        self._last = -float("inf")  # this worker's last start (monotonic)
        self._lock = asyncio.Lock()
        self._waited = metrics.PACE_WAIT.labels(name)

    async def wait(self) -> None:
        asked = time.monotonic()
        async with self._lock:
            own = max(0.0, self._last + self._gap - time.monotonic())
            delay = await self._reserve(own)
            if delay > 0:
                await asyncio.sleep(delay)
            self._last = time.monotonic()
        self._waited.observe(self._last - asked)

    async def _reserve(self, own: float) -> float:
        """Seconds until the moment taken: the pacer's next free one, and `own` seconds from
        now at the soonest (by the database's clock, so that workers agree); while PostgreSQL
        is away, once it is back."""
        return await until_back(
            lambda: self._take(own),
            lambda exc: log.warning("pacing %s: waiting for PostgreSQL: %r", self._name, exc),
            cap=2.0,
        )

    async def _take(self, own: float) -> float:
        # One statement: on the workers' autocommit pool, one round trip.
        async with self._pool.connection() as conn:
            taken = await conn.execute(
                "INSERT INTO carrier_pace AS p (pacer, next_at)"
                " VALUES (%(name)s, clock_timestamp() + make_interval(secs => %(own)s)"
                "   + make_interval(secs => %(gap)s))"
                " ON CONFLICT (pacer) DO UPDATE SET next_at = greatest(p.next_at,"
                "   clock_timestamp() + make_interval(secs => %(own)s))"
                "   + make_interval(secs => %(gap)s)"
                " RETURNING extract(epoch FROM p.next_at - clock_timestamp())::float8",
                {"name": self._name, "own": own, "gap": self._gap},
            )
            row = await taken.fetchone()
        assert row is not None
        return float(row[0]) - self._gap


def pacing(pool: AsyncConnectionPool | None, name: str, rate: float) -> Pacing:
    """The platform's pacing of `name` when there is a database, else this worker's own."""
    return Pacer(rate) if pool is None else SharedPacer(pool, name, rate)
