"""Re-append every record of the platform's topics, as a broker or operator replay would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from schemas.topics import ALL_TOPICS

# Which records to take: (topic, key) -> whether.
Keep = Callable[[str, bytes], bool]


def read_everything(
    bootstrap: str, keep: Keep | None = None
) -> list[tuple[str, int, int, bytes, bytes, list[Any]]]:
    """Every record in the platform's topics (those `keep` says): (topic, partition, offset,
    key, value, headers)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "replay",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(timeout=10)
    assignment = [
        TopicPartition(t.name, p, OFFSET_BEGINNING)
        for t in ALL_TOPICS
        for p in metadata.topics[t.name].partitions
    ]
    consumer.assign(assignment)
    pending = {(tp.topic, tp.partition) for tp in assignment}
    copies = []
    while pending:
        msg = consumer.poll(10)
        assert msg is not None, f"no end of partitions {pending}"
        if msg.error() is not None:
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            pending.discard((msg.topic(), msg.partition()))
            continue
        if keep is not None and not keep(msg.topic(), msg.key()):
            continue
        copies.append(
            (msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers())
        )
    consumer.close()
    return copies


def end_offsets(bootstrap: str) -> dict[tuple[str, int], int]:
    """The offset after the last record of each non-empty partition."""
    ends: dict[tuple[str, int], int] = {}
    for topic, partition, offset, *_ in read_everything(bootstrap):
        ends[(topic, partition)] = max(ends.get((topic, partition), 0), offset + 1)
    return ends


def reappend_everything(bootstrap: str, keep: Keep | None = None) -> dict[tuple[str, int], int]:
    """Append a copy of every record now in the topics (those `keep` says) to its own partition.

    Returns the end offset of each partition after the copies (what consumers must reach).
    """
    copies = read_everything(bootstrap, keep)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    ends: dict[tuple[str, int], int] = {}

    def delivered(err: object, msg: object) -> None:
        assert err is None, err
        key = (msg.topic(), msg.partition())  # type: ignore[attr-defined]
        ends[key] = max(ends.get(key, 0), msg.offset() + 1)  # type: ignore[attr-defined]

    for topic, partition, _, key, value, headers in copies:
        producer.produce(
            topic, value, key, partition=partition, headers=headers, on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    return ends
