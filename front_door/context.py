"""What every request handler shares: settings, database pool, producer, directory, feed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from front_door import queries
from front_door.directory import Directory
from front_door.feed import DIRECTORY_TOPIC_NAMES, EventFeed, Reply
from front_door.fleet import Fleet
from front_door.problems import ApiError
from front_door.shared_limits import SharedLimits
from producers.event_producer import Appended, EventProducer
from projections.read_models import CONSUMER as PROJECTION
from schemas.codec import Event

T = TypeVar("T")

# How long a read of something just written waits for the projection before answering 503.
READ_YOUR_WRITES_SECONDS = 5.0


def behind() -> ApiError:
    return ApiError("unavailable", "accepted, but the read model is behind; read it again shortly")


def read_back(row: T | None) -> T:
    """What a write just made, read from its read model (503 if it is not there yet)."""
    if row is None:
        raise behind()
    return row


@dataclass
class Context:
    settings: Settings
    pool: AsyncConnectionPool
    producer: EventProducer
    directory: Directory
    feed: EventFeed
    fleet: Fleet
    limits: SharedLimits

    async def append(self, event: Event) -> Appended:
        """Append an event (durable once this returns) and apply it to this instance at once."""
        appended = await self.producer.append(event)
        self.directory.apply_own(event)
        return appended

    async def ask(self, event: Event, request_id: uuid.UUID) -> Reply:
        """Append a request and wait for the processors' reply to it (by request id)."""
        waiting = self.feed.expect(request_id)
        try:
            await self.append(event)
            return await asyncio.wait_for(waiting, self.settings.reply_timeout_seconds)
        except TimeoutError as exc:
            raise ApiError(
                "unavailable", "the request was recorded but not answered in time; ask again"
            ) from exc
        finally:
            self.feed.forget(request_id)

    async def reply_projected(self, reply: Reply) -> None:
        """Wait until the projection has applied `reply`, so that a read after the answer, on
        any replica, shows what it said (a new balance and its ledger line); 503 if not within
        READ_YOUR_WRITES_SECONDS."""
        if not await self._projected(reply.topic, {reply.partition: reply.offset + 1}):
            raise behind()

    async def projected_up_to_now(
        self, topic: str, within: float = READ_YOUR_WRITES_SECONDS
    ) -> bool:
        """Wait until the projection has applied everything `topic` held when this was called
        (so a read after a 201 on any instance sees the write); False if not within `within`."""
        ends = await asyncio.to_thread(self.producer.high_watermarks, topic)
        return await self._projected(topic, ends, within)

    async def eventually(self, read: Callable[[], Awaitable[T | None]], within: float) -> T | None:
        """`read()` until it finds something, for at most `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            found = await read()
            if found is not None or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)

    async def append_and_wait(self, event: Event) -> Appended:
        """Append, then `wait_applied` (read-your-writes on every replica for management
        endpoints; the call path never waits for the database)."""
        appended = await self.append(event)
        await self.wait_applied(appended)
        return appended

    async def wait_applied(self, appended: Appended) -> None:
        """Wait until the projection has applied an appended event and, for a change of the
        directory, until every replica's directory has; 503 `behind` if not within
        FLASHCALL_READ_MODEL_WAIT_SECONDS (the event stays stored and will be applied)."""
        within = self.settings.read_model_wait_seconds
        end = appended.offset + 1
        if not await self._projected(appended.topic, {appended.partition: end}, within):
            raise behind()
        if appended.topic in DIRECTORY_TOPIC_NAMES and not await self.fleet.wait_for(
            appended.topic, appended.partition, end, within
        ):
            raise behind()

    async def _projected(
        self, topic: str, ends: dict[int, int], within: float = READ_YOUR_WRITES_SECONDS
    ) -> bool:
        """Whether the projection's stored offsets reach `ends` (partition → offset) within
        `within` seconds (a connection is taken for each look, not held while waiting)."""
        deadline = time.monotonic() + within
        while True:
            stored = await queries.projection_positions(self.pool, PROJECTION, topic)
            if all(stored.get(p, 0) >= end for p, end in ends.items()):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
