"""A trunk's concurrent dialogs, the whole platform's (FLASHCALL_SIP_MAX_CONCURRENT): the
carrier's limit, so every dialer worker's dialogs on the trunk count against it together.

Each worker keeps, in a row of carrier_dialogs of its own (per trunk), how many dialogs it
holds, and renews it every HEARTBEAT_SECONDS; a dialog starts once the live rows' total is
below the limit, checked and counted under an advisory lock of the trunk (carrier_take_dialog,
migration 024), so two workers never both take the last one. A worker that dies stops
renewing: its dialogs stop counting after LEASE_SECONDS. A release is written at once (others
may be waiting); one that fails is corrected by the next renewal, which writes the count the
worker really holds. Alone (tests of a carrier by itself), a worker counts its own (an
asyncio.Semaphore).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from core.faults import is_transient

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
LEASE_SECONDS = 10.0  # a row not renewed for this long is a dead worker's
WAIT_CAP_SECONDS = 0.1  # the longest between two looks for a free dialog


class Slots(Protocol):
    async def acquire(self) -> object: ...

    def release(self) -> None: ...


class SharedSlots:
    def __init__(self, pool: AsyncConnectionPool, name: str, limit: int) -> None:
        self._pool = pool
        self._name = name
        self._limit = limit
        self._holder = uuid.uuid4()
        self._held = 0  # dialogs this worker holds
        self._local = asyncio.Semaphore(limit)  # never more than the limit here either
        self._turn = asyncio.Lock()  # one of this worker's waiters looks at a time, in order
        self._writing = asyncio.Lock()  # this worker's row: one statement at a time, in order
        self._written: asyncio.Task[None] | None = None
        self._dirty = False
        self._renewing: asyncio.Task[None] | None = None
        self._away = False  # PostgreSQL did not answer the last look

    async def acquire(self) -> None:
        """Return once a dialog may start (it counts until `release`)."""
        await self._local.acquire()
        try:
            async with self._turn:
                wait = 0.005
                while not await self._take():
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, WAIT_CAP_SECONDS)
        except BaseException:
            self._local.release()
            raise
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew(), name=f"slots {self._name}")

    def release(self) -> None:
        self._held -= 1
        self._local.release()
        self._write_soon()

    async def _take(self) -> bool:
        """Count one more dialog for this worker if the live total is below the limit."""
        try:
            async with self._writing:
                taken = await self._taken()
                if taken:
                    self._held += 1
        except Exception as exc:
            if not is_transient(exc):
                raise
            if not self._away:  # once an outage, not at every look (ten a second)
                log.warning(
                    "trunk %s: waiting for PostgreSQL to count dialogs: %r", self._name, exc
                )
            self._away = True
            return False
        if self._away:
            log.info("trunk %s: PostgreSQL counts dialogs again", self._name)
            self._away = False
        return taken

    async def _taken(self) -> bool:
        # One statement (carrier_take_dialog, migration 024): one round trip on the workers'
        # autocommit pool.
        async with self._pool.connection() as conn:
            taken = await conn.execute(
                "SELECT carrier_take_dialog(%s, %s, %s, %s, %s)",
                (self._name, self._holder, self._held, LEASE_SECONDS, self._limit),
            )
            row = await taken.fetchone()
        return bool(row and row[0])

    def _write_soon(self) -> None:
        """Write this worker's count now (one write at a time; a change meanwhile writes again)."""
        self._dirty = True
        if self._written is None or self._written.done():
            self._written = asyncio.create_task(self._write_count())

    async def _write_count(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._write()
            except Exception as exc:  # the next renewal writes it
                log.warning("trunk %s: could not write its dialogs: %r", self._name, exc)
                return

    async def _write(self) -> None:
        """Write the count this worker holds now."""
        async with self._writing, self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO carrier_dialogs (pacer, holder, held, seen_at)"
                " VALUES (%s, %s, %s, clock_timestamp()) ON CONFLICT (pacer, holder)"
                " DO UPDATE SET held = EXCLUDED.held, seen_at = EXCLUDED.seen_at",
                (self._name, self._holder, self._held),
            )

    async def _renew(self) -> None:
        """Keep this worker's row alive while it holds dialogs, then once more (its count)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._write()
            except Exception as exc:
                log.warning("trunk %s: could not renew its dialogs: %r", self._name, exc)
                continue
            if self._held == 0:
                return

    async def close(self) -> None:
        """Stop renewing and say this worker holds nothing (its dialogs are over by now)."""
        for task in (self._renewing, self._written):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._held = 0
        with contextlib.suppress(Exception):
            await self._write()


def slots(pool: AsyncConnectionPool | None, name: str, limit: int) -> Slots:
    """The platform's count of `name`'s dialogs when there is a database, else this worker's."""
    return asyncio.Semaphore(limit) if pool is None else SharedSlots(pool, name, limit)
