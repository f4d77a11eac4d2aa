"""What a consumer does with a batch it cannot apply, against the real database and broker:
transient failures are waited out, a bad record is parked (or stops the consumer), and a
stored position past the end of its partition is recognised."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from psycopg_pool import AsyncConnectionPool

from core.positions import past_end
from processors import dlq
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from runtime import failures
from runtime.batches import Consumed, RetryLater
from runtime.failures import Policy, Runner
from runtime.outbox import Outbox, Publisher
from schemas import topics
from schemas.codec import Event, decode, encode, new_event
from tests.support.consumers import FunctionConsumer


@pytest.fixture
def producer(bootstrap: str, pool: AsyncConnectionPool) -> Iterator[Publisher]:
    """Publishes what the consumers emit (inline: the test reads it right after)."""
    ensure_topics(bootstrap, 6)  # the dead-letter topic among them
    p = EventProducer(bootstrap, "test-failures")
    yield Publisher(pool, p)
    p.close()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "BACKOFF_START", 0.01)
    monkeypatch.setattr(failures, "BACKOFF_CAP", 0.05)


def dial_started() -> bytes:
    return encode(new_event("DialStarted", call_id=uuid.uuid4(), service_id=uuid.uuid4()))


def records(topic: str, count: int, partition: int = 0) -> list[Consumed]:
    return [Consumed(topic, partition, i, dial_started(), f"k{i}".encode()) for i in range(count)]


class Table:
    """A handler writing each event id into its own table; events listed in `poison` put a NUL
    into a text column (the failure that once crash-looped the platform)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.poison: set[str] = set()
        self.calls = 0

    handles = frozenset({"DialStarted"})
    deduplicated = frozenset({"DialStarted"})  # a recorder is not idempotent

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], _: Outbox) -> None:
        self.calls += 1
        for e in events:
            label = "bad\x00" if e["event_id"] in self.poison else "ok"
            await conn.execute(
                f"INSERT INTO {self.name} (event_id, label) VALUES (%s, %s)", (e["event_id"], label)
            )

    async def rows(self, pool: AsyncConnectionPool) -> list[uuid.UUID]:
        async with pool.connection() as conn:
            found = await (await conn.execute(f"SELECT event_id FROM {self.name}")).fetchall()
        return [r[0] for r in found]


async def table(pool: AsyncConnectionPool) -> Table:
    t = Table(f"applied_{uuid.uuid4().hex[:8]}")
    async with pool.connection() as conn:
        await conn.execute(f"CREATE TABLE {t.name} (event_id uuid, label text)")
    return t


def ids(batch: list[Consumed]) -> list[uuid.UUID]:
    return [decode(r.value)["event_id"] for r in batch]


async def stored_offset(
    pool: AsyncConnectionPool, consumer: str, topic: str, partition: int = 0
) -> int | None:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT next_offset FROM consumed_offsets"
                " WHERE consumer = %s AND topic = %s AND partition = %s",
                (consumer, topic, partition),
            )
        ).fetchone()
    return None if row is None else int(row[0])


def dead_letters(bootstrap: str, consumer: str) -> list[dict[str, str]]:
    """Headers of the dead-letter records parked by `consumer`."""
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "t", "enable.partition.eof": True}
    )
    meta = reader.list_topics(topics.DEAD_LETTERS.name, timeout=10)
    parts = meta.topics[topics.DEAD_LETTERS.name].partitions
    reader.assign([TopicPartition(topics.DEAD_LETTERS.name, p, OFFSET_BEGINNING) for p in parts])
    pending, found = set(parts), []
    while pending:
        msg = reader.poll(10)
        assert msg is not None
        if msg.error() is not None:
            assert msg.error().code() == KafkaError._PARTITION_EOF
            pending.discard(msg.partition())
            continue
        headers = {k: v.decode() for k, v in msg.headers() or []}
        if headers.get("dlq.consumer") == consumer:
            found.append(headers)
    reader.close()
    return found


