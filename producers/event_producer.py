"""Appends events to their topics with confluent-kafka; awaitable delivery reports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer

from schemas.codec import HEADER_EVENT_TYPE, Event, encode
from schemas.topics import TOPIC_OF_EVENT


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
    """Idempotent, acks=all producer. `append` returns once the broker has the event."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str = "flashcall",
        linger_ms: int = 2,
        delivery_timeout_ms: int = 30_000,
    ) -> None:
        # A delivery not acknowledged within delivery_timeout_ms fails (KafkaException): the
        # API answers 503 then, instead of holding the request while the broker is away.
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "message.timeout.ms": delivery_timeout_ms,
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def append(self, event: Event) -> Appended:
        """Append one event; raises if the broker did not take it."""
        return (await self.append_records([to_record(event)]))[0]

    async def append_records(self, records: Iterable[Record]) -> list[Appended]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Appended]] = []
        for record in records:
            future: asyncio.Future[Appended] = loop.create_future()
            futures.append(future)
            self._produce(record, _resolver(loop, future))
        return list(await asyncio.gather(*futures))

    def _produce(self, record: Record, on_delivery: Any) -> None:
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=[(HEADER_EVENT_TYPE, record.event_type), *record.headers],
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                # The local queue is full: wait for deliveries rather than dropping the event.
                self._producer.poll(0.01)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)


def _resolver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Appended]) -> Any:
    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
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
