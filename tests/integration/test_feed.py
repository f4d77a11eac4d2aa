"""The API's directory follows the consumers' rule for a record no known schema reads: its
partition stops (nothing after it is applied), or with FLASHCALL_PARK_UNDECODABLE the record
is passed over and counted. On a broker of its own: the record would stop everyone else's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from front_door.directory import Directory
from front_door.feed import EventFeed
from launch.broker import started_broker
from producers.event_producer import to_record
from producers.topic_admin import ensure_topics
from schemas import topics
from schemas.codec import new_event


@pytest.fixture(scope="module")
def own_broker() -> Iterator[str]:
    with started_broker(None) as (bootstrap, _):
        ensure_topics(bootstrap, 2)
        yield bootstrap


def account_after_a_record_no_schema_reads(bootstrap: str) -> tuple[uuid.UUID, int]:
    """Append bytes of an unknown schema, then an account, to one partition of the accounts."""
    account_id = uuid.uuid4()
    record = to_record(
        new_event(
            "AccountCreated",
            account_id=account_id,
            name="After",
            token_hash=uuid.uuid4().hex,
            price_per_call=1000,
            credit_limit=0,
        )
    )
    where: list[int] = []
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in (b"\xc3\x01" + b"\x77" * 8 + b"?", record.value):
        producer.produce(
            topics.ACCOUNTS.name,
            value,
            record.key,
            on_delivery=lambda err, msg: where.append(msg.partition()),
        )
    assert producer.flush(10) == 0
    assert where[0] == where[1]
    return account_id, where[0]


def test_the_directory_stops_the_partition_at_it(own_broker: str) -> None:
    account_id, partition = account_after_a_record_no_schema_reads(own_broker)
    directory = Directory()
    feed = EventFeed(own_broker, directory, 10)
    feed.start(timeout=30)
    try:
        assert (topics.ACCOUNTS.name, partition) in feed.stopped
        assert "7777777777777777" in feed.stopped[(topics.ACCOUNTS.name, partition)]
        assert account_id not in directory.accounts
    finally:
        feed.stop()


def test_with_the_setting_the_directory_passes_over_it(own_broker: str) -> None:
    account_id, _ = account_after_a_record_no_schema_reads(own_broker)
    directory = Directory()
    feed = EventFeed(own_broker, directory, 10, park_undecodable=True)
    feed.start(timeout=30)
    try:
        assert feed.stopped == {} and feed.passed_over >= 1
        assert account_id in directory.accounts
    finally:
        feed.stop()
