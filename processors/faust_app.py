"""The processor worker: a faust application (lifecycle, signals, timers) running the
consumers of its roles (runtime/partitioned.py, applying batches exactly once into
PostgreSQL), plus the expiry, abandoned-dial, outbox and pruning timers.

Run it with `python -m processors worker`; `FLASHCALL_PROCESSOR_ROLES` picks the roles. Each
consumer is its own consumer group (`flashcall-<consumer>`), so roles scale separately.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from aiohttp import web
from faust.app.base import BootStrategy
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.caller_ranges import parse_blocked_ranges
from core.db import async_pool, migrate
from core.faults import is_transient
from core.fraud import FraudRules
from core.logs import configure as configure_logs
from core.logs import dict_config as log_config
from core.positions import PositionPastEnd, past_end, stored_positions
from core.settings import Settings
from core.trunks import parse_trunks
from front_door.context import Context
from front_door.fleet import close_directory, open_directory
from front_door.shared_limits import open_limits
from processors import health
from processors.carriers import Carrier, SimCarrier
from processors.consumers import CONSUMERS, SUBSCRIPTIONS
from processors.decisions import CONSUMER as DECISIONS
from processors.decisions import DecisionRules, Decisions
from processors.dialer import CONSUMER as DIALER
from processors.dialer import Dialer
from processors.expiry import expiry as code_expiry
from processors.ingress import CONSUMER as INGRESS
from processors.ingress import Ingress
from processors.kannel import DLR_PATH, KannelConfig, KannelSms
from processors.kannel import HEALTH_SECONDS as KANNEL_HEALTH_SECONDS
from processors.range_health import forget_old_outcomes, judge_counted
from processors.sip.carrier import SipCarrier
from processors.sip.locate import Locator
from processors.sms import SimSmsCentre, SmsCarrier
from processors.step_timer import step_timer
from processors.webhooks import CONSUMER as WEBHOOKS
from processors.webhooks import SenderRules, WebhookFanout, WebhookSender
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from projections.read_models import CONSUMER as PROJECTION
from projections.read_models import Projector
from projections.retention import forget_old_calls
from runtime.batches import Consumer, forget_applied_events
from runtime.failures import Runner
from runtime.outbox import BackgroundPublisher, publish_leftovers
from runtime.outbox import backlog as outbox_backlog
from runtime.partitioned import ConsumerConfig, PartitionedConsumer
from schemas.codec import use_schemas

log = logging.getLogger(__name__)

ROLES = ("decisions", "dialer", "expiry", "projections", "ingress", "webhooks")


class WorkerBoot(BootStrategy):
    """faust runs the worker (lifecycle, signals, timers, logging); it consumes nothing:
    the consumers read with confluent-kafka from positions PostgreSQL keeps
    (runtime/partitioned.py), and produce through the outbox."""

    enable_kafka_consumer = False
    enable_kafka_producer = False


class WorkerApp(faust.App):  # type: ignore[misc]
    BootStrategy = WorkerBoot


class Runtime:
    """The worker's connections, opened once on first use (nothing connects at import)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._producer: EventProducer | None = None
        self._publisher: BackgroundPublisher | None = None
        self._dialer: Dialer | None = None
        self._carrier_pool: AsyncConnectionPool | None = None
        self._sip: SipCarrier | None = None
        self.kannel: KannelSms | None = None
        self._context: Context | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            url = self.settings.require_database_url()
            pool = async_pool(url, max_size=self.settings.db_pool_size)
            # The simulated carrier stands for a telephone network: its own connections, so
            # hundreds of ringing handsets never queue the agents' transactions. The carriers'
            # shared limits use them too; every use is one statement (autocommit).
            self._carrier_pool = async_pool(url, max_size=4, autocommit=True)
            await pool.open()
            await self._carrier_pool.open()
            self._producer = EventProducer(
                self.settings.require_bootstrap(),
                "flashcall-processor",
                delivery_timeout_ms=self.settings.kafka_delivery_timeout_ms,
            )
            carrier: Carrier
            if self.settings.carrier == "sip":
                carrier = self._sip = sip_carrier(self.settings, self._carrier_pool)
            else:
                carrier = SimCarrier(
                    self._carrier_pool,
                    self.settings.sim_dial_min_ms,
                    self.settings.sim_dial_max_ms,
                    parse_blocked_ranges(self.settings.sim_blocked_ranges),
                )
            self._publisher = BackgroundPublisher(pool, self._producer)
            self._dialer = Dialer(
                pool,
                self._publisher,
                carrier,
                self.settings.dial_concurrency,
                notice_after=self.settings.dialing_notice_ms / 1000,
                sms=self._sms_carrier(),
                sms_sender=self.settings.sms_sender,
            )
            if self.kannel is not None:
                self.kannel.on_late(self._dialer.record_late)
            self._pool = pool

    def _sms_carrier(self) -> SmsCarrier:
        if self.settings.sms_carrier == "kannel":
            self.kannel = KannelSms(kannel_config(self.settings), self._carrier_pool)
            return self.kannel
        assert self._carrier_pool is not None
        return SimSmsCentre(
            self._carrier_pool, self.settings.sim_dial_min_ms, self.settings.sim_dial_max_ms
        )

    async def front_door(self) -> Context:
        """What the API checks calls with (directory, rate limits), for the Kafka ingress."""
        if self._context is None:
            directory, fleet = await open_directory(self.settings, self.pool)
            limits = await open_limits(self.settings, fleet)
            self._context = Context(
                self.settings, self.pool, self.producer, directory, fleet.feed, fleet, limits
            )
        return self._context

    def pool_if_open(self) -> AsyncConnectionPool | None:
        return self._pool

    @property
    def pool(self) -> AsyncConnectionPool:
        assert self._pool is not None
        return self._pool

    @property
    def producer(self) -> EventProducer:
        assert self._producer is not None
        return self._producer

    @property
    def publisher(self) -> BackgroundPublisher:
        assert self._publisher is not None
        return self._publisher

    @property
    def dialer(self) -> Dialer:
        assert self._dialer is not None
        return self._dialer

    async def stop(self) -> None:
        if self._context is not None:
            await self._context.limits.close()
            await close_directory(self._context.fleet)
        if self._dialer is not None:
            await self._dialer.drain()
        if self._publisher is not None:
            await self._publisher.close()
        if self._sip is not None:
            await self._sip.close()
        if self.kannel is not None:
            await self.kannel.close()
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


