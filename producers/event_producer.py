"""Appends events to their topics with confluent-kafka; awaitable delivery reports."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from schemas.codec import HEADER_EVENT_TYPE, Event, encode
from schemas.topics import TOPIC_OF_EVENT

log = logging.getLogger(__name__)

# Errors after which an idempotent producer's id is spent (librdkafka reports some of them on
# each failed delivery rather than as a fatal error).
FENCED = frozenset(
    {
        KafkaError._FATAL,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    }
)


@dataclass(frozen=True)
class Appended:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Record:
    """An encoded event ready to be appended (also what an outbox row holds). `headers` are
    extra ones (a dead-lettered record's reason and origin)."""

    topic: str
    key: bytes
    value: bytes
    event_type: str
    headers: tuple[tuple[str, str], ...] = ()


def to_record(event: Event) -> Record:
    topic = TOPIC_OF_EVENT[event["event_type"]]
    return Record(
        topic=topic.name,
        key=str(event[topic.key_field]).encode(),
        value=encode(event),
        event_type=event["event_type"],
    )


class EventProducer:
    """Idempotent, acks=all producer. `append` returns once the broker has the event.

    An idempotent producer whose deliveries timed out must bump its epoch; a broker that
    refuses (Tansu answers PRODUCER_FENCED) leaves it in a fatal state in which every later
    append fails. Such a client is replaced by a new one (a new producer id): the deliveries
    that failed are the caller's to retry, and consumers deduplicate by event id.
    """

    def __init__(
        self,
        bootstrap: str,
        client_id: str = "flashcall",
        linger_ms: int = 2,
        delivery_timeout_ms: int = 10_000,
    ) -> None:
        # A delivery not acknowledged within delivery_timeout_ms fails (KafkaException): the
        # API answers 503 then, instead of holding the request while the broker is away.
        self._config = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "message.timeout.ms": delivery_timeout_ms,
        }
        self._producer = Producer(self._config)
        self._watermarks: Consumer | None = None  # made on first use (read-your-writes)
        self._coalesced: list[tuple[Record, asyncio.Future[Appended]]] = []
        self._swap = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.5)  # returns as soon as a delivery report is due

    def _replace_if_fatal(self, err: Any, culprit: Producer) -> None:
        """A fatal error of `culprit`: a new client takes over (that one never produces
        again). Many failed deliveries of one client replace it once."""
        if not (err.fatal() or err.code() in FENCED):
            return
        with self._swap:
            if self._producer is not culprit:
                return
            self._producer = Producer(self._config)
        log.warning("the producer failed for good (%s); a new one takes over", err)
        threading.Thread(target=culprit.flush, args=(1.0,), daemon=True).start()

    async def append(self, event: Event) -> Appended:
        """Append one event; raises if the broker did not take it. Appends made in the same
        turn of the event loop (concurrent requests) are produced and acknowledged together:
        one wake-up from the delivery thread for all of them."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._coalesced.append((to_record(event), future))
        if len(self._coalesced) == 1:
            loop.call_soon(self._append_coalesced)
        return await future

    def _append_coalesced(self) -> None:
        waiting, self._coalesced = self._coalesced, []
        try:
            deliveries = self._start([record for record, _ in waiting])
        except Exception as exc:
            for _, future in waiting:
                future.set_exception(exc)
            return
        deliveries.future.add_done_callback(lambda done: _settle(done, [f for _, f in waiting]))

    async def append_records(self, records: Sequence[Record]) -> list[Appended]:
        """Append these records; raises if the broker did not take one of them."""
        if not records:
            return []
        outcomes = await self._start(records).future
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [o for o in outcomes if isinstance(o, Appended)]

    async def append_each(self, records: Sequence[Record]) -> list[Appended | KafkaException]:
        """Append these records together; each one's outcome: where it went, or why not."""
        if not records:
            return []
        return await self._start(records).future

    def _start(self, records: Sequence[Record]) -> _Deliveries:
        deliveries = _Deliveries(asyncio.get_running_loop(), len(records), self._replace_if_fatal)
        for index, record in enumerate(records):
            self._produce(record, deliveries, index)
        return deliveries

    def _produce(self, record: Record, deliveries: _Deliveries, index: int) -> None:
        while True:
            producer = self._producer
            try:
                producer.produce(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=[(HEADER_EVENT_TYPE, record.event_type), *record.headers],
                    on_delivery=deliveries.callback(index, producer),
                )
                return
            except BufferError:
                # The local queue is full: wait for the delivery thread to make room rather
                # than dropping the event.
                time.sleep(0.005)
            except KafkaException as exc:
                err = exc.args[0]
                if not (err.fatal() or err.code() in FENCED):
                    raise
                self._replace_if_fatal(err, producer)

    def high_watermarks(self, topic: str, timeout: float = 5.0) -> dict[int, int]:
        """Each partition's high watermark (the offset the next record will get) now."""
        with self._swap:
            if self._watermarks is None:
                self._watermarks = Consumer(
                    {
                        "bootstrap.servers": self._config["bootstrap.servers"],
                        "group.id": "flashcall-watermarks",
                        "enable.auto.commit": False,
                    }
                )
            client = self._watermarks
        partitions = client.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {
            p: int(client.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1])
            for p in partitions
        }

    def broker_answers(self, timeout: float) -> None:
        """Ask the broker for its metadata; raises KafkaException if it does not answer."""
        self._producer.list_topics(timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._watermarks is not None:
            self._watermarks.close()
        self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)


_NOT_YET = KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "no delivery report"))


class _Deliveries:
    """The delivery reports of one batch of records, settled in the event loop once all have
    come (one thread hop per batch, not per record)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        count: int,
        on_error: Callable[[Any, Producer], None],
    ) -> None:
        self.loop = loop
        # Each record's outcome: where it was appended, or why not.
        self.future: asyncio.Future[list[Appended | KafkaException]] = loop.create_future()
        self._outcomes: list[Appended | KafkaException] = [_NOT_YET] * count
        self._pending = count
        self._on_error = on_error
        self._lock = threading.Lock()

    def callback(self, index: int, producer: Producer) -> Callable[[Any, Any], None]:
        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                self._on_error(err, producer)
            with self._lock:
                self._outcomes[index] = (
                    KafkaException(err)
                    if err is not None
                    else Appended(msg.topic(), msg.partition(), msg.offset())
                )
                self._pending -= 1
                done = self._pending == 0
            if done:
                self.loop.call_soon_threadsafe(self._settle)

        return delivered

    def _settle(self) -> None:
        if not self.future.done():
            self.future.set_result(self._outcomes)


def _settle(
    done: asyncio.Future[list[Appended | KafkaException]],
    futures: list[asyncio.Future[Appended]],
) -> None:
    """Hand each coalesced append its own outcome."""
    for future, outcome in zip(futures, done.result(), strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
