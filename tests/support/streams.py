"""A tenant's Kafka way in, as the tests use it (docs/streaming.md): streams enabled for an
account, requests produced to its ingress topic, and its results topic read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from runtime.stream_topics import KEY_HEADER
from schemas.codec import decode, encode
from tests.support.client import Api, Tenant


def enable_streams(api: Api, tenant: Tenant) -> dict[str, str]:
    r = api.http.post(f"/v1/accounts/{tenant.account_id}/streams", headers=api.admin)
    topics: dict[str, str] = api.ok(r, 201)
    assert topics == {
        "ingress_topic": f"flashcall.ingress.{tenant.account_id}",
        "results_topic": f"flashcall.results.{tenant.account_id}",
    }
    assert (
        api.ok(api.http.post(f"/v1/accounts/{tenant.account_id}/streams", headers=api.admin), 201)
        == topics
    )
    return topics


def request_value(phone: str, reference: str | None = None) -> bytes:
    return encode({"event_type": "CallRequest", "phone": phone, "reference": reference})


class Results:
    """Reads an account's results topic from its beginning."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"t-{uuid.uuid4()}",
                "enable.auto.commit": False,
            }
        )
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        self.seen: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        for msg in self.consumer.consume(1000, 0.2):
            if msg.error() is None:
                value, key = msg.value(), msg.key()
                assert value is not None and key is not None
                self.seen.append({**decode(value), "key": key.decode()})
        return self.seen

    def answers(self) -> dict[int, dict[str, Any]]:
        """The answer to each request, by its offset (one partition in these tests)."""
        return {r["request_offset"]: r for r in self.read() if r["request_offset"] is not None}

    def answering(self, offsets: list[int]) -> dict[int, dict[str, Any]] | None:
        """The answers once every one of these requests has one."""
        answers = self.answers()
        return answers if set(offsets) <= set(answers) else None

    def close(self) -> None:
        self.consumer.close()


def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, str | None]]) -> list[int]:
    """Produce to partition 0; returns the offsets."""
    producer = Producer({"bootstrap.servers": bootstrap})
    offsets: list[int] = []
    for value, key in records:
        headers: list[tuple[str, str | bytes | None]] = [(KEY_HEADER, key)] if key else []
        producer.produce(
            topic,
            value=value,
            partition=0,
            headers=headers,
            on_delivery=lambda err, msg: offsets.append(msg.offset() or 0),
        )
    producer.flush(30)
    assert len(offsets) == len(records)
    return sorted(offsets)
