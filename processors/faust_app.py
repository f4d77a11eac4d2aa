"""The faust application: one agent per consumed topic and role, all applying batches through
`apply_batch` (exactly-once into PostgreSQL), plus the expiry and outbox timers.

Run it with `python -m processors worker`; `FLASHCALL_PROCESSOR_ROLES` picks the roles, and each
set of roles is its own consumer group, so roles scale separately.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiokafka
import faust
from faust.types import TP
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool, migrate
from core.faults import is_transient
from core.positions import PositionPastEnd, past_end, stored_positions
from core.settings import Settings
from core.trunks import parse_trunks
from processors.batches import Consumed, Handler, forget_applied_events
from processors.carriers import Carrier, SimCarrier
from processors.decisions import CONSUMER as DECISIONS
from processors.decisions import DecisionRules, Decisions
from processors.dialer import CONSUMER as DIALER
from processors.dialer import Dialer
from processors.expiry import expire_due
from processors.failures import Policy, Runner
from processors.outbox import publish_leftovers
from processors.sip.carrier import SipCarrier
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from projections.read_models import CONSUMER as PROJECTION
from projections.read_models import PROJECTED_TOPICS, Projector
from schemas import topics

log = logging.getLogger(__name__)

ROLES = ("decisions", "dialer", "expiry", "projections")

# What each consumer reads (its consumed offsets are stored under its name), and what it does
# with a record it can never apply (docs/reliability.md): the decisions stop at it, since
# every later decision about a service depends on the ones before (credit, attempts, limits);
# the dialer and the projection park it and go on (each dial stands alone; the read models are
# order-tolerant upserts, and a parked record re-driven later lands where it belongs).
SUBSCRIPTIONS: dict[str, tuple[topics.Topic, ...]] = {
    DECISIONS: (topics.SERVICES, topics.CALL_REQUESTS, topics.DIAL_OUTCOMES),
    DIALER: (topics.DIAL_COMMANDS,),
    PROJECTION: PROJECTED_TOPICS,
}
POLICIES: dict[str, Policy] = {
    DECISIONS: Policy.STOP,
    DIALER: Policy.PARK,
    PROJECTION: Policy.PARK,
}
ROLE_CONSUMERS: dict[str, str] = {
    "decisions": DECISIONS,
    "dialer": DIALER,
    "projections": PROJECTION,
}


def _shorten_fetch_wait(wait_ms: int) -> None:
    """faust hard-codes fetch_max_wait_ms=1500 for its consumer; on a quiet topic every hop
    would wait that long. Subclass the consumer it builds so the setting decides."""
    base = aiokafka.AIOKafkaConsumer
    if getattr(base, "_flashcall_wait", None) is not None:
        return

    class Consumer(base):  # type: ignore[misc, valid-type]
        _flashcall_wait = wait_ms

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = wait_ms
            kwargs["consumer_timeout_ms"] = wait_ms
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = Consumer


class Runtime:
    """The worker's connections, opened once on first use (nothing connects at import)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._producer: EventProducer | None = None
        self._dialer: Dialer | None = None
        self._carrier_pool: AsyncConnectionPool | None = None
        self._sip: SipCarrier | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            url = self.settings.require_database_url()
            pool = async_pool(url, max_size=20)
            # The simulated carrier stands for a telephone network: its own connections, so
            # hundreds of ringing handsets never queue the agents' transactions.
            self._carrier_pool = async_pool(url, max_size=4)
            await pool.open()
            await self._carrier_pool.open()
            self._producer = EventProducer(
                self.settings.require_bootstrap(),
                "flashcall-processor",
                delivery_timeout_ms=self.settings.kafka_delivery_timeout_ms,
            )
            carrier: Carrier
            if self.settings.carrier == "sip":
                carrier = self._sip = sip_carrier(self.settings)
            else:
                carrier = SimCarrier(
                    self._carrier_pool,
                    self.settings.sim_dial_min_ms,
                    self.settings.sim_dial_max_ms,
                )
            self._dialer = Dialer(pool, self._producer, carrier, self.settings.dial_concurrency)
            self._pool = pool

    @property
    def pool(self) -> AsyncConnectionPool:
        assert self._pool is not None
        return self._pool

    @property
    def producer(self) -> EventProducer:
        assert self._producer is not None
        return self._producer

    @property
    def dialer(self) -> Dialer:
        assert self._dialer is not None
        return self._dialer

    async def stop(self) -> None:
        if self._dialer is not None:
            await self._dialer.drain()
        if self._sip is not None:
            await self._sip.close()
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
        for pool in (self._pool, self._carrier_pool):
            if pool is not None:
                await pool.close()


def check_positions(settings: Settings, consumer: str) -> None:
    """Refuse to start a consumer whose stored positions the broker does not have (an emptied
    or recreated topic): it would take their records for ones applied and skip them."""
    names = [t.name for t in SUBSCRIPTIONS[consumer]]
    stored = stored_positions(settings.require_database_url(), consumer, names)
    past = past_end(settings.require_bootstrap(), stored)
    if past:
        error = PositionPastEnd(consumer, past)
        log.critical("%s", error)
        raise SystemExit(f"stopping: {error}")


def sip_carrier(settings: Settings) -> SipCarrier:
    return SipCarrier(
        parse_trunks(settings.sip_trunks),
        ring_seconds=settings.sip_ring_seconds,
        max_concurrent=settings.sip_max_concurrent,
        cps=settings.sip_cps,
        t1=settings.sip_t1_ms / 1000,
    )