def sip_carrier(settings: Settings, pool: AsyncConnectionPool | None = None) -> SipCarrier:
    return SipCarrier(
        parse_trunks(settings.sip_trunks),
        ring_seconds=settings.sip_ring_seconds,
        max_concurrent=settings.sip_max_concurrent,
        cps=settings.sip_cps,
        t1=settings.sip_t1_ms / 1000,
        hangup_seconds=settings.sip_answered_hangup_ms / 1000,
        public=public_address(settings.sip_public_address),
        options_interval=settings.sip_options_interval_seconds,
        tls=ssl.create_default_context(cafile=settings.sip_tls_ca_file),
        locator=Locator(dns_server(settings.sip_dns_server)),
        pool=pool,
    )


def dns_server(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.partition(":")
    return host, int(port or 53)


def public_address(text: str | None) -> tuple[str, int | None] | None:
    """`host` or `host:port` (FLASHCALL_SIP_PUBLIC_ADDRESS)."""
    if not text:
        return None
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return (host, int(port)) if port else (text, None)


Job = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Started:
    """What one role runs in a worker: its consumers (name, what applies their batches, what
    runs after each commit) and its long-running tasks."""

    consumers: list[tuple[str, Consumer, Job | None]] = field(default_factory=list)
    tasks: list[Job] = field(default_factory=list)


def decision_rules(settings: Settings) -> DecisionRules:
    return DecisionRules(
        phone_calls_per_hour=settings.phone_calls_per_hour,
        retry_chain_max=settings.retry_chain_max,
        verify_max_attempts=settings.verify_max_attempts,
        ttl_minute_seconds=settings.ttl_minute_seconds,
        default_total_credit_limit=settings.default_total_credit_limit,
        ranges=settings.range_rules,
        fraud=FraudRules(
            prefix_digits=settings.fraud_prefix_digits,
            window_seconds=settings.fraud_window_seconds,
            baseline_seconds=settings.fraud_baseline_seconds,
            min_unverified=settings.fraud_min_unverified,
            max_conversion=settings.fraud_max_conversion,
            surge=settings.fraud_surge,
            cool_off_seconds=settings.fraud_cool_off_seconds,
        ),
    )


async def start_decisions(runtime: Runtime, settings: Settings) -> Started:
    async def judge_ranges() -> None:
        """The caller ranges this batch counted, judged at once after its commit (their
        quarantine is a matter of seconds); if that fails, the decisions timer does it."""
        try:
            await judge_counted(runtime.pool, runtime.publisher, settings.range_rules)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("judging caller ranges failed; the timer tries again")

    return Started([(DECISIONS, Decisions(decision_rules(settings)), judge_ranges)])


async def start_dialer(runtime: Runtime, settings: Settings) -> Started:
    return Started([(DIALER, runtime.dialer, runtime.dialer.start_claimed)])


async def start_nothing(runtime: Runtime, settings: Settings) -> Started:
    return Started()  # a role of timers only (ROLE_TIMERS)


async def start_projections(runtime: Runtime, settings: Settings) -> Started:
    return Started([(PROJECTION, Projector(), None)])


async def start_ingress(runtime: Runtime, settings: Settings) -> Started:
    return Started([(INGRESS, Ingress(await runtime.front_door()), None)])


async def start_webhooks(runtime: Runtime, settings: Settings) -> Started:
    sender = WebhookSender(
        runtime.pool,
        settings.require_database_url(),
        SenderRules(
            allow_private=settings.webhook_allow_private,
            retry_base_seconds=settings.webhook_retry_base_seconds,
            retry_window=timedelta(hours=settings.webhook_retry_hours),
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            timeout_seconds=settings.webhook_timeout_seconds,
        ),
    )
    return Started([(WEBHOOKS, WebhookFanout(sender.notify), None)], [sender.run])


# What each role starts in a worker, in the order of ROLES.
ROLE_STARTS: dict[str, Callable[[Runtime, Settings], Awaitable[Started]]] = {
    "decisions": start_decisions,
    "dialer": start_dialer,
    "expiry": start_nothing,
    "projections": start_projections,
    "ingress": start_ingress,
    "webhooks": start_webhooks,
}


def dialer_timers(runtime: Runtime, settings: Settings) -> list[tuple[float, Job]]:
    async def fail_abandoned_dials() -> None:
        await runtime.dialer.fail_abandoned(settings.dial_abandon_seconds)

    async def keep_dial_claims_alive() -> None:
        await runtime.dialer.keep_claims_alive()

    async def check_sms_gateway() -> None:
        if runtime.kannel is not None:
            await runtime.kannel.check()

    return [
        (min(10.0, settings.dial_abandon_seconds / 2), fail_abandoned_dials),
        # Several times within the bound: a claim kept alive is never taken for abandoned.
        (min(10.0, settings.dial_abandon_seconds / 4), keep_dial_claims_alive),
        (KANNEL_HEALTH_SECONDS, check_sms_gateway),
    ]


def kannel_config(settings: Settings) -> KannelConfig:
    assert settings.kannel_sendsms_url is not None  # checked by Settings
    return KannelConfig(
        sendsms_url=settings.kannel_sendsms_url,
        username=settings.kannel_username,
        password=settings.kannel_password,
        dlr_url=settings.kannel_dlr_url
        or f"http://{settings.metrics_host}:{settings.metrics_port}",
        cps=settings.kannel_cps,
        send_timeout=settings.kannel_send_timeout_seconds,
        dlr_timeout=settings.kannel_dlr_timeout_seconds,
    )


def expiry_timers(runtime: Runtime, settings: Settings) -> list[tuple[float, Job]]:
    # A code delivered after a look expires a TTL unit after its ring at the soonest.
    expiry = code_expiry(horizon=settings.ttl_minute_seconds / 4)
    # A step delivered after a look may be due at once (its deadline counts from its start).
    steps = step_timer(horizon=settings.step_timer_horizon_seconds)

    async def expire() -> None:
        await expiry.tick(runtime.pool, runtime.publisher)
        await steps.tick(runtime.pool, runtime.publisher)

    return [(settings.expiry_interval_seconds, expire)]


def decisions_timers(runtime: Runtime, settings: Settings) -> list[tuple[float, Job]]:
    # The caller ranges' counts: an hour, or the health window if longer, is all ever read.
    keep = max(3600.0, 2.0 * settings.range_window_seconds)

    async def prune_range_outcomes() -> None:
        while await forget_old_outcomes(runtime.pool, keep):
            pass

    async def judge_ranges() -> None:
        await judge_counted(runtime.pool, runtime.publisher, settings.range_rules)

    # Ranges are judged after each batch (start_decisions); this judges what a failure there
    # left, off the batches' transactions either way.
    return [(60.0, prune_range_outcomes), (1.0, judge_ranges)]


def projection_timers(runtime: Runtime, settings: Settings) -> list[tuple[float, Job]]:
    days = settings.call_retention_days
    if days is None:
        return []

    async def retention() -> None:
        while await forget_old_calls(runtime.pool, days):
            pass

    return [(60.0, retention)]


def worker_timers(runtime: Runtime, settings: Settings) -> list[tuple[float, Job]]:
    """Every worker's, whatever its roles."""

    async def prune_applied_events() -> None:
        while await forget_applied_events(runtime.pool, settings.dedup_retention_hours):
            pass

    async def outbox_leftovers() -> None:
        await publish_leftovers(runtime.pool, runtime.producer, older_than_seconds=5.0)
        metrics.OUTBOX_BACKLOG.set(await outbox_backlog(runtime.pool))

    return [(60.0, prune_applied_events), (2.0, outbox_leftovers)]


# The timers each role adds (every worker also runs worker_timers).
ROLE_TIMERS: dict[str, Callable[[Runtime, Settings], list[tuple[float, Job]]]] = {
    "decisions": decisions_timers,
    "dialer": dialer_timers,
    "expiry": expiry_timers,
    "projections": projection_timers,
}


def build_app(settings: Settings) -> faust.App:
    """The worker for the roles in `settings`: each role's consumers and tasks (ROLE_STARTS)
    and timers (ROLE_TIMERS)."""
    roles = settings.roles
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown processor roles: {sorted(unknown)}")
    use_schemas(settings.schema_dir)
    app = WorkerApp(
        "flashcall-" + "-".join(r for r in ROLES if r in roles),
        broker=f"kafka://{settings.require_bootstrap()}",
        web_enabled=False,
        # Merged into faust's own (the level stays --loglevel's): our formatter from the start.
        logging_config={**log_config(settings.log_format), "merge": True},
        topic_allow_declare=False,
        topic_disable_leader=True,
        # We keep no faust tables; a private directory lets workers share a checkout.
        datadir=tempfile.mkdtemp(prefix="flashcall-faust-"),
    )
    runtime = Runtime(settings)
    consumers: list[PartitionedConsumer] = []
    endpoints: list[Any] = []  # the /metrics, /healthz, /readyz server

    @app.on_before_configured.connect  # type: ignore[arg-type, untyped-decorator]
    def _prepare(_: Any, **__: Any) -> None:
        migrate(settings.require_database_url())
        ensure_topics(
            settings.require_bootstrap(), settings.topic_partitions, settings.topic_replication
        )
        for name, spec in CONSUMERS.items():
            if spec.role in roles:
                check_positions(settings, name)

    def timer(seconds: float, job: Job) -> None:
        """A faust timer that never takes the worker down: a dependency away is waited out,
        anything else is logged, and the job runs again at its next tick."""

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

    def consumer(name: str, applier: Consumer, after_commit: Job | None) -> PartitionedConsumer:
        spec = CONSUMERS[name]
        part = PartitionedConsumer(
            ConsumerConfig(
                bootstrap=settings.require_bootstrap(),
                database_url=settings.require_database_url(),
                group=f"flashcall-{name}",
                topics=spec.subscription,
                batch_size=settings.processor_batch_size,
                fetch_wait_ms=settings.fetch_wait_ms(spec.call_path),
                session_timeout_ms=settings.kafka_session_timeout_ms,
                metadata_refresh_ms=settings.ingress_discovery_ms if spec.pattern else None,
                stuck_seconds=settings.kafka_group_stuck_seconds,
            ),
            Runner(
                runtime.pool,
                runtime.publisher,
                name,
                applier,
                spec.policy,
                settings.require_bootstrap(),
                after_commit=after_commit,
                park_undecodable=settings.park_undecodable,
            ),
        )
        part.runner.highwater = part.highwater
        return part

    async def sms_report(request: web.Request) -> web.Response:
        """Kannel's delivery reports, for the dialer's SMS carrier (once it runs)."""
        if runtime.kannel is None:
            return web.Response(status=503, text="no Kannel carrier runs here")
        return await runtime.kannel.on_report(request)

    @app.task  # type: ignore[untyped-decorator]
    async def consume() -> None:
        configure_logs(settings.log_format)  # after faust set its handlers up
        if settings.metrics_port:
            endpoints.append(
                await health.serve(
                    settings.metrics_host,
                    settings.metrics_port,
                    consumers,
                    runtime.pool_if_open,
                    routes=[(DLR_PATH, sms_report)],
                )
            )
        await runtime.start()
        tasks: list[asyncio.Task[None]] = []
        for role in (r for r in ROLES if r in roles):
            started = await ROLE_STARTS[role](runtime, settings)
            consumers.extend(consumer(*entry) for entry in started.consumers)
            tasks.extend(asyncio.create_task(job(), name=job.__name__) for job in started.tasks)
        running = [asyncio.create_task(c.run(), name=c.name) for c in consumers]
        try:
            if settings.ready_file:
                await asyncio.to_thread(lambda: [c.assigned.wait() for c in consumers])
                await asyncio.to_thread(Path(settings.ready_file).touch)
            await asyncio.gather(*running, *tasks)
        finally:
            not_ready()

    for role in (r for r in ROLES if r in roles and r in ROLE_TIMERS):
        for seconds, job in ROLE_TIMERS[role](runtime, settings):
            timer(seconds, job)
    for seconds, job in worker_timers(runtime, settings):
        timer(seconds, job)

    def not_ready() -> None:
        """A worker that stops consuming is no longer ready (its file says so too)."""
        if settings.ready_file:
            Path(settings.ready_file).unlink(missing_ok=True)

    @app.on_before_shutdown.connect  # type: ignore[arg-type, untyped-decorator]
    async def _close(_: Any, **__: Any) -> None:
        not_ready()
        for runner in endpoints:
            await runner.cleanup()
        await runtime.stop()
        shutil.rmtree(app.conf.datadir, ignore_errors=True)

    return app
