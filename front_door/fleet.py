"""The API replicas as one platform (docs/scaling.md).

Each API replica (and each ingress worker) authenticates and checks calls from its in-process
directory, which its feed keeps from the broker. So that a write answered 2xx through one
replica is honoured at once by all:

- every holder of a directory reports, in `directory_replicas`, how far it has read each
  partition of the directory's topics, every REPORT_SECONDS and as soon as its feed applies a
  change;
- a write that changes the directory (a key issued or revoked, a token rotated, a service or
  an account changed) is answered only once every replica seen within LIVE_SECONDS has read
  past it (`wait_for`);
- a replica joins once its feed has caught up with the broker, then catches up with what the
  projection has applied (every write answered 2xx) before it serves;
- a token or key a replica does not know makes it catch up the same way before it answers 401
  (`caught_up`): a replica that was not waited for (it came back from a pause) still knows
  everything answered 2xx before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.faults import is_transient
from core.settings import Settings
from front_door.directory import Directory
from front_door.feed import EventFeed, projected_directory

log = logging.getLogger(__name__)

# How often a replica reports while nothing changes, and how long after its last report it is
# still waited for (a replica killed with -9 holds writes up at most this long).
REPORT_SECONDS = 1.0
LIVE_SECONDS = 5.0
# How long a replica joining waits to catch up before it serves anyway (a write waits for the
# other replicas FLASHCALL_READ_MODEL_WAIT_SECONDS).
WAIT_SECONDS = 10.0
# Rows of replicas gone for this long are removed (looked for every 60 reports).
FORGET_SECONDS = 3600.0


def position_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class Fleet:
    """This replica's membership of the fleet, and the waits that make replicas one."""

    def __init__(self, pool: AsyncConnectionPool, feed: EventFeed) -> None:
        self.id = uuid.uuid4()
        self.pool = pool
        self.feed = feed
        # Replicas seen within LIVE_SECONDS at the last report (this one included): the shares
        # of a limit each replica may grant alone while PostgreSQL is away
        # (front_door/shared_limits.py).
        self.live = 1
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reports = 0

    async def join(self) -> None:
        """Register with what the feed has read so far: from now on, writes wait for this
        replica to have read them. A write answered just before is caught up with (it is
        within what the projection has applied) before this replica serves."""
        loop = asyncio.get_running_loop()

        def changed() -> None:  # on the feed's thread
            loop.call_soon_threadsafe(self._changed.set)

        self.feed.on_change = changed
        await self.report()
        self.start_reporting()
        if not await self.caught_up(WAIT_SECONDS):
            log.warning("fleet: serving before the directory caught up with the projection")

    def start_reporting(self) -> None:
        self._task = asyncio.create_task(self._report_forever(), name="fleet-report")

    async def leave(self) -> None:
        """Stop reporting and deregister (writes no longer wait for this replica)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute("DELETE FROM directory_replicas WHERE id = %s", (self.id,))
        except Exception as exc:  # it is no longer waited for LIVE_SECONDS from now anyway
            log.warning("fleet: could not deregister %s: %r", self.id, exc)

    async def _report_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REPORT_SECONDS)
            self._changed.clear()
            try:
                await self.report()
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("fleet: could not report")
                else:
                    log.warning("fleet: could not report (%r); trying again", exc)

    async def report(self) -> None:
        positions = {position_name(t, p): o for (t, p), o in self.feed.positions.copy().items()}
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "WITH me AS (INSERT INTO directory_replicas (id, positions) VALUES (%s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp(),"
                    " positions = excluded.positions RETURNING id)"
                    " SELECT 1 + count(*) FROM directory_replicas r, me WHERE r.id <> me.id"
                    " AND r.seen_at > clock_timestamp() - make_interval(secs => %s)",
                    (self.id, Jsonb(positions), LIVE_SECONDS),
                )
            ).fetchone()
            self._reports += 1
            if self._reports % 60 == 1:
                await conn.execute(
                    "DELETE FROM directory_replicas WHERE seen_at < clock_timestamp()"
                    " - make_interval(secs => %s)",
                    (FORGET_SECONDS,),
                )
        self.live = int(row[0]) if row else 1

    async def wait_for(self, topic: str, partition: int, end: int, within: float) -> bool:
        """Whether every other live replica's directory has read `topic`'s `partition` up to
        `end` (an offset just past the write) within `within` seconds."""
        deadline = time.monotonic() + within
        key = position_name(topic, partition)
        while True:
            async with self.pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT count(*) FROM directory_replicas WHERE id <> %s"
                        " AND seen_at > clock_timestamp() - make_interval(secs => %s)"
                        " AND coalesce((positions ->> %s)::bigint, 0) < %s",
                        (self.id, LIVE_SECONDS, key, end),
                    )
                ).fetchone()
            if row is not None and row[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)

    async def caught_up(self, within: float = 2.0) -> bool:
        """Wait until this replica's directory has read what the projection has applied of the
        directory's topics (everything answered 2xx anywhere); False if not within `within`."""
        wanted = await projected_directory(self.pool)
        deadline = time.monotonic() + within
        while True:
            have = self.feed.positions
            if all(have.get(where, 0) >= end for where, end in wanted.items()):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)


async def open_directory(settings: Settings, pool: AsyncConnectionPool) -> tuple[Directory, Fleet]:
    """A directory read from the broker, caught up, and this process a member of the fleet."""
    directory = Directory()
    feed = EventFeed(
        settings.require_bootstrap(),
        directory,
        settings.fetch_wait_ms(call_path=False),
        settings.park_undecodable,
    )
    fleet = Fleet(pool, feed)
    await asyncio.to_thread(feed.start)
    try:
        await fleet.join()
    except BaseException:
        await close_directory(fleet)
        raise
    return directory, fleet


async def close_directory(fleet: Fleet) -> None:
    await fleet.leave()
    await asyncio.to_thread(fleet.feed.stop)
