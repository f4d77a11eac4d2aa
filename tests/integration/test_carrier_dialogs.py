"""A trunk's concurrent dialogs are the platform's, against the real database: two workers on
one trunk never hold more dialogs together than its limit (each counting alone, they would
hold twice as many), a worker that dies stops counting once its lease runs out, and a
connection PostgreSQL ends is waited out."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool
from processors.sip import slots as slots_module
from processors.sip.slots import SharedSlots
from tests.support.postgres import end_connection

LIMIT = 5


class Dialogs:
    """What the far end of the trunk sees: how many dialogs are up at once, at most."""

    def __init__(self) -> None:
        self.up = 0
        self.most = 0
        self.done = 0

    async def dial(self, slots: SharedSlots) -> None:
        await slots.acquire()
        self.up += 1
        self.most = max(self.most, self.up)
        try:
            await asyncio.sleep(0.03)  # the dialog (ringing, then its CANCEL)
        finally:
            self.up -= 1
            self.done += 1
            slots.release()


async def test_two_workers_hold_no_more_dialogs_than_the_trunk_allows_together(
    pool: AsyncConnectionPool, second_pool: AsyncConnectionPool
) -> None:
    trunk = f"sip:trunk-{uuid.uuid4().hex[:8]}"
    first, second = SharedSlots(pool, trunk, LIMIT), SharedSlots(second_pool, trunk, LIMIT)
    far = Dialogs()
    await asyncio.wait_for(
        asyncio.gather(
            *(far.dial(first) for _ in range(20)), *(far.dial(second) for _ in range(20))
        ),
        60,
    )
    assert far.done == 40
    assert far.most == LIMIT  # the limit reached, never passed
    await first.close()
    await second.close()


async def test_a_dead_workers_dialogs_stop_counting_after_its_lease(
    pool: AsyncConnectionPool, second_pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slots_module, "LEASE_SECONDS", 1.0)
    monkeypatch.setattr(slots_module, "HEARTBEAT_SECONDS", 0.2)
    trunk = f"sip:trunk-{uuid.uuid4().hex[:8]}"
    dead, alive = SharedSlots(pool, trunk, LIMIT), SharedSlots(second_pool, trunk, LIMIT)
    for _ in range(LIMIT):
        await dead.acquire()
    # It dies holding them all: no release, no renewal.
    assert dead._renewing is not None
    dead._renewing.cancel()
    asked = time.monotonic()
    await asyncio.wait_for(alive.acquire(), 20)
    waited = time.monotonic() - asked
    assert 0.5 <= waited < 10, waited  # the lease (1 s) from its last renewal, not sooner
    alive.release()
    await alive.close()


async def test_a_dialog_waits_out_a_connection_postgresql_ended(
    quiet_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A transient failure is waited out, and said: the dialog is
    counted once the database answers again, never started uncounted."""
    async with async_pool(quiet_database_url, max_size=1) as pool:
        slots = SharedSlots(pool, f"sip:trunk-{uuid.uuid4().hex[:8]}", LIMIT)
        await slots.acquire()
        await end_connection(pool, quiet_database_url)
        await asyncio.wait_for(slots.acquire(), 20)
        assert caplog.text.count("waiting for PostgreSQL to count dialogs") == 1
        async with pool.connection() as conn:
            held = await (
                await conn.execute(
                    "SELECT held FROM carrier_dialogs WHERE pacer = %s", (slots._name,)
                )
            ).fetchone()
        assert held == (2,)
        slots.release()
        slots.release()
        await slots.close()
