"""The processors' figures: a lean hop as the baseline, each stage alone, the whole pipeline
end to end, latency at a fixed rate, scaling to two workers per role, and idle CPU.

Every measurement starts a broker and a database of its own (the ones the tests use), so
stages do not see each other's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Producer, TopicPartition
from fastavro import schemaless_reader, schemaless_writer

from core.db import migrate
from launch.broker import embedded_settings, started_broker
from launch.platform import ROOT, WORKER_ROLES, Platform
from launch.ports import free_port
from producers.event_producer import EventProducer, Record, to_record
from producers.topic_admin import ensure_topics
from schemas import topics
from schemas.codec import Event, decode, encode, new_event, writer_schema

PRICE = 1000
LOGS = ROOT / "var" / "bench-logs"
SERVER = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
# The bench's platform: the default simulated dial (100–500 ms) with enough dials in flight
# for thousands of calls a second, credit that never runs out, and fast group joins.
ENV = {
    "FLASHCALL_DIAL_CONCURRENCY": "3000",
    "FLASHCALL_DEFAULT_CREDIT_LIMIT": str(10**12),
    "FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT": str(10**15),
    "FLASHCALL_KEY_CALLS_PER_SECOND": "1000000",
    "FLASHCALL_KAFKA_SESSION_TIMEOUT_MS": "2000",
    # The bench's calls are never verified and its numbers are consecutive: the pumping rule
    # (core/fraud.py) read each range of 30 of them as pumped and refused the rest (streaming
    # 30,000 calls after 10,000: 42,012 results refused, 5,360 delivered). It still counts
    # every call here; it never blocks.
    "FLASHCALL_FRAUD_MIN_UNVERIFIED": str(10**9),
}


# Around a stage's measured window, given its worker (bench/stage_profile.py samples it there).
Observe = Callable[[subprocess.Popen[bytes]], contextlib.AbstractContextManager[Any]]


def _observed(observe: Observe | None, worker: subprocess.Popen[bytes]) -> Any:
    return observe(worker) if observe is not None else contextlib.nullcontext()


@dataclass
class Stage:
    bootstrap: str
    database_url: str
    broker: Any
    env: dict[str, str]  # the settings for this broker (launch/broker.py)


@contextlib.contextmanager
def stage() -> Iterator[Stage]:
    """A broker and a fresh database, torn down afterwards; topics as `make run` makes them."""
    name = f"flashcall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(SERVER, dbname=name)
    try:
        with started_broker(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) as (bootstrap, broker):
            migrate(url)
            env = embedded_settings() if broker is not None else {}
            ensure_topics(bootstrap, int(env.get("FLASHCALL_TOPIC_PARTITIONS", "6")))
            yield Stage(bootstrap, url, broker, env)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def wait_count(database_url: str, sql: str, wanted: int, limit: float = 600.0) -> float:
    """Seconds until `sql` counts `wanted` (TimeoutError after `limit`)."""
    started = time.monotonic()
    while count(database_url, sql) < wanted:
        if time.monotonic() - started > limit:
            raise TimeoutError(f"{sql} did not reach {wanted}")
        time.sleep(0.02)
    return time.monotonic() - started


def append(bootstrap: str, events: list[Event]) -> None:
    producer = EventProducer(bootstrap, "bench", linger_ms=5)
    try:
        for start in range(0, len(events), 5000):
            chunk = [to_record(e) for e in events[start : start + 5000]]
            asyncio.run(producer.append_records(chunk))
    finally:
        producer.close()


def services(
    bootstrap: str, database_url: str, count_: int, one_account: bool = False
) -> list[uuid.UUID]:
    """Services the decisions know, with credit for any number of calls; each of its own
    account, or all of one (whose row every decision about any of them then locks)."""
    ids = [uuid.uuid4() for _ in range(count_)]
    account = uuid.uuid4()
    append(
        bootstrap,
        [
            new_event(
                "ServiceCreated",
                service_id=sid,
                account_id=account if one_account else sid,
                name="bench",
                code_length=5,
                code_ttl_minutes=5,
                return_code=False,
                credit_limit=10**12,
            )
            for sid in ids
        ],
    )
    return ids


def requests(
    service_ids: list[uuid.UUID], calls: int, at: datetime | None = None, channel: str = ""
) -> list[Event]:
    """Distinct phones (none refused by the hourly limit), none ending like a sim failure;
    with a `channel`, each call's workflow is that one step (docs/workflows.md)."""
    account = uuid.uuid4()
    now = at or datetime.now(UTC)
    workflow = {}
    if channel:
        workflow = {
            "workflow": [{"channel": channel, "timeout_seconds": 60}],
            "sms_text": "کد تأیید شما: 12345",
            "price_per_sms": PRICE,
        }
    return [
        new_event(
            "CallRequested",
            occurred_at=now,
            call_id=uuid.uuid4(),
            service_id=service_ids[i % len(service_ids)],
            account_id=account,
            key_id=account,
            phone=f"+98912{i * 10 + 5:07d}"[:13],
            caller_number=f"+982191{i:08d}",
            code_length=5,
            code_ttl_minutes=5,
            attempt=1,
            retry_of=None,
            price_per_call=PRICE,
            **workflow,
        )
        for i in range(calls)
    ]


