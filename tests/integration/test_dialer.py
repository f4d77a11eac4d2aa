"""The dialer against the real database and broker: each outcome says when its dial began, and
only a dial that lasts is told by a DialStarted."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from core.logs import context_of
from launch.broker import broker
from processors import dial_records
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

    async def dial(
        self, call_id: uuid.UUID, phone: str, caller_number: str, trunk: str | None = None
    ) -> DialResult:
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


async def test_an_outcome_that_can_never_be_recorded_holds_no_other_back(
    pool: AsyncConnectionPool, own_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refuses one outcome for good (here: a write that raises a data error for its
    call): the other outcomes of its batch are recorded and published; that one is counted,
    and fail_abandoned ends its claim as carrier_error."""
    bootstrap = own_bootstrap
    ensure_topics(bootstrap, 2)
    producer = EventProducer(bootstrap)
    carrier = GatedCarrier()
    dialer = Dialer(pool, Publisher(pool, producer), carrier, concurrency=4, notice_after=5)
    service_id = uuid.uuid4()
    good, bad = place_call(service_id, "+989120000011"), place_call(service_id, "+989120000012")
    real_write = dial_records.write_outcomes

    async def refusing(conn: Any, outcomes: list[Event], out: Outbox) -> None:
        if any(o["call_id"] == bad["call_id"] for o in outcomes):
            raise ValueError("an outcome PostgreSQL can never store")
        await real_write(conn, outcomes, out)

    monkeypatch.setattr(dial_records, "write_outcomes", refusing)
    before = REGISTRY.get_sample_value("flashcall_dial_outcomes_unrecorded_total") or 0.0
    try:
        async with pool.connection() as conn, conn.transaction():
            await dialer.handle(conn, [good, bad], Outbox())
        # Both dials end together, so their outcomes go in one batch.
        await dialer.start_claimed()
        for phone in ("+989120000011", "+989120000012"):
            carrier.gates.setdefault(phone, asyncio.Event()).set()
        await dialer.drain()
        assert await dialer.fail_abandoned(0) == 1
    finally:
        producer.close()
    after = REGISTRY.get_sample_value("flashcall_dial_outcomes_unrecorded_total") or 0.0
    assert after - before == 1
    outcomes = {e["call_id"]: e for e in published(bootstrap, topics.DIAL_OUTCOMES, service_id)}
    assert outcomes[good["call_id"]]["event_type"] == "CallDelivered"
    assert outcomes[bad["call_id"]]["event_type"] == "CallFailed"
    assert outcomes[bad["call_id"]]["reason"] == "carrier_error"


class TalkativeCarrier:
    """Logs a line as it rings each phone, then fails the dial of one of them."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    async def dial(
        self, call_id: uuid.UUID, phone: str, caller_number: str, trunk: str | None = None
    ) -> DialResult:
        logging.getLogger("tests.carrier").warning("ringing %s", phone)
        await asyncio.sleep(0)  # the other dial runs meanwhile: no field may cross over
        if phone == self.failing:
            raise ConnectionError("the trunk hung up")
        return DialResult(at=datetime.now(UTC), failure=None)


class Lines(logging.Handler):
    """Each line with the call and service its context held as it was logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[tuple[str, Any, Any]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        found = context_of(record)
        self.seen.add((record.getMessage(), found.get("call_id"), found.get("service_id")))


async def test_lines_logged_while_dialling_carry_their_call(
    pool: AsyncConnectionPool, own_bootstrap: str
) -> None:
    """The carrier's lines and the dialer's own carry the call and service they belong to,
    each dial its own, and nothing of them is left on the lines logged after."""
    ensure_topics(own_bootstrap, 2)
    producer = EventProducer(own_bootstrap)
    dialer = Dialer(
        pool, Publisher(pool, producer), TalkativeCarrier("+989120000022"), concurrency=4
    )
    service_id = uuid.uuid4()
    fine, failing = place_call(service_id, "+989120000021"), place_call(service_id, "+989120000022")
    lines = Lines()
    logging.getLogger().addHandler(lines)
    try:
        async with pool.connection() as conn, conn.transaction():
            await dialer.handle(conn, [fine, failing], Outbox())
        await dialer.start_claimed()
        await dialer.drain()
        logging.getLogger("tests.carrier").warning("after the dials")
    finally:
        logging.getLogger().removeHandler(lines)
        producer.close()
    assert ("ringing +989120000021", fine["call_id"], service_id) in lines.seen
    assert ("ringing +989120000022", failing["call_id"], service_id) in lines.seen
    assert (
        f"carrier failed on call {failing['call_id']}",
        failing["call_id"],
        service_id,
    ) in lines.seen
    assert ("after the dials", None, None) in lines.seen
