"""Transactional outbox: events decided inside a transaction, published after it commits.

A transaction's events are one row (arrays, in order), written with its effects. Consumers
deduplicate by event id, so publishing a row twice (a crash between the publish and the delete,
or two workers flushing leftovers) is harmless; losing one is not possible: a row whose
publication failed (the broker away) stays and is published by `publish_leftovers`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.faults import is_transient
from producers.event_producer import EventProducer, Record, to_record
from schemas.codec import Event

log = logging.getLogger(__name__)


class Outbox:
    """Collects the events (and raw records, such as dead letters) of one transaction."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.raw: list[Record] = []
        self.records: list[Record] = []
        self.row: int | None = None
        self._inserted: psycopg.AsyncCursor[Any] | None = None

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def emit_record(self, record: Record) -> None:
        self.raw.append(record)

    async def write(self, conn: psycopg.AsyncConnection) -> None:
        """Insert the collected events in the caller's transaction (one row); `settle` reads
        its id once the transaction is over (in pipeline mode, the insert's answer comes in
        the pipeline's last round trip, with the other writes')."""
        if not self.events and not self.raw:
            return
        self.records = [to_record(e) for e in self.events] + self.raw
        self._inserted = await conn.execute(
            # Binary: the values as text would be hex-escaped, ~3.5× the cost of the
            # statement for a batch of 500 events.
            'INSERT INTO outbox_batches (topics, keys, "values", event_types, headers)'
            " VALUES (%b, %b, %b, %b, %b) RETURNING id",
            (
                [r.topic for r in self.records],
                [r.key for r in self.records],
                [r.value for r in self.records],
                [r.event_type for r in self.records],
                Jsonb([[list(h) for h in r.headers] for r in self.records]),
            ),
        )

    async def settle(self) -> int | None:
        """The written row's id (None if nothing was written), after the commit."""
        if self._inserted is not None:
            row = await self._inserted.fetchone()
            assert row is not None
            self.row, self._inserted = int(row[0]), None
        return self.row


class Publisher:
    """Publishes committed outboxes: appends their events, then deletes their rows. If the
    broker or the database is away, the rows stay for `publish_leftovers`: the effects are
    committed, so the batches that made them must not be applied again."""

    def __init__(self, pool: AsyncConnectionPool, producer: EventProducer) -> None:
        self.pool = pool
        self.producer = producer

    async def publish(self, outbox: Outbox) -> None:
        """Publish `outbox` now, once its transaction is over (the caller waits for the
        broker)."""
        await outbox.settle()
        await self._publish([outbox])

    async def _publish(self, outboxes: Sequence[Outbox]) -> None:
        rows = [o.row for o in outboxes if o.row is not None]
        if not rows:
            return
        records = [r for o in outboxes if o.row is not None for r in o.records]
        try:
            await self.producer.append_records(records)
            await self._forget(rows)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("outbox: %d events wait for the broker or database: %r", len(records), exc)

    async def _forget(self, rows: list[int]) -> None:
        """Delete published rows (here at once)."""
        await self._delete(rows)

    async def _delete(self, rows: list[int]) -> None:
        async with self.pool.connection() as conn:  # committed as the pool takes it back
            await conn.execute("DELETE FROM outbox_batches WHERE id = ANY(%b)", (rows,))