def platform(s: Stage, **env: str) -> Platform:
    return Platform(
        s.bootstrap, s.database_url, free_port(), env={**s.env, **ENV, **env}, log_dir=LOGS
    )


# ------------------------------------------------------------------------------ the baseline
def lean_hop(records: int) -> float:
    """Events per second of the hop the issue measured for comparison: confluent-kafka
    consume(2000), fastavro decode, one PostgreSQL transaction that upserts the batch and
    moves the stored offsets, produce and flush one output per input. Timed from its first
    batch: the first fetch came after ~30 ms or after a whole fetch wait (~515 ms) by chance,
    a third of a run of 20,000, which made the hop bimodal (docs/benchmarks-history.md)."""
    with stage() as s:
        events = requests([uuid.uuid4()], records)
        # The version the requests are written in (the oldest that holds them: schemas/codec.py).
        schema = writer_schema(encode(events[0]))
        append(s.bootstrap, events)
        with psycopg.connect(s.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE hop (id uuid PRIMARY KEY, phone text)")
            conn.execute("CREATE TABLE hop_offsets (p int PRIMARY KEY, next bigint)")
        consumer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "hop"})
        name = topics.CALL_REQUESTS.name
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in parts])
        producer = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 5})
        done, started = 0, 0.0
        with psycopg.connect(s.database_url) as conn:
            while done < records:
                batch = [m for m in consumer.consume(2000, 1.0) if m.error() is None]
                if batch and not started:
                    started = time.monotonic()
                decoded = [
                    schemaless_reader(io.BytesIO(m.value()[10:]), schema, None) for m in batch
                ]
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO hop SELECT * FROM unnest(%s::uuid[], %s::text[])"
                        " ON CONFLICT (id) DO UPDATE SET phone = EXCLUDED.phone",
                        ([e["call_id"] for e in decoded], [e["phone"] for e in decoded]),
                    )
                    ends: dict[int, int] = {}
                    for m in batch:
                        ends[m.partition()] = max(ends.get(m.partition(), 0), m.offset() + 1)
                    conn.execute(
                        "INSERT INTO hop_offsets SELECT * FROM unnest(%s::int[], %s::bigint[])"
                        " ON CONFLICT (p) DO UPDATE SET next = EXCLUDED.next",
                        (list(ends), list(ends.values())),
                    )
                for event in decoded:
                    out = io.BytesIO()
                    schemaless_writer(out, schema, event)
                    producer.produce(topics.DIAL_COMMANDS.name, out.getvalue())
                producer.flush()
                done += len(batch)
        elapsed = time.monotonic() - started
        consumer.close()
        return records / elapsed


# ------------------------------------------------------------------------------- the stages
def decisions_stage(
    calls: int,
    services_: int = 1,
    one_account: bool = False,
    workers: int = 1,
    observe: Observe | None = None,
) -> float:
    """Decisions per second: requests appended, decided by workers with only this role
    (`observe` sees the first)."""
    with stage() as s:
        plat = platform(s)
        try:
            started_workers = [
                plat.start_worker(f"decisions-{i}", roles="decisions") for i in range(workers)
            ]
            sids = services(s.bootstrap, s.database_url, services_, one_account)
            wait_count(s.database_url, "SELECT count(*) FROM proc_services", services_)
            events = requests(sids, calls)
            with _observed(observe, started_workers[0]):
                started = time.monotonic()
                append(s.bootstrap, events)
                wait_count(s.database_url, "SELECT count(*) FROM proc_calls", calls)
                return calls / (time.monotonic() - started)
        finally:
            plat.stop_all()


def dialer_stage(calls: int, sms: bool = False, observe: Observe | None = None) -> float:
    """Dials (or, with `sms`, messages of the simulated SMS centre) per second: commands
    appended, carried out by a worker with only this role."""
    with stage() as s:
        plat = platform(s)
        try:
            worker = plat.start_worker("dialer", roles="dialer")
            commands = [command(e, sms) for e in requests([uuid.uuid4()], calls)]
            with _observed(observe, worker):
                started = time.monotonic()
                append(s.bootstrap, commands)
                wait_count(
                    s.database_url, "SELECT count(*) FROM dials WHERE outcome IS NOT NULL", calls
                )
                return calls / (time.monotonic() - started)
        finally:
            plat.stop_all()


def command(request: Event, sms: bool) -> Event:
    ids = {"call_id": request["call_id"], "service_id": request["service_id"]}
    if sms:
        text = "کد تأیید شما: " + request["caller_number"][-5:]
        return new_event(
            "SendSms", step=0, phone=request["phone"], text=text, code_ttl_seconds=300.0, **ids
        )
    return new_event(
        "PlaceCall",
        phone=request["phone"],
        caller_number=request["caller_number"],
        code_ttl_seconds=300.0,
        **ids,
    )


