"""Appends events to their topics with confluent-kafka; awaitable delivery reports."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

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
        self._swap = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

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
        """Append one event; raises if the broker did not take it."""
        return (await self.append_records([to_record(event)]))[0]

    async def append_records(self, records: Iterable[Record]) -> list[Appended]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Appended]] = []
        for record in records:
            future: asyncio.Future[Appended] = loop.create_future()
            futures.append(future)
            self._produce(record, future)
        return list(await asyncio.gather(*futures))

    def _produce(self, record: Record, future: asyncio.Future[Appended]) -> None:
        loop = future.get_loop()
        while True:
            producer = self._producer
            try:
                producer.produce(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=[(HEADER_EVENT_TYPE, record.event_type), *record.headers],
                    on_delivery=_resolver(loop, future, producer, self._replace_if_fatal),
                )
                return
            except BufferError:
                # The local queue is full: wait for deliveries rather than dropping the event.
                producer.poll(0.01)
            except KafkaException as exc:
                err = exc.args[0]
                if not (err.fatal() or err.code() in FENCED):
                    raise
                self._replace_if_fatal(err, producer)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)


def _resolver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Appended],
    producer: Producer,
    on_error: Callable[[Any, Producer], None],
) -> Any:
    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            on_error(err, producer)
            loop.call_soon_threadsafe(_fail, future, KafkaException(err))
        else:
            loop.call_soon_threadsafe(
                _succeed, future, Appended(msg.topic(), msg.partition(), msg.offset())
            )

    return on_delivery


def _succeed(future: asyncio.Future[Appended], value: Appended) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Appended], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
