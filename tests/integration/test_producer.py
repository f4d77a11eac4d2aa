"""The producer appends durable, decodable events, keyed so one service stays on one partition."""

from __future__ import annotations

import asyncio
import uuid

from confluent_kafka import Consumer, TopicPartition

from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from schemas import topics
from schemas.codec import decode, new_event


def test_events_of_one_service_share_a_partition_and_decode(bootstrap: str) -> None:
    ensure_topics(bootstrap, 6)
    producer = EventProducer(bootstrap)
    service_id = uuid.uuid4()
    events = [
        new_event("DialStarted", call_id=uuid.uuid4(), service_id=service_id) for _ in range(20)
    ]

    async def append_all() -> list[tuple[int, int]]:
        return [
            (a.partition, a.offset) for a in await asyncio.gather(*map(producer.append, events))
        ]

    try:
        placed = asyncio.run(append_all())
    finally:
        producer.close()
    partitions = {p for p, _ in placed}
    assert len(partitions) == 1
    [partition] = partitions
    offsets = sorted(o for _, o in placed)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topics.DIAL_PROGRESS.name, partition, offsets[0])])
    seen = []
    try:
        while len(seen) < len(events):
            msg = consumer.poll(10)
            assert msg is not None, "the appended events did not come back"
            assert msg.error() is None
            seen.append(decode(msg.value())["event_id"])
            assert msg.headers() == [("event_type", b"DialStarted")]
    finally:
        consumer.close()
    assert sorted(map(str, seen)) == sorted(e["event_id"] for e in events)
