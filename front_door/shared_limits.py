"""Limits that hold for the platform as a whole, however many API replicas there are: an access
key's calls per second, the phone-per-hour rule, the panel's sign-in attempts, and through them
the pacing of streams and batches (docs/scaling.md).

Their counts live in PostgreSQL (migration 017: `take_calls`, `take_rate`), on its clock, taken
under a lock per key or phone, so two replicas never both grant the last call of a window. The
phone rule counts what the decisions count: calls it let through that the decisions did not
reject. While PostgreSQL is away the call path does not stop: each replica grants its share of
a limit alone (the limit divided by the replicas seen live), so the platform as a whole still
never exceeds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from core.call_rules import PHONE_WINDOW_SECONDS
from core.faults import is_transient
from core.settings import Settings
from front_door.fleet import Fleet
from front_door.limits import PerWindow

log = logging.getLogger(__name__)

# After PostgreSQL failed a take, takes are made alone for this long before it is asked again.
AWAY_SECONDS = 1.0
# How long a take waits for a connection before it is made alone, and for PostgreSQL's answer.
CONNECTION_SECONDS = 1.0
STATEMENT_MS = 2000


@dataclass(frozen=True)
class CallTakes:
    """What the limits say of calls asked for together, in order."""

    granted: int  # how many of them (the first ones) the key's rate lets through
    key_wait: float  # seconds until the key's rate lets more through (when not all were)
    phone_waits: list[float]  # each granted call: 0 if the phone rule lets it through, else
    # the seconds until it would
    decided_at: datetime | None = None  # PostgreSQL's clock (None: decided alone)

    def part(self, first: int, n: int) -> CallTakes:
        """What these takes say of the `n` calls from `first` on (taken together with others,
        in order: the key's rate granted the first `granted` of all of them)."""
        granted = max(0, min(n, self.granted - first))
        waits = self.phone_waits[first : first + granted]
        return CallTakes(granted, self.key_wait, waits, self.decided_at)


# Calls asked for together by one request, and where their takes go.
Waiting = tuple[list[tuple[str, uuid.UUID]], "asyncio.Future[CallTakes]"]


class Connections:
    """The limits' own few connections, each used by one take at a time. Not a pool: handing a
    pooled connection out and back costs more CPU than the take itself (about 230 µs against
    250 µs here). Requests that wait for the database in other ways never hold a take up, so a
    take that gets no connection within CONNECTION_SECONDS means PostgreSQL is away."""

    def __init__(self, database_url: str, size: int = 2) -> None:
        self.database_url = database_url
        self._free: asyncio.LifoQueue[psycopg.AsyncConnection[Any] | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._free.put_nowait(None)  # connected when first used

    @contextlib.asynccontextmanager
    async def connection(
        self,
        timeout: float = CONNECTION_SECONDS,  # noqa: ASYNC109 - as psycopg_pool's (tests use pools)
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            conn = await asyncio.wait_for(self._free.get(), timeout)
        except TimeoutError as exc:  # every connection busy that long: PostgreSQL is not answering
            raise PoolTimeout(f"no connection of the limits' within {timeout} s") from exc
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(
                    self.database_url,
                    autocommit=True,
                    connect_timeout=max(1, int(timeout)),
                    options=f"-c statement_timeout={STATEMENT_MS}",
                )
            yield conn
        except BaseException:
            if conn is not None:
                await conn.close()  # in an unknown state: a new one next time
            conn = None
            raise
        finally:
            self._free.put_nowait(conn)

    async def open(self) -> None:
        """Connect every connection now (the first burst of calls should not wait for it);
        one that cannot is connected when first used."""
        async with contextlib.AsyncExitStack() as held:  # all at once: the queue is LIFO
            for _ in range(self._free.qsize()):
                with contextlib.suppress(Exception):
                    await held.enter_async_context(self.connection())

    async def close(self) -> None:
        while not self._free.empty():
            conn = self._free.get_nowait()
            if conn is not None:
                await conn.close()


class SharedLimits:
    """The limits of one replica, taken on `pool` (the limits' own `Connections`)."""

    def __init__(self, pool: Any, settings: Settings, fleet: Fleet) -> None:
        self.pool = pool
        self.settings = settings
        self.fleet = fleet
        self._away_until = 0.0
        # Used only while PostgreSQL is away.
        self._alone: dict[tuple[str, int, float], PerWindow] = {}
        # Requests waiting for a take of their key, and the keys with a take on its way.
        self._waiting: dict[
            tuple[uuid.UUID, uuid.UUID],
            list[tuple[list[tuple[str, uuid.UUID]], asyncio.Future[CallTakes]]],
        ] = {}
        self._taking: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def take_calls(
        self, key_id: uuid.UUID, service_id: uuid.UUID, calls: Sequence[tuple[str, uuid.UUID]]
    ) -> CallTakes:
        """The key's rate for len(calls) calls, then the phone rule for each granted one;
        `calls` are (phone, call id).

        Requests of one key wait while a take of that key is on its way, then go together in
        one round trip (in the order they came): a busy key costs one take per round trip,
        not one per call, and a lone request goes at once."""
        if not calls:
            return CallTakes(0, 0.0, [])
        if self._away():
            return self._take_calls_alone(key_id, service_id, calls)
        waiting = self._waiting.setdefault((key_id, service_id), [])
        future: asyncio.Future[CallTakes] = asyncio.get_running_loop().create_future()
        waiting.append((list(calls), future))
        if len(waiting) == 1 and (key_id, service_id) not in self._taking:
            self._taking.add((key_id, service_id))
            task = asyncio.create_task(self._take_waiting(key_id, service_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _take_waiting(self, key_id: uuid.UUID, service_id: uuid.UUID) -> None:
        """Take for the key's waiting requests, together, until none waits."""
        try:
            while waiting := self._waiting.pop((key_id, service_id), []):
                together = [call for calls, _ in waiting for call in calls]
                try:
                    takes = await self._take_calls_now(key_id, service_id, together)
                except Exception as exc:
                    for _, future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                first = 0
                for calls, future in waiting:
                    if not future.done():
                        future.set_result(takes.part(first, len(calls)))
                    first += len(calls)
        finally:
            self._taking.discard((key_id, service_id))

    async def _take_calls_now(
        self, key_id: uuid.UUID, service_id: uuid.UUID, calls: Sequence[tuple[str, uuid.UUID]]
    ) -> CallTakes:
        if not self._away():
            try:
                async with self.pool.connection(timeout=CONNECTION_SECONDS) as conn:
                    row = await (
                        await conn.execute(
                            "SELECT granted, key_wait_ms, phone_wait_ms, decided_at"
                            " FROM take_calls(%s, %s, %s, %s::text[], %s::uuid[], %s, %s)",
                            (
                                str(key_id),
                                self.settings.key_calls_per_second,
                                service_id,
                                [phone for phone, _ in calls],
                                [call_id for _, call_id in calls],
                                self.settings.phone_calls_per_hour,
                                int(PHONE_WINDOW_SECONDS * 1000),
                            ),
                        )
                    ).fetchone()
                assert row is not None
                return CallTakes(int(row[0]), row[1] / 1000, [w / 1000 for w in row[2]], row[3])
            except Exception as exc:
                self._went_away(exc)
        return self._take_calls_alone(key_id, service_id, calls)

    async def give_back_calls(self, call_ids: Sequence[uuid.UUID]) -> None:
        """The phone rule's takes of calls that were never placed (the broker did not take
        them): they count for nothing."""
        if not call_ids:
            return
        try:
            async with self.pool.connection(timeout=CONNECTION_SECONDS) as conn:
                await conn.execute(
                    "DELETE FROM phone_takes WHERE call_id = ANY(%s::uuid[])", (list(call_ids),)
                )
        except Exception as exc:  # kept: the decisions never saw these calls, so they count
            # here for at most the rule's window, never past what the decisions allow
            if not is_transient(exc):
                raise
            log.warning("limits: could not give back %d phone takes: %r", len(call_ids), exc)

    async def take(self, scope: str, name: str, limit: int, window: float) -> float:
        """One of `limit` per `window` seconds for `name`: 0 if granted, else the seconds to
        wait."""
        if not self._away():
            try:
                async with self.pool.connection(timeout=CONNECTION_SECONDS) as conn:
                    row = await (
                        await conn.execute(
                            "SELECT granted, wait_ms FROM take_rate(%s, %s, 1, %s, %s)",
                            (scope, name, limit, int(window * 1000)),
                        )
                    ).fetchone()
                assert row is not None
                return 0.0 if row[0] else row[1] / 1000
            except Exception as exc:
                self._went_away(exc)
        return self._share(scope, limit, window).take(name)

    async def give_back(self, scope: str, name: str, limit: int, window: float) -> None:
        """Give back the last take of `name` (a sign-in that succeeded)."""
        if not self._away():
            try:
                async with self.pool.connection(timeout=CONNECTION_SECONDS) as conn:
                    await conn.execute("SELECT give_back_rate(%s, %s)", (scope, name))
                return
            except Exception as exc:
                self._went_away(exc)
        self._share(scope, limit, window).give_back(name)

    async def sweep(self) -> None:
        """Remove counts that left their windows (of keys and phones not seen since)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM rate_slices"
                " WHERE ends < floor(extract(epoch FROM clock_timestamp()) * 1000)"
            )
            await conn.execute(
                "DELETE FROM phone_takes WHERE taken_at < clock_timestamp()"
                " - make_interval(secs => %s)",
                (PHONE_WINDOW_SECONDS,),
            )

    async def close(self) -> None:
        await self.pool.close()

    def _away(self) -> bool:
        return time.monotonic() < self._away_until

    def _went_away(self, exc: Exception) -> None:
        if not is_transient(exc):
            raise exc
        if not self._away():
            log.warning(
                "limits: PostgreSQL did not answer (%r); this replica grants its share of each"
                " limit alone (1/%d) for %.0f s",
                exc,
                self.fleet.live,
                AWAY_SECONDS,
            )
        self._away_until = time.monotonic() + AWAY_SECONDS

    def _share(self, scope: str, limit: int, window: float, divided: bool = True) -> PerWindow:
        """This replica's share of a limit, while PostgreSQL is away."""
        share = max(1, limit // max(1, self.fleet.live)) if divided else limit
        return self._alone.setdefault((scope, share, window), PerWindow(share, window))

    def _take_calls_alone(
        self, key_id: uuid.UUID, service_id: uuid.UUID, calls: Sequence[tuple[str, uuid.UUID]]
    ) -> CallTakes:
        key_rate = self._share("key-calls", self.settings.key_calls_per_second, 1.0)
        # Not shared out: the decisions hold the phone rule for the whole platform anyway.
        phones = self._share(
            "phone", self.settings.phone_calls_per_hour, PHONE_WINDOW_SECONDS, divided=False
        )
        granted, key_wait = 0, 0.0
        for _ in calls:
            key_wait = key_rate.take(key_id)
            if key_wait:
                break
            granted += 1
        waits = [phones.take((service_id, phone)) for phone, _ in calls[:granted]]
        return CallTakes(granted, key_wait, waits)


async def open_limits(settings: Settings, fleet: Fleet) -> SharedLimits:
    """A replica's limits, with connections of their own (closed by `SharedLimits.close`)."""
    connections = Connections(settings.require_database_url())
    await connections.open()
    return SharedLimits(connections, settings, fleet)
