"""The dialer against the real database and broker: each outcome says when its dial began, and
only a dial that lasts is told by a DialStarted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, TopicPartition
from psycopg_pool import AsyncConnectionPool

from launch.broker import broker
from processors.carriers import DialResult
from processors.dialer import Dialer
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from runtime.outbox import Outbox, Publisher
from schemas import topics
from schemas.codec import Event, decode, new_event
from tests.support.waiting import wait_for


class GatedCarrier:
    """Answers a dial only when its phone's gate is opened."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}

    async def dial(self, call_id: uuid.UUID, phone: str, caller_number: str) -> DialResult:
        await self.gates.setdefault(phone, asyncio.Event()).wait()
        return DialResult(at=datetime.now(UTC), failure=None)


def place_call(service_id: uuid.UUID, phone: str) -> Event:
    return new_event(
        "PlaceCall",
        call_id=uuid.uuid4(),
        service_id=service_id,
        phone=phone,
        caller_number="+982191000000",
        code_ttl_seconds=60,
    )


def published(bootstrap: str, topic: topics.Topic, service_id: uuid.UUID) -> list[Event]:
    """Every event of this service on the topic, as the broker holds it now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dialer-test"})
    try:
        partitions = consumer.list_topics(topic.name, timeout=10).topics[topic.name].partitions
        found = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=5)
            if high == low:
                continue
            consumer.assign([TopicPartition(topic.name, p, low)])
            read = 0
            while read < high - low:
                for msg in consumer.consume(500, timeout=2):
                    read += 1
                    if msg.error() is None:
                        event = decode(msg.value())
                        if event["service_id"] == service_id:
                            found.append(event)
        return found
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def own_bootstrap() -> Iterator[str]:
    """A broker no platform reads: this test's dials are of a service no decisions worker
    knows, and the session platform's would hold its partition waiting for it."""
    with broker() as address:
        yield address


async def test_outcomes_carry_dialed_at_and_only_long_dials_are_told(
    pool: AsyncConnectionPool, own_bootstrap: str
) -> None:
    bootstrap = own_bootstrap
    ensure_topics(bootstrap, 2)
    producer = EventProducer(bootstrap)
    carrier = GatedCarrier()
    dialer = Dialer(pool, Publisher(pool, producer), carrier, concurrency=4, notice_after=0.2)
    service_id = uuid.uuid4()
    quick, slow = place_call(service_id, "+989120000001"), place_call(service_id, "+989120000002")
    carrier.gates["+989120000001"] = asyncio.Event()
    carrier.gates["+989120000001"].set()
    try:
        async with pool.connection() as conn, conn.transaction():
            await dialer.handle(conn, [quick, slow], Outbox())
        await dialer.start_claimed()
        # The slow dial is told once it has lasted notice_after; its gate then opens.
        await asyncio.to_thread(
            wait_for,
            lambda: any(
                e["event_type"] == "DialStarted" and e["call_id"] == slow["call_id"]
                for e in published(bootstrap, topics.DIAL_PROGRESS, service_id)
            ),
            what="DialStarted of the slow dial",
        )
        carrier.gates["+989120000002"].set()
        await dialer.drain()
    finally:
        producer.close()
    started = published(bootstrap, topics.DIAL_PROGRESS, service_id)
    outcomes = {e["call_id"]: e for e in published(bootstrap, topics.DIAL_OUTCOMES, service_id)}
    assert [e["call_id"] for e in started] == [slow["call_id"]]
    assert {e["event_type"] for e in outcomes.values()} == {"CallDelivered"}
    assert set(outcomes) == {quick["call_id"], slow["call_id"]}
    async with pool.connection() as conn:
        claimed = dict(
            await (
                await conn.execute(
                    "SELECT call_id, claimed_at FROM dials WHERE call_id = ANY(%s)",
                    ([quick["call_id"], slow["call_id"]],),
                )
            ).fetchall()
        )
    for call_id, outcome in outcomes.items():
        assert outcome["dialed_at"] == claimed[call_id]
    assert started[0]["occurred_at"] == claimed[slow["call_id"]]