async def test_a_bad_record_is_parked_and_the_rest_applied(
    pool: AsyncConnectionPool, producer: Publisher, bootstrap: str
) -> None:
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-park"
    batch = records(topic, 10)
    bad = batch[6]
    handler.poison.add(decode(bad.value)["event_id"])
    runner = Runner(pool, producer, consumer, handler, Policy.PARK, bootstrap)
    await runner.run(batch)
    assert sorted(await handler.rows(pool)) == sorted(ids(batch[:6] + batch[7:]))
    assert await stored_offset(pool, consumer, topic) == 10
    assert runner.parked == 1
    [row] = dlq.parked(pool.conninfo, consumer)
    assert (row.topic, row.partition, row.offset) == (topic, 0, 6)
    assert row.event_type == "DialStarted" and "NUL" in row.reason
    [letter] = dead_letters(bootstrap, consumer)
    assert letter["dlq.topic"] == topic and letter["dlq.offset"] == "6"
    # A replay of the whole batch applies nothing and parks nothing again.
    await runner.run(batch)
    assert len(await handler.rows(pool)) == 9 and runner.parked == 1


def garbage_at(topic: str, offset: int) -> Consumed:
    """A record whose fingerprint no build knows (written by a newer one, or broken)."""
    return Consumed(topic, 0, offset, b"\xc3\x01" + b"\xab" * 8 + b"body", b"k")


async def test_a_record_no_schema_reads_stops_the_consumer_at_it(
    pool: AsyncConnectionPool, bootstrap: str
) -> None:
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-unknown"
    batch = records(topic, 4)
    batch[1] = garbage_at(topic, 1)
    # Even a parking consumer: the record is not bad, this build is too old to read it.
    runner = Runner(pool, None, consumer, handler, Policy.PARK, bootstrap)
    await runner.run(batch)
    stopped = runner.stopped[(topic, 0)]
    assert stopped.offset == 1 and "abababababababab" in stopped.reason  # the fingerprint
    assert await handler.rows(pool) == ids([batch[0]])
    assert await stored_offset(pool, consumer, topic) == 1  # the offset does not move
    assert dlq.parked(pool.conninfo, consumer) == [] and runner.parked == 0


async def test_with_the_setting_a_record_no_schema_reads_is_parked(
    pool: AsyncConnectionPool, producer: Publisher, bootstrap: str
) -> None:
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-garbage"
    batch = records(topic, 4)
    batch[1] = garbage_at(topic, 1)
    runner = Runner(
        pool, producer, consumer, handler, Policy.STOP, bootstrap, park_undecodable=True
    )
    await runner.run(batch)
    assert sorted(await handler.rows(pool)) == sorted(ids([batch[0], batch[2], batch[3]]))
    [row] = dlq.parked(pool.conninfo, consumer)
    assert row.offset == 1 and row.event_type is None and "abababababababab" in row.reason
    assert runner.parked == 1
    [letter] = dead_letters(bootstrap, consumer)
    assert "fingerprint" in letter["dlq.reason"]


async def test_a_stopping_consumer_holds_the_partition_at_the_bad_record_until_it_applies(
    pool: AsyncConnectionPool, bootstrap: str
) -> None:
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-stop"
    mine, other = records(topic, 8), records(topic, 4, partition=1)
    batch = [r for pair in zip(mine, other + [None] * 4, strict=True) for r in pair if r]
    handler.poison.add(decode(mine[3].value)["event_id"])
    runner = Runner(pool, None, consumer, handler, Policy.STOP, bootstrap)
    await runner.run(batch)
    assert runner.stopped[(topic, 0)].offset == 3 and (topic, 1) not in runner.stopped
    # Nothing after it in its partition; the other partition went on.
    assert sorted(await handler.rows(pool)) == sorted(ids(mine[:3] + other))
    assert await stored_offset(pool, consumer, topic, 0) == 3
    assert await stored_offset(pool, consumer, topic, 1) == 4
    # Offered again before the fix (as the consumer does now and then): still held.
    runner.stopped.clear()
    await runner.run(mine[3:])
    assert runner.stopped[(topic, 0)].offset == 3
    handler.poison.clear()  # the cause is fixed
    runner.stopped.clear()
    await runner.run(mine[3:])
    assert sorted(await handler.rows(pool)) == sorted(ids(mine + other))
    assert not runner.stopped and dlq.parked(pool.conninfo, consumer) == []