def projection_stage(calls: int, observe: Observe | None = None) -> float:
    """Projected events per second: each call's request, delivery and charge appended,
    projected by a worker with only this role."""
    with stage() as s:
        plat = platform(s)
        try:
            worker = plat.start_worker("projections", roles="projections")
            events: list[Event] = []
            now = datetime.now(UTC)
            for i, request in enumerate(requests([uuid.uuid4()], calls, now)):
                ids = {"call_id": request["call_id"], "service_id": request["service_id"]}
                delivered = new_event(
                    "CallDelivered", expires_at=now + timedelta(minutes=5), dialed_at=now, **ids
                )
                events += [
                    request,
                    delivered,
                    new_event(
                        "CreditDebited",
                        amount=PRICE,
                        balance_after=-PRICE * (i + 1),
                        credit_seq=i + 1,
                        **ids,
                    ),
                ]
            with _observed(observe, worker):
                started = time.monotonic()
                append(s.bootstrap, events)
                wait_count(s.database_url, "SELECT count(*) FROM calls WHERE cost > 0", calls)
                return len(events) / (time.monotonic() - started)
        finally:
            plat.stop_all()


# ------------------------------------------------------------------------- the whole pipeline
DONE = "SELECT count(*) FROM calls WHERE status_rank >= 2 AND cost > 0"


def end_to_end(calls: int, workers_per_role: int = 1, channel: str = "") -> float:
    """Calls per second decided, dialled and projected (and charged), requests appended
    straight to the broker, the workers deployed as `make run` does (`workers_per_role` of
    each); with a `channel`, each call's one step is of that channel."""
    with stage() as s:
        plat = platform(s)
        try:
            for n in range(workers_per_role):
                for roles in WORKER_ROLES:
                    plat.start_worker(f"worker-{roles.split(',')[0]}-{n}", roles, wait=False)
            for proc in list(plat.children):
                plat.wait_ready(proc)
            sids = services(s.bootstrap, s.database_url, 20)
            wait_count(s.database_url, "SELECT count(*) FROM proc_services", 20)
            events = requests(sids, calls, channel=channel)
            started = time.monotonic()
            append(s.bootstrap, events)
            wait_count(s.database_url, DONE, calls)
            return calls / (time.monotonic() - started)
        finally:
            plat.stop_all()


class DialWatcher:
    """When each PlaceCall reached the broker (its CreateTime), by call id."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench", "fetch.wait.max.ms": 10}
        )
        name = topics.DIAL_COMMANDS.name
        parts = self._consumer.list_topics(name, timeout=10).topics[name].partitions
        self._consumer.assign([TopicPartition(name, p, OFFSET_END) for p in parts])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(1000, 0.05):
                if msg.error() is None:
                    self.seen[str(decode(msg.value())["call_id"])] = msg.timestamp()[1] / 1000

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def appended_latency(rate: float, seconds: float) -> tuple[float, float]:
    """p50 and p99 seconds from appending a request to the broker to its dial command on the
    broker, requests appended at `rate` a second (the workers as `make run` deploys them)."""
    with stage() as s:
        plat = platform(s)
        try:
            plat.start_workers()
            sids = services(s.bootstrap, s.database_url, 20)
            wait_count(s.database_url, "SELECT count(*) FROM proc_services", 20)
            watcher = DialWatcher(s.bootstrap)
            producer = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 0})
            sent: dict[str, float] = {}
            events = requests(sids, int(rate * seconds))
            started = time.monotonic()
            for i, event in enumerate(events):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                record = to_record(event)
                sent[str(event["call_id"])] = time.time()
                producer.produce(record.topic, record.value, record.key)
                producer.poll(0)
            producer.flush()
            waited = time.monotonic()
            while len(watcher.seen) < len(sent) and time.monotonic() - waited < 60:
                time.sleep(0.05)
            watcher.close()
            lags = sorted(watcher.seen[c] - t for c, t in sent.items() if c in watcher.seen)
            return percentile(lags, 0.5), percentile(lags, 0.99)
        finally:
            plat.stop_all()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------------------------- idle
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(seconds: float = 20.0, settle: float = 10.0) -> dict[str, float]:
    """Percent of one core each process of an idle platform (as `make run` deploys it) uses,
    and PostgreSQL's backends for its database."""
    with stage() as s:
        plat = platform(s)
        try:
            plat.start_workers()
            plat.start_api()
            time.sleep(settle)  # let the start-up settle: measure doing nothing
            processes: dict[str, Callable[[], list[int]]] = {
                name: (lambda pid=p.pid: [pid]) for p in plat.children for name in [plat.name_of(p)]
            }
            if s.broker is not None:
                processes["broker"] = lambda: [s.broker.pid]
            processes["postgres"] = lambda: backends(s.database_url)
            before = {n: sum(cpu_seconds(p) for p in pids()) for n, pids in processes.items()}
            started = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            return {
                n: (sum(cpu_seconds(p) for p in pids()) - before[n]) / elapsed * 100
                for n, pids in processes.items()
            }
        finally:
            plat.stop_all()


def backends(database_url: str) -> list[int]:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(SERVER) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def records_of(events: list[Event]) -> list[Record]:
    return [to_record(e) for e in events]