def build_app(settings: Settings) -> faust.App:
    """A faust app running the roles in `settings`."""
    roles = settings.roles
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown processor roles: {sorted(unknown)}")
    _shorten_fetch_wait(settings.kafka_fetch_wait_ms)
    session_s = settings.kafka_session_timeout_ms / 1000
    app = faust.App(
        "flashcall-" + "-".join(r for r in ROLES if r in roles),
        broker=f"kafka://{settings.require_bootstrap()}",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(0.1, session_s / 6),
        broker_rebalance_timeout=max(session_s, 2.0),
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        # We keep no faust tables; a private directory lets workers share a checkout.
        datadir=tempfile.mkdtemp(prefix="flashcall-faust-"),
    )
    runtime = Runtime(settings)

    @app.on_before_configured.connect  # type: ignore[arg-type, untyped-decorator]
    def _prepare(_: Any, **__: Any) -> None:
        migrate(settings.require_database_url())
        ensure_topics(settings.require_bootstrap(), settings.topic_partitions)
        for role in sorted(roles & set(ROLE_CONSUMERS)):
            check_positions(settings, ROLE_CONSUMERS[role])

    def highwater(topic: str, partition: int) -> int | None:
        """The high watermark of the partition's last Fetch response, if the client has one."""
        try:
            high = app.consumer.highwater(TP(topic, partition))
        except Exception:  # not assigned (any more): nothing to compare with
            return None
        return int(high) if high is not None else None

    runners: dict[str, Runner] = {}

    def timer(seconds: float) -> Callable[[Callable[[], Awaitable[None]]], None]:
        """A faust timer that never takes the worker down: a dependency away is waited out,
        anything else is logged, and the job runs again at its next tick."""

        def register(job: Callable[[], Awaitable[None]]) -> None:
            async def tick() -> None:
                try:
                    await runtime.start()
                    await job()
                except Exception as exc:
                    if not is_transient(exc):
                        log.exception("%s failed; it runs again in %.1f s", job.__name__, seconds)
                    else:
                        log.warning("%s waits for a dependency: %r", job.__name__, exc)

            tick.__name__ = tick.__qualname__ = job.__name__
            app.timer(seconds)(tick)

        return register

    def runner(
        consumer: str, handler: Handler, after_commit: Callable[[], Awaitable[None]] | None
    ) -> Runner:
        if consumer not in runners:
            runners[consumer] = Runner(
                runtime.pool,
                runtime.producer,
                consumer,
                handler,
                POLICIES[consumer],
                settings.require_bootstrap(),
                after_commit=after_commit,
                highwater=highwater,
            )
        return runners[consumer]

    def batch_agent(
        consumer: str,
        topic: topics.Topic,
        handler: Callable[[Runtime], Handler],
        after_commit: Callable[[Runtime], Awaitable[None]] | None = None,
    ) -> None:
        channel = app.topic(topic.name, key_type=bytes, value_type=bytes)

        async def agent(stream: Any) -> AsyncIterator[None]:
            await runtime.start()
            run = runner(
                consumer,
                handler(runtime),
                (lambda: after_commit(runtime)) if after_commit is not None else None,
            )
            async for events in stream.take_events(
                settings.processor_batch_size, within=settings.processor_batch_within_seconds
            ):
                # Returns once every record is applied or parked: faust acknowledges them only
                # then, and a stopped consumer holds here (docs/reliability.md).
                await run.run(
                    [
                        Consumed(
                            e.message.topic,
                            e.message.partition,
                            e.message.offset,
                            e.value,
                            e.message.key,
                        )
                        for e in events
                    ]
                )
                yield None

        app.agent(channel, name=f"{consumer}-{topic.name}")(agent)

    if "decisions" in roles:
        decisions = Decisions(
            DecisionRules(
                phone_calls_per_hour=settings.phone_calls_per_hour,
                retry_chain_max=settings.retry_chain_max,
                verify_max_attempts=settings.verify_max_attempts,
                ttl_minute_seconds=settings.ttl_minute_seconds,
            )
        )
        for topic in SUBSCRIPTIONS[DECISIONS]:
            batch_agent(DECISIONS, topic, lambda _: decisions.handle)

    if "dialer" in roles:
        [dial_commands] = SUBSCRIPTIONS[DIALER]
        batch_agent(
            DIALER,
            dial_commands,
            lambda rt: rt.dialer.claim,
            after_commit=lambda rt: rt.dialer.start_claimed(),
        )

        @timer(min(10.0, settings.dial_abandon_seconds / 2))
        async def fail_abandoned_dials() -> None:
            await runtime.dialer.fail_abandoned(settings.dial_abandon_seconds)

    if "projections" in roles:
        projector = Projector()
        for topic in SUBSCRIPTIONS[PROJECTION]:
            batch_agent(PROJECTION, topic, lambda _: projector.handle)

    if "expiry" in roles:

        @timer(settings.expiry_interval_seconds)
        async def expire() -> None:
            while await expire_due(runtime.pool, runtime.producer) > 0:
                pass

    @timer(60.0)
    async def prune_applied_events() -> None:
        while await forget_applied_events(runtime.pool, settings.dedup_retention_hours):
            pass

    @timer(2.0)
    async def outbox_leftovers() -> None:
        await publish_leftovers(runtime.pool, runtime.producer, older_than_seconds=5.0)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type, untyped-decorator]
    async def _ready(_: Any, **__: Any) -> None:
        if settings.ready_file:
            await asyncio.to_thread(Path(settings.ready_file).touch)

    @app.on_before_shutdown.connect  # type: ignore[arg-type, untyped-decorator]
    async def _close(_: Any, **__: Any) -> None:
        await runtime.stop()
        shutil.rmtree(app.conf.datadir, ignore_errors=True)

    return app