async def test_a_record_waiting_for_another_partition_holds_only_its_own(
    pool: AsyncConnectionPool, bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose service is created by a record later in the same batch (another
    partition, this consumer): the batch cannot wait whole for it, as it never would come."""
    monkeypatch.setattr(failures, "RETRY_LATER_PATIENCE", 0.05)
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-wait"
    requests, creations = records(topic, 4), records(topic, 2, partition=1)
    waiting = decode(requests[2].value)["event_id"]
    created = decode(creations[1].value)["event_id"]

    async def needs_creation(
        conn: psycopg.AsyncConnection, events: list[Event], out: Outbox
    ) -> None:
        if any(e["event_id"] == waiting for e in events) and created not in await handler.rows(
            pool
        ):
            raise RetryLater("the service of the request is not known yet")
        await handler.handle(conn, events, out)

    runner = Runner(pool, None, consumer, FunctionConsumer(needs_creation), Policy.STOP, bootstrap)
    await asyncio.wait_for(runner.run(requests + creations), 30)
    held = runner.stopped[(topic, 0)]
    assert (held.offset, held.waiting) == (2, True) and held.retry_in < 5
    assert sorted(await handler.rows(pool)) == sorted(ids(requests[:2] + creations))
    assert await stored_offset(pool, consumer, topic, 0) == 2
    # Offered again (as the consumer does once the hold is over): it applies, in order.
    runner.stopped.clear()
    await asyncio.wait_for(runner.run(requests[2:]), 30)
    assert sorted(await handler.rows(pool)) == sorted(ids(requests + creations))
    assert not runner.stopped and await stored_offset(pool, consumer, topic, 0) == 4


async def test_a_lost_connection_is_waited_out_and_applies_once(
    pool: AsyncConnectionPool, bootstrap: str
) -> None:
    handler = await table(pool)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-conn"
    batch = records(topic, 5)
    kills = 3

    async def dying(conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        nonlocal kills
        await handler.handle(conn, events, out)
        if kills:
            kills -= 1
            # The server ends this session mid-transaction, as a restart would.
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    runner = Runner(pool, None, consumer, FunctionConsumer(dying), Policy.STOP, bootstrap)
    await asyncio.wait_for(runner.run(batch), 30)
    assert sorted(await handler.rows(pool)) == sorted(ids(batch))
    assert await stored_offset(pool, consumer, topic) == 5 and not runner.stopped


async def test_a_long_run_of_bad_records_stops_instead_of_parking(
    pool: AsyncConnectionPool, bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures, "PARK_STREAK_LIMIT", 3)
    consumer, topic = f"c-{uuid.uuid4().hex[:8]}", "t-streak"

    async def broken(conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        await conn.execute("SELECT * FROM a_table_a_bad_deploy_forgot")

    runner = Runner(pool, None, consumer, FunctionConsumer(broken), Policy.PARK, bootstrap)
    await runner.run(records(topic, 6))
    assert runner.parked == 3 and await stored_offset(pool, consumer, topic) == 3
    assert runner.stopped[(topic, 0)].offset == 3


async def test_parked_records_are_redriven_to_their_topic(
    pool: AsyncConnectionPool, producer: Publisher, bootstrap: str
) -> None:
    topic = f"t-redrive-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    handler = await table(pool)
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    batch = records(topic, 3)
    handler.poison.add(decode(batch[2].value)["event_id"])
    await Runner(pool, producer, consumer, handler, Policy.PARK, bootstrap).run(batch)
    [row] = dlq.parked(pool.conninfo, consumer)
    assert dlq.redrive(pool.conninfo, bootstrap, [row.id]) == 1
    assert dlq.parked(pool.conninfo, consumer) == []
    assert dlq.redrive(pool.conninfo, bootstrap, [row.id]) == 0  # once
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "t"})
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    msg = reader.poll(10)
    reader.close()
    assert msg is not None and msg.error() is None
    assert msg.value() == batch[2].value and msg.key() == batch[2].key
    assert dict(msg.headers() or [])["event_type"] == b"DialStarted"


def test_positions_past_the_end_of_a_partition_are_found(bootstrap: str) -> None:
    topic = f"t-ends-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):  # one produce batch: Tansu's ListOffsets would say it ends at 1
        producer.produce(topic, b"v%d" % i, partition=0)
    assert producer.flush(10) == 0
    stored = {(topic, 0): 10, (topic, 1): 3, ("flashcall.no-such-topic", 0): 4}
    assert past_end(bootstrap, stored) == {
        (topic, 1): (3, 0),
        ("flashcall.no-such-topic", 0): (4, 0),
    }
    assert past_end(bootstrap, {(topic, 0): 11}) == {(topic, 0): (11, 10)}
    assert past_end(bootstrap, {(topic, 0): 5, (topic, 1): 0}) == {}