class BackgroundPublisher(Publisher):
    """Publishes committed outboxes in commit order off the consumers' path: a consumer goes
    on with its next batch while the broker acknowledges the last one's events (outboxes that
    wait together go out together). At most `waiting` outboxes wait; more holds the caller
    (backpressure).

    Published rows are deleted together, `forget_after` seconds after the first of them: one
    transaction for many outboxes (one per outbox cost a worker as much as its batches at a
    low pace). A row published and not deleted when its worker dies is published again by
    `publish_leftovers` (consumers take a copy as a copy: the module's docstring), which waits
    far longer than `forget_after` first."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        producer: EventProducer,
        waiting: int = 64,
        forget_after: float = 0.2,
    ):
        super().__init__(pool, producer)
        self._queue: asyncio.Queue[Outbox] = asyncio.Queue(waiting)
        self._task: asyncio.Task[None] | None = None
        self._forget_after = forget_after
        self._published: list[int] = []
        self._forgetting: asyncio.Task[None] | None = None

    async def publish(self, outbox: Outbox) -> None:
        if await outbox.settle() is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="outbox-publisher")
        await self._queue.put(outbox)

    async def _run(self) -> None:
        while True:
            outboxes = [await self._queue.get()]
            while not self._queue.empty() and len(outboxes) < 64:
                outboxes.append(self._queue.get_nowait())
            try:
                await self._publish(outboxes)
            except Exception:  # a bug: the rows stay, and leftovers publish them later
                log.exception("outbox: could not publish %d batches", len(outboxes))

    async def _forget(self, rows: list[int]) -> None:
        self._published += rows
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.create_task(self._forget_soon(), name="outbox-forget")

    async def _forget_soon(self) -> None:
        await asyncio.sleep(self._forget_after)
        rows, self._published = self._published, []
        try:
            await self._delete(rows)
        except asyncio.CancelledError:  # closing: close() deletes them
            self._published = rows + self._published
            raise
        except Exception as exc:  # the rows stay; leftovers publish them again
            log.warning("outbox: %d published rows stay: %r", len(rows), exc)

    async def close(self) -> None:
        """Publish what waits, delete what was published, then stop."""
        if self._task is not None:
            self._task.cancel()
        outboxes = []
        while not self._queue.empty():
            outboxes.append(self._queue.get_nowait())
        await self._publish(outboxes)
        if self._forgetting is not None:
            self._forgetting.cancel()
            await asyncio.gather(self._forgetting, return_exceptions=True)
        rows, self._published = self._published, []
        if rows:
            await self._delete(rows)


def _records(
    topics: Sequence[str],
    keys: Sequence[bytes],
    values: Sequence[bytes],
    event_types: Sequence[str],
    headers: Sequence[Sequence[Sequence[str]]],
) -> list[Record]:
    return [
        Record(t, bytes(k), bytes(v), e, tuple((n, x) for n, x in h))
        for t, k, v, e, h in zip(topics, keys, values, event_types, headers, strict=True)
    ]


async def backlog(pool: AsyncConnectionPool) -> int:
    """Records committed to the outbox and not yet published."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT coalesce(sum(cardinality(topics)), 0) FROM outbox_batches")
        ).fetchone()
    return int(row[0]) if row else 0


async def publish_leftovers(
    pool: AsyncConnectionPool, producer: EventProducer, older_than_seconds: float
) -> int:
    """Publish, in order, the rows a crashed worker committed but never published; returns
    how many events."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                'SELECT id, topics, keys, "values", event_types, headers FROM outbox_batches'
                " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
                " ORDER BY id LIMIT 100",
                (older_than_seconds,),
            )
        ).fetchall()
        # Rows of the one-row-per-event table an earlier build left.
        singles = await (
            await conn.execute(
                "SELECT id, topic, key, value, event_type, headers FROM outbox"
                " ORDER BY id LIMIT 1000"
            )
        ).fetchall()
    records = [r for _, *columns in rows for r in _records(*columns)]
    records += [
        Record(t, bytes(k), bytes(v), e, tuple((n, x) for n, x in h or ()))
        for _, t, k, v, e, h in singles
    ]
    if records:
        await producer.append_records(records)
        async with pool.connection() as conn:
            if rows:
                await conn.execute(
                    "DELETE FROM outbox_batches WHERE id = ANY(%b)", ([r[0] for r in rows],)
                )
            if singles:
                await conn.execute(
                    "DELETE FROM outbox WHERE id = ANY(%b)", ([r[0] for r in singles],)
                )
    return len(records)
