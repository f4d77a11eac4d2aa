"""`make chaos`: faults under load, and what they cost.

Starts a broker and a fresh database of its own and the platform as `make run` deploys it
(decisions with expiry, dialer, projection, API) under its supervisor; then, for each fault,
places calls at a fixed rate over HTTP, injects the fault part way through, and counts:

- accepted: calls answered 201; refused: answered 503 or not answered (the API was down);
- lost: accepted calls the read model never shows; stuck: accepted calls not delivered or
  finished once the platform settled; double dials: calls whose handset rang more than once;
- billed: whether each service's debits are its delivered calls × the price, once each, and its
  balance is its ledger;
- recovered in: seconds from the fault until a call accepted after it shows delivered;
- served after: a call placed once it is over rings and shows delivered.

The suite runs the same scenarios, smaller (tests/e2e/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg
from confluent_kafka import Producer
from fastavro import schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from bench.load import paced
from core.db import migrate
from core.settings import DEV_ADMIN_TOKEN
from launch.broker import embedded_settings, started_broker
from launch.platform import ROOT, Code, Platform
from launch.ports import free_port
from producers.topic_admin import ensure_topics
from projections import call_rollup
from schemas import topics
from schemas.codec import MAGIC, schemas

# As the tests run the platform: fast simulated dials, short group timeouts, and dials of a
# killed dialer abandoned after 4 s.
ENV = {
    "FLASHCALL_ENV": "test",
    "FLASHCALL_SIM_DIAL_MIN_MS": "5",
    "FLASHCALL_SIM_DIAL_MAX_MS": "25",
    "FLASHCALL_KAFKA_SESSION_TIMEOUT_MS": "2000",
    "FLASHCALL_DIAL_ABANDON_SECONDS": "4",
    # An append not acknowledged within 3 s is answered 503 (while the broker is away).
    "FLASHCALL_KAFKA_DELIVERY_TIMEOUT_MS": "3000",
    # The operator's choice to park records no schema reads (the default stops at them; see
    # tests/e2e/test_schema_evolution.py), so that the poison scenario shows parking.
    "FLASHCALL_PARK_UNDECODABLE": "true",
}
SETTLED = {"delivered", "verified", "expired", "failed", "rejected"}
PRICE = 1000
# Services whose calls go to busy numbers through a workflow of a flash call then an SMS
# (docs/workflows.md): each call's flash call fails, and its SMS step starts and is charged,
# under the same faults. Their accounts pay PRICE an SMS, so the billing checks stay one rule.
HANDOVER: set[str] = set()
HANDOVER_WORKFLOW = [
    {"channel": "flash_call", "timeout_seconds": 60},
    {"channel": "sms", "timeout_seconds": 60},
]


@dataclass
class Outcome:
    fault: str
    accepted: int = 0
    refused: int = 0
    lost: int = 0
    stuck: int = 0
    double_dials: int = 0
    billed: bool = False
    recovered_in: float | None = None
    served_after: bool = False
    restarts: int = 0
    parked: int = 0
    refusals: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.accepted > 0
            and not self.problems
            and set(self.refusals) <= {0, 503}
            and self.lost == 0
            and self.stuck == 0
            and self.double_dials == 0
            and self.billed
            and self.served_after
        )

    def line(self) -> str:
        recovered = "-" if self.recovered_in is None else f"{self.recovered_in:5.1f} s"
        why = ", ".join(
            f"{n} {'unanswered' if status == 0 else status}"
            for status, n in sorted(self.refusals.items())
        )
        return (
            f"  {self.fault:<22} accepted {self.accepted:5d}  refused {self.refused:4d}"
            f"{f' ({why})' if why else ''}"
            f"  lost {self.lost}  stuck {self.stuck}  double dials {self.double_dials}"
            f"  billed {'ok' if self.billed else 'WRONG'}  recovered in {recovered}"
            f"  restarts {self.restarts}  parked {self.parked}"
            f"  served after {'yes' if self.served_after else 'NO'}"
        )


@dataclass
class Stage:
    """A platform of its own for the faults: its broker, its database, its processes."""

    platform: Platform
    database_url: str
    broker: subprocess.Popen[bytes] | None

    @property
    def database_name(self) -> str:
        return str(psycopg.conninfo.conninfo_to_dict(self.database_url)["dbname"])


@contextlib.contextmanager
def stage(
    server_url: str,
    log_dir: Path | None = None,
    replicas: dict[str, int] | None = None,
    supervised: bool = True,
    env: dict[str, str] | None = None,
    code: Code | None = None,
) -> Iterator[Stage]:
    """A broker, a database and the platform's processes of their own: one of each kind, or
    `replicas` of them (several APIs behind HAProxy), under the supervisor unless not
    `supervised`; `env` adds settings. `code` runs another build or version (launch/platform.py):
    its own processes migrate the database, as each does when it starts."""
    name = f"flashcall_chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    try:
        with started_broker(None) as (bootstrap, broker):
            if code is None:
                migrate(database_url)
            settings = {**(embedded_settings() if broker is not None else {}), **ENV, **(env or {})}
            ensure_topics(bootstrap, int(settings.get("FLASHCALL_TOPIC_PARTITIONS", "6")))
            platform = Platform(
                bootstrap,
                database_url,
                free_port(),
                env=settings,
                log_dir=log_dir,
                code=code or Code(),
            )
            try:
                platform.start_workers(replicas)
                platform.start_apis((replicas or {}).get("api", 1))
                if supervised:
                    platform.supervise()
                yield Stage(platform, database_url, broker)
            finally:
                platform.stop_all()
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ----------------------------------------------------------------------------------- faults
Fault = Callable[[Stage], None]


def kill(name: str) -> Fault:
    def fault(stage: Stage) -> None:
        for proc in stage.platform.running(name):
            proc.send_signal(signal.SIGKILL)

    return fault


def postgres_away(seconds: float) -> Fault:
    """PostgreSQL refuses the platform for `seconds`: every session is ended and new ones are
    refused, as during a restart (of this database only: the server is shared)."""

    def fault(stage: Stage) -> None:
        server = psycopg.conninfo.make_conninfo(stage.database_url, dbname="postgres")
        name = stage.database_name
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            time.sleep(seconds)
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    return fault


def broker_away(seconds: float) -> Fault:
    """The broker answers nothing for `seconds` (frozen with SIGSTOP, so it keeps its data):
    appends wait, then fail after the delivery timeout; consumers wait."""

    def fault(stage: Stage) -> None:
        assert stage.broker is not None, "needs the embedded broker"
        stage.broker.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            stage.broker.send_signal(signal.SIGCONT)

    return fault


def poison_records(stage: Stage) -> None:
    """Records no consumer can apply, appended straight to the topics (as a foreign or broken
    producer would): an account whose name holds a NUL, and bytes that are no event."""
    schema = schemas()["AccountCreated"]
    fingerprint_bytes = int(
        fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"), 16
    ).to_bytes(8, "little")
    body = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC),
        "account_id": str(uuid.uuid4()),
        "name": "poison\x00",
        "token_hash": uuid.uuid4().hex,
        "price_per_call": PRICE,
        "credit_limit": 0,
    }
    out = io.BytesIO()
    out.write(MAGIC + fingerprint_bytes)  # written past the codec, which refuses the NUL
    schemaless_writer(out, schema, body)
    producer = Producer({"bootstrap.servers": stage.platform.bootstrap})
    producer.produce(topics.ACCOUNTS.name, out.getvalue(), body["account_id"].encode())
    producer.produce(topics.DIAL_COMMANDS.name, b"no event at all", b"garbage")
    producer.flush(10)


FAULTS: dict[str, Fault] = {
    "kill -9 decisions": kill("worker-decisions"),
    "kill -9 dialer": kill("worker-dialer"),
    "kill -9 projection": kill("worker-projections"),
    "kill -9 api": kill("api"),
    "postgres away 3 s": postgres_away(3.0),
    "broker away 5 s": broker_away(5.0),
    "poison records": poison_records,
}
PROCESS_OF = {
    "kill -9 decisions": "worker-decisions",
    "kill -9 dialer": "worker-dialer",
    "kill -9 projection": "worker-projections",
    "kill -9 api": "api",
}


# ------------------------------------------------------------------------------------- load
@dataclass
class Load:
    accepted: dict[str, str] = field(default_factory=dict)  # call id -> service id
    refused: int = 0
    resent: int = 0  # requests sent again by a careful client (load_until(careful=True))
    # Refusals by status (0: no answer at all); a 503 must say when to come back.
    refusals: dict[int, int] = field(default_factory=dict)
    without_retry_after: int = 0

    def refuse(self, status: int, retry_after: str | None = None) -> None:
        self.refused += 1
        self.refusals[status] = self.refusals.get(status, 0) + 1
        if status == 503 and not retry_after:
            self.without_retry_after += 1


async def _place(
    session: aiohttp.ClientSession, url: str, key: str, service: str, load: Load
) -> None:
    phone = f"+98912{random.randrange(10**7):07d}"
    if phone[-4:] in ("0000", "1111", "2222", "3333", "4444"):
        phone = phone[:-1] + "5"
    if service in HANDOVER:
        phone = phone[:-4] + "1111"  # busy: the SMS step takes over
    try:
        async with session.post(
            f"{url}/v1/calls", json={"phone": phone}, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            body = await response.json(content_type=None)
            if response.status == 201:
                load.accepted[str(body["id"])] = service
            else:
                load.refuse(response.status, response.headers.get("Retry-After"))
    except (TimeoutError, aiohttp.ClientError):
        load.refuse(0)


async def _open_loop(
    url: str, keys: list[tuple[str, str]], rate: float, seconds: float, load: Load
) -> None:
    async def place(session: aiohttp.ClientSession, i: int) -> None:
        key, service = keys[i % len(keys)]
        await _place(session, url, key, service, load)

    await paced(rate, seconds, place)


async def _place_carefully(
    session: aiohttp.ClientSession, url: str, key: str, service: str, load: Load
) -> None:
    """A careful client: its request names itself (a reference) and is sent again after no
    answer, a 502 or a 503 — what a connection closed under it by a balancer's reload looks
    like; the same reference answers the same call, so nothing is placed twice."""
    phone = f"+98912{random.randrange(10**7):07d}"
    if phone[-4:] in ("0000", "1111", "2222", "3333"):
        phone = phone[:-1] + "5"
    body = {"phone": phone, "reference": uuid.uuid4().hex}
    for _ in range(20):
        try:
            async with session.post(
                f"{url}/v1/calls", json=body, headers={"Authorization": f"Bearer {key}"}
            ) as response:
                answer = await response.json(content_type=None)
                if response.status == 201:
                    load.accepted[str(answer["id"])] = service
                    return
                if response.status not in (502, 503):
                    load.refuse(response.status, response.headers.get("Retry-After"))
                    return
        except (TimeoutError, aiohttp.ClientError):
            pass
        load.resent += 1
        await asyncio.sleep(0.1)  # a client's back-off before sending again
    load.refuse(0)


async def load_until(
    url: str,
    keys: list[tuple[str, str]],
    rate: float,
    stop: threading.Event,
    load: Load,
    careful: bool = False,
) -> None:
    """Calls at `rate` a second, round robin over `keys`, until `stop` is set; then waits for
    the answers still on their way. A `careful` client sends a request again until answered."""
    place = _place_carefully if careful else _place
    pending: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start, sent = time.monotonic(), 0
        while not stop.is_set():
            key, service = keys[sent % len(keys)]
            task = asyncio.create_task(place(session, url, key, service, load))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        await asyncio.gather(*pending)


def tenants(url: str, n: int, handover: bool = False) -> list[tuple[str, str]]:
    """(access key, service id) of `n` new accounts, each with a service; with `handover`, the
    last one's calls go from a failed flash call to an SMS (HANDOVER). Each step is asked
    again while it answers 401: replicas of a release before 0.2.0 (the upgrade test's) learn
    a new token a moment after it is issued."""
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    made = []
    with httpx.Client(base_url=url, timeout=30) as http:

        def post(path: str, body: dict[str, Any], auth: dict[str, str]) -> dict[str, Any]:
            deadline = time.monotonic() + 10
            while True:
                response = http.post(path, json=body, headers=auth)
                if response.status_code != 401 or time.monotonic() > deadline:
                    response.raise_for_status()
                    answer: dict[str, Any] = response.json()
                    return answer
                time.sleep(0.05)

        for i in range(n):
            steps = handover and i == n - 1
            opening: dict[str, Any] = {"name": f"chaos {i}"}
            body: dict[str, Any] = {"name": "login", "code_length": 5, "code_ttl_minutes": 60}
            if steps:
                opening["price_per_sms"] = PRICE
                body["workflow"] = HANDOVER_WORKFLOW
            account = post("/v1/accounts", opening, admin)
            auth = {"Authorization": f"Bearer {account['token']}"}
            service = post("/v1/services", body, auth)
            key = post(f"/v1/services/{service['id']}/keys", {"label": "chaos"}, auth)
            made.append((key["key"], service["id"]))
            if steps:
                HANDOVER.add(service["id"])
    return made


# ---------------------------------------------------------------------------------- counting
def _query(database_url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        return conn.execute(sql, params).fetchall()


def _statuses(database_url: str, ids: list[str]) -> dict[str, str]:
    rows = _query(
        database_url,
        "SELECT id::text, status FROM calls WHERE id = ANY(%s::uuid[]) AND service_id IS NOT NULL",
        (ids,),
    )
    return dict(rows)


def _watch_recovery(stage: Stage, load: Load, fault_at: float, done: threading.Event) -> float:
    """Seconds from the fault until a call accepted after it shows delivered (or nan)."""
    since = datetime.fromtimestamp(fault_at, UTC)
    while not done.is_set():
        try:
            rows = _query(
                stage.database_url,
                "SELECT 1 FROM calls WHERE id = ANY(%s::uuid[]) AND created_at > %s"
                " AND delivered_at IS NOT NULL LIMIT 1",
                (list(load.accepted), since),
            )
        except psycopg.OperationalError:
            rows = []
        if rows:
            return time.time() - fault_at
        time.sleep(0.1)
    return float("nan")


def _billing_problems(database_url: str, services: set[str]) -> list[str]:
    problems = []
    for service in sorted(services):
        [(delivered,)] = _query(
            database_url,
            "SELECT count(*) FROM calls WHERE service_id = %s AND delivered_at IS NOT NULL",
            (service,),
        )
        [(debits, debited_calls, total)] = _query(
            database_url,
            "SELECT count(*), count(DISTINCT call_id), coalesce(sum(amount), 0) FROM ledger"
            " WHERE service_id = %s AND type = 'debit'",
            (service,),
        )
        balance = _query(
            database_url, "SELECT balance FROM service_credit WHERE service_id = %s", (service,)
        )
        if debits != debited_calls:
            problems.append(f"{service}: {debits} debits for {debited_calls} calls")
        if total != delivered * PRICE:
            problems.append(f"{service}: debited {total} for {delivered} delivered calls")
        if delivered and (not balance or balance[0][0] != -total):
            problems.append(f"{service}: balance {balance} is not the ledger's {-total}")
    return problems


def _handover_problems(database_url: str, ids: list[str], services: set[str]) -> list[str]:
    """The handover services' calls that did not go on to their SMS step after their failed
    flash call (each must: the numbers are busy), or whose SMS ended otherwise than delivered
    or, sent by a dialer the fault killed mid-send, failed as carrier_error (as a flash call
    it killed mid-dial does: never sent twice)."""
    if not services:
        return []
    rows = _query(
        database_url,
        "SELECT count(*) FILTER (WHERE channel IS DISTINCT FROM 'sms'"
        "   OR steps ->> '0.status' IS DISTINCT FROM 'failed'"
        "   OR NOT (steps ->> '1.status' = 'delivered' OR (steps ->> '1.status' = 'failed'"
        "     AND steps ->> '1.failure_reason' = 'carrier_error'))),"
        " count(*) FILTER (WHERE steps ->> '1.status' = 'delivered'), count(*)"
        " FROM calls WHERE id = ANY(%s::uuid[]) AND service_id = ANY(%s::uuid[])",
        (ids, sorted(services)),
    )
    wrong, delivered, total = rows[0]
    if not delivered:
        return ["no call of the handover service was delivered by SMS"]
    return [f"{wrong} of {total} handover calls did not end at their SMS step"] if wrong else []


def _rollup_problems(database_url: str, services: set[str]) -> list[str]:
    """Rows of the rolled-up report that are not the sums of the calls they count."""
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        rows = conn.execute(
            call_rollup.differences_sql(), {"services": [uuid.UUID(s) for s in services]}
        ).fetchall()
    return [f"rollup row {row} differs from its calls" for row in rows]


def run(
    stage: Stage,
    fault_name: str,
    rate: float = 100.0,
    seconds: float = 8.0,
    fault_after: int = 250,
    settle_seconds: float = 90.0,
) -> Outcome:
    """Load at `rate` for `seconds`, the fault once `fault_after` calls were accepted (or the
    load is over: a slow machine is not a reason to skip the fault), then count."""
    url = stage.platform.url
    outcome = Outcome(fault_name)
    keys = tenants(url, 4, handover=True)
    services = {service for _, service in keys}
    process = PROCESS_OF.get(fault_name)
    supervisor = stage.platform.supervisor
    restarts_before = supervisor.restarts(process) if process and supervisor else 0
    parked_before = _query(stage.database_url, "SELECT count(*) FROM parked_records", ())[0][0]
    load = Load()
    loader = threading.Thread(
        target=lambda: asyncio.run(_open_loop(url, keys, rate, seconds, load)), daemon=True
    )
    loader.start()
    while len(load.accepted) < fault_after and loader.is_alive():
        time.sleep(0.01)
    fault_at = time.time()
    done = threading.Event()
    recovery: list[float] = []
    watcher = threading.Thread(
        target=lambda: recovery.append(_watch_recovery(stage, load, fault_at, done)), daemon=True
    )
    watcher.start()
    FAULTS[fault_name](stage)
    loader.join()
    count(stage, load, services, outcome, settle_seconds)
    done.set()
    watcher.join()
    outcome.recovered_in = recovery[0] if recovery and recovery[0] == recovery[0] else None
    outcome.served_after = served(url, keys[0][0], stage.database_url)
    if process and supervisor:
        outcome.restarts = supervisor.restarts(process) - restarts_before
    outcome.parked = (
        _query(stage.database_url, "SELECT count(*) FROM parked_records", ())[0][0] - parked_before
    )
    return outcome


def count(
    stage: Stage, load: Load, services: set[str], outcome: Outcome, settle_seconds: float = 90.0
) -> None:
    """Once the accepted calls settle (or `settle_seconds` pass): how many were lost, stuck or
    dialled twice, whether each service was billed exactly its delivered calls, and whether
    the rolled-up report agrees with the calls."""
    ids = list(load.accepted)
    outcome.accepted, outcome.refused, outcome.refusals = len(ids), load.refused, load.refusals
    if load.without_retry_after:
        outcome.problems.append(f"{load.without_retry_after} answers 503 without Retry-After")
    deadline = time.monotonic() + settle_seconds
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.OperationalError):
            statuses = _statuses(stage.database_url, ids)
            if len(statuses) == len(ids) and set(statuses.values()) <= SETTLED:
                break
        time.sleep(0.25)
    outcome.lost = len(ids) - len(statuses)
    outcome.stuck = sum(1 for s in statuses.values() if s not in SETTLED)
    # Rung twice, or sent the SMS of one step twice.
    outcome.double_dials = sum(
        len(
            _query(
                stage.database_url,
                f"SELECT call_id FROM {handsets} WHERE call_id = ANY(%s::uuid[])"
                " GROUP BY call_id HAVING count(*) > 1",
                (ids,),
            )
        )
        for handsets in ("sim_handset_calls", "sim_handset_messages")
    )
    outcome.problems += _handover_problems(stage.database_url, ids, services & HANDOVER)
    wait_settled_ledger(stage.database_url, services)
    billing = _billing_problems(stage.database_url, services)
    outcome.problems += billing
    outcome.billed = not billing
    outcome.problems += _rollup_problems(stage.database_url, services)


def wait_settled_ledger(database_url: str, services: set[str], seconds: float = 30.0) -> None:
    """Debits trail deliveries by a hop: wait (bounded) until they agree."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _billing_problems(database_url, services):
        time.sleep(0.25)


def served(url: str, key: str, database_url: str, seconds: float = 30.0) -> bool:
    """A call placed now is accepted and shows delivered."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as http:
        while time.monotonic() < deadline:
            phone = f"+98935{random.randrange(10**7):07d}"
            try:
                response = http.post(
                    "/v1/calls", json={"phone": phone}, headers={"Authorization": f"Bearer {key}"}
                )
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if response.status_code != 201:
                time.sleep(0.5)
                continue
            call_id = response.json()["id"]
            while time.monotonic() < deadline:
                with contextlib.suppress(psycopg.OperationalError):
                    if _statuses(database_url, [call_id]).get(call_id) == "delivered":
                        return True
                time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=12.0, help="load per fault")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="only these")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    print(
        f"flashcall chaos {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores;"
        f" {args.rate:.0f} calls/s for {args.seconds:.0f} s per fault, the fault after"
        f" {int(args.rate * args.seconds / 3)} accepted calls",
        flush=True,
    )
    clean = True
    logs = ROOT / "var" / "chaos-logs" / uuid.uuid4().hex[:8]
    print(f"process logs in {logs}", flush=True)
    with stage(server, logs) as s:
        for name in args.fault or list(FAULTS):
            outcome = run(s, name, args.rate, args.seconds, int(args.rate * args.seconds / 3))
            print(outcome.line(), flush=True)
            for problem in outcome.problems:
                print(f"    {problem}")
            clean = clean and outcome.clean
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
