"""The outbox against the real database and broker: a row written in pipeline mode is known
once its transaction commits (its id read after it), and the workers'
background publisher deletes published rows together, a moment after publishing them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from psycopg_pool import AsyncConnectionPool

from producers.event_producer import EventProducer, Record
from runtime.outbox import BackgroundPublisher, Outbox


@pytest.fixture
def topic(bootstrap: str) -> str:
    name = f"outbox-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until the topic is made
    for future in admin.create_topics([NewTopic(name, 1, 1)]).values():
        future.result(10)
    return name


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator[EventProducer]:
    p = EventProducer(bootstrap, "test-outbox")
    yield p
    await asyncio.to_thread(p.close)


async def committed(pool: AsyncConnectionPool, topic: str, values: list[bytes]) -> Outbox:
    """An outbox of these records, written in pipeline mode (as runtime/batches.py writes
    them) and committed."""
    out = Outbox()
    for value in values:
        out.emit_record(Record(topic, b"k", value, "Test", ()))
    async with pool.connection() as conn, conn.transaction(), conn.pipeline():
        await out.write(conn)
    return out


async def rows_left(pool: AsyncConnectionPool, ids: list[int]) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT count(*) FROM outbox_batches WHERE id = ANY(%s)", (ids,))
        ).fetchone()
    assert row is not None
    return int(row[0])


def on_topic(bootstrap: str, topic: str) -> list[bytes]:
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "t", "enable.partition.eof": True}
    )
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found: list[bytes] = []
    while True:
        msg = reader.poll(10)
        assert msg is not None
        error, value = msg.error(), msg.value()
        if error is not None:
            assert error.code() == KafkaError._PARTITION_EOF
            break
        assert value is not None
        found.append(value)
    reader.close()
    return found


async def test_a_row_written_in_pipeline_mode_is_known_after_its_commit(
    pool: AsyncConnectionPool, topic: str
) -> None:
    out = await committed(pool, topic, [b"one", b"two"])
    row = await out.settle()
    assert isinstance(row, int)
    async with pool.connection() as conn:
        stored = await (
            await conn.execute('SELECT "values" FROM outbox_batches WHERE id = %s', (row,))
        ).fetchone()
    assert stored is not None and [bytes(v) for v in stored[0]] == [b"one", b"two"]
    assert await Outbox().settle() is None  # nothing written, nothing to publish


async def test_published_rows_wait_a_moment_and_go_together(
    pool: AsyncConnectionPool, producer: EventProducer, topic: str, bootstrap: str
) -> None:
    publisher = BackgroundPublisher(pool, producer, forget_after=60.0)
    outboxes = [await committed(pool, topic, [f"{i}".encode()]) for i in range(3)]
    for out in outboxes:
        await publisher.publish(out)
    ids = [out.row for out in outboxes if out.row is not None]
    assert len(ids) == 3
    deadline = time.monotonic() + 20
    while len(await asyncio.to_thread(on_topic, bootstrap, topic)) < 3:
        assert time.monotonic() < deadline, "the events never reached the broker"
    # Published, and kept until the publisher's moment comes (or it closes).
    assert await rows_left(pool, ids) == 3
    await publisher.close()
    assert await rows_left(pool, ids) == 0
    assert sorted(await asyncio.to_thread(on_topic, bootstrap, topic)) == [b"0", b"1", b"2"]


async def test_published_rows_are_deleted_after_the_moment(
    pool: AsyncConnectionPool, producer: EventProducer, topic: str
) -> None:
    publisher = BackgroundPublisher(pool, producer, forget_after=0.05)
    outboxes = [await committed(pool, topic, [b"a"]), await committed(pool, topic, [b"b"])]
    for out in outboxes:
        await publisher.publish(out)
    ids = [out.row for out in outboxes if out.row is not None]
    deadline = time.monotonic() + 20
    while await rows_left(pool, ids):
        assert time.monotonic() < deadline, "the published rows were never deleted"
        await asyncio.sleep(0.02)
    await publisher.close()
