"""The API's event feed: a confluent-kafka consumer thread, assigned (no group join) to

- accounts, services, their credit status and access keys from the beginning, applied to the
  Directory;
- the replies topic from the end, resolving the replies that requests wait for (the verdict
  on a verification attempt, the outcome of a top-up).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition
from psycopg_pool import AsyncConnectionPool

from core.positions import PositionPastEnd
from front_door import queries
from front_door.directory import Directory, UnknownEvent
from projections.read_models import CONSUMER as PROJECTION
from schemas import topics
from schemas.codec import Event, Undecodable, decode

log = logging.getLogger(__name__)

BOOTSTRAP_TOPICS = (
    topics.ACCOUNTS,
    topics.SERVICES,
    topics.SERVICE_STATUS,
    topics.ACCOUNT_STATUS,
    topics.ACCESS_KEYS,
    topics.TEST_NUMBERS,
    topics.CALLER_RANGES,
)
DIRECTORY_TOPIC_NAMES = frozenset(t.name for t in BOOTSTRAP_TOPICS)
REPLY_TOPICS = (topics.REPLIES,)
# Reply events, and the field naming the request they answer.
REPLIES = {"VerificationJudged": "attempt_id", "CreditToppedUp": "topup_id"}


@dataclass(frozen=True)
class Reply:
    """A reply the processors published, and where (so a reader can wait for its projection)."""

    event: Event
    topic: str
    partition: int
    offset: int


class EventFeed:
    def __init__(
        self,
        bootstrap: str,
        directory: Directory,
        fetch_wait_ms: int,
        park_undecodable: bool = False,
    ) -> None:
        self.directory = directory
        # A record no known schema reads stops its partition here too (the processors' rule),
        # unless the operator parks such records: then this instance passes over it (the
        # processors keep the copy in flashcall.dead-letters).
        self._park_undecodable = park_undecodable
        self.stopped: dict[tuple[str, int], str] = {}
        self.passed_over = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"flashcall-api-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": fetch_wait_ms,
                "auto.offset.reset": "latest",
            }
        )
        self._waiting: dict[uuid.UUID, tuple[asyncio.AbstractEventLoop, asyncio.Future[Reply]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-feed", daemon=True)
        self._pending_eof: set[tuple[str, int]] = set()
        # Where each partition of the directory's topics ended when the feed caught up.
        self.ends: dict[tuple[str, int], int] = {}
        # How far the directory has read each partition of its topics (the next offset), and
        # who is told when it read more (front_door/fleet.py; called on the feed's thread).
        self.positions: dict[tuple[str, int], int] = {}
        self.on_change: Callable[[], None] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Assign, then block until the directory holds everything published so far."""
        metadata = self._consumer.list_topics(timeout=30)
        assignment = []
        for t in BOOTSTRAP_TOPICS:
            for p in metadata.topics[t.name].partitions:
                assignment.append(TopicPartition(t.name, p, OFFSET_BEGINNING))
                self._pending_eof.add((t.name, p))
        for t in REPLY_TOPICS:
            for p in metadata.topics[t.name].partitions:
                assignment.append(TopicPartition(t.name, p, OFFSET_END))
                self._pending_eof.add((t.name, p))
        self._consumer.assign(assignment)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the event feed did not catch up in time")

    @property
    def caught_up(self) -> bool:
        """The directory holds what its topics held at start, and the feed is still reading."""
        return self._ready.is_set() and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()

    def expect(self, request_id: uuid.UUID) -> asyncio.Future[Reply]:
        """A future for the reply to `request_id`; register it before appending the request."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        with self._lock:
            self._waiting[request_id] = (loop, future)
        return future

    def forget(self, request_id: uuid.UUID) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            msgs = self._consumer.consume(500, 0.1)
            moved = False
            for msg in msgs:
                err = msg.error()
                where = (str(msg.topic()), int(msg.partition() or 0))
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if where in self._pending_eof:
                            self.ends[where] = int(msg.offset() or 0)
                        moved |= self._advance(where, int(msg.offset() or 0))
                        self._caught_up(where)
                    else:
                        log.warning("feed error: %s", err)
                    continue
                if where not in self.stopped:  # fetched before the partition stopped
                    self._handle(msg, where)
                    moved |= self._advance(where, int(msg.offset() or 0) + 1)
            if moved and self.on_change is not None:
                self.on_change()

    def _advance(self, where: tuple[str, int], next_offset: int) -> bool:
        """Record how far a directory topic's partition has been read; whether it moved."""
        if where[0] not in DIRECTORY_TOPIC_NAMES or self.positions.get(where, -1) >= next_offset:
            return False
        self.positions[where] = next_offset
        return True

    def _caught_up(self, where: tuple[str, int]) -> None:
        self._pending_eof.discard(where)
        if not self._pending_eof:
            self._ready.set()

    def _handle(self, msg: Any, where: tuple[str, int]) -> None:
        try:
            event = decode(msg.value())
        except Undecodable as exc:
            self._undecodable(msg, where, exc)
            return
        reply_to = REPLIES.get(event["event_type"])
        if reply_to is not None:
            with self._lock:
                waiting = self._waiting.pop(event[reply_to], None)
            if waiting is not None:
                loop, future = waiting
                reply = Reply(event, where[0], where[1], int(msg.offset() or 0))
                loop.call_soon_threadsafe(_resolve, future, reply)
        else:
            try:
                self.directory.apply(event)
            except UnknownEvent as exc:
                self._refuse(msg, where, f"the directory knows no event type {exc}")

    def _undecodable(self, msg: Any, where: tuple[str, int], exc: Undecodable) -> None:
        self._refuse(msg, where, f"no known schema reads it ({exc})")

    def _refuse(self, msg: Any, where: tuple[str, int], why: str) -> None:
        """A record this build cannot apply: passed over (FLASHCALL_PARK_UNDECODABLE) or its
        partition stopped at it, loudly either way."""
        at = f"{where[0]}[{where[1]}]@{msg.offset()}"
        if self._park_undecodable:
            self.passed_over += 1
            log.error("feed: passed over %s: %s; passed over so far: %d", at, why, self.passed_over)
            return
        self._consumer.pause([TopicPartition(*where)])
        self.stopped[where] = f"{at}: {why}"
        log.error(
            "feed STOPPED at %s: %s; this instance learns nothing more from that partition"
            " until a build that reads it starts",
            at,
            why,
        )
        self._caught_up(where)  # nothing more will come: do not hold the start for it


async def projected_directory(pool: AsyncConnectionPool) -> dict[tuple[str, int], int]:
    """How far the projection has applied each partition of the directory's topics (the next
    offset): everything a write answered 2xx put there lies before it."""
    return await queries.applied_positions(pool, PROJECTION, [t.name for t in BOOTSTRAP_TOPICS])


async def check_directory_matches_read_models(
    pool: AsyncConnectionPool, ends: dict[tuple[str, int], int]
) -> None:
    """Refuse to serve when the read models (PostgreSQL) have applied more of the directory's
    topics than the broker holds (an emptied or recreated broker): the API would then know
    none of the keys and tokens the read models list."""
    past = {
        where: (applied, ends.get(where, 0))
        for where, applied in (await projected_directory(pool)).items()
        if applied > ends.get(where, 0)
    }
    if past:
        raise PositionPastEnd("the API's directory", past)


def _resolve(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():
        future.set_result(reply)
