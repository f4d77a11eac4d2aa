"""The fleet under load: replicas of every kind behind one balancer, some killed, more added.

Two APIs behind HAProxy and two workers of each role (decisions, dialer, projection, ingress),
a platform of their own. Calls go through the balancer at a steady rate while new access keys
are issued (each used at once, through whichever replica the balancer picks) and one hot key
asks for more than its rate. Part way through, kill -9 takes one API, one decisions, one dialer
and one projection worker (no supervisor brings them back); a little later a third replica of
each starts. The client is a careful one: a call it sent with a reference and got no answer to
(connection cut, 502, 503) is sent again with the same reference. Then it counts:

- accepted: calls answered 201; lost: accepted and never in the read model; stuck: accepted
  and not settled; double dials: handsets rung twice for one call;
- billed: every delivered call debited once, balances their ledgers;
- unknown: answers 401 or 404 to something the client had been given (a key, a call);
- hot key: the most calls of the hot key the platform accepted in any one second, against
  the rate (FLASHCALL_KEY_CALLS_PER_SECOND), which holds for all replicas together.

`python -m bench.fleet` prints the counts; tests/e2e/test_fleet.py asserts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench import chaos
from bench.load import paced
from core.settings import DEV_ADMIN_TOKEN
from launch.platform import ROOT, WORKER_ROLES

REPLICAS = {"api": 2, "decisions": 2, "dialer": 2, "projection": 2, "ingress": 2}
KILLED = ("api-1", "worker-decisions-1", "worker-dialer-1", "worker-projections-1")
# The roles a third replica is started of (the API's is added behind the balancer).
ADDED = {"worker-decisions-3": WORKER_ROLES[0], "worker-dialer-3": WORKER_ROLES[1]}
ADDED["worker-projections-3"] = WORKER_ROLES[2]
KEY_RATE = 20  # per access key, per second, for the whole platform
HOT_SHARE = 0.3  # of the calls go to one key, at more than its rate
NEWEST = 8  # the others go to the newest keys in turn (each well under its rate)
SETTINGS = {
    "FLASHCALL_KEY_CALLS_PER_SECOND": str(KEY_RATE),
    "FLASHCALL_TOPIC_PARTITIONS": "6",
    # Room for every call of the load (the limits are not what this measures).
    "FLASHCALL_DEFAULT_CREDIT_LIMIT": "1000000000",
    "FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT": "1000000000",
    # Fourteen processes on one PostgreSQL (beside the test suite's own platform).
    "FLASHCALL_DB_POOL_SIZE": "5",
}


@dataclass
class Outcome:
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # final answers other than 201
    resent: int = 0  # requests sent again after no answer, a 502 or a 503
    lost: int = 0
    stuck: int = 0
    double_dials: int = 0
    billing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # 401 or 404 for what the client had
    # Keys answered 201 in each part of the run: before the load, under it, after the kills,
    # after the replicas joined (each used at once by the load).
    keys_issued: dict[str, int] = field(default_factory=dict)
    key_answers: dict[int, int] = field(default_factory=dict)  # issuing a key: status -> count
    key_seconds: list[float] = field(default_factory=list)  # each key's issue, answered 201
    hot_accepted: int = 0
    hot_most_in_a_second: int = 0

    def line(self) -> str:
        refused = ", ".join(f"{n} × {s or 'no answer'}" for s, n in sorted(self.refused.items()))
        return (
            f"accepted {self.accepted} (resent {self.resent}); refused: {refused or 'none'};"
            f" lost {self.lost}, stuck {self.stuck}, double dials {self.double_dials};"
            f" billed {'ok' if not self.billing else 'WRONG: ' + '; '.join(self.billing[:3])};"
            f" 401/404 for known things: {len(self.unknown)}; keys issued:"
            f" {self.keys_issued} (answers {dict(sorted(self.key_answers.items()))}, each"
            f" {_spread(self.key_seconds)}); hot key: {self.hot_accepted} accepted, at most"
            f" {self.hot_most_in_a_second} in one second (rate {KEY_RATE})"
        )


def _spread(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    ordered = sorted(seconds)
    return f"median {ordered[len(ordered) // 2]:.2f} s, slowest {ordered[-1]:.2f} s"


@dataclass
class Load:
    accepted: dict[str, str] = field(default_factory=dict)  # call id -> service id
    hot: set[str] = field(default_factory=set)
    refused: dict[int, int] = field(default_factory=dict)
    resent: int = 0
    unknown: list[str] = field(default_factory=list)
    key_answers: dict[int, int] = field(default_factory=dict)
    key_seconds: list[float] = field(default_factory=list)
    key_issued_at: list[float] = field(default_factory=list)  # monotonic, answered 201
    # When each part of the run began (monotonic): "load", "kills", "joins".
    began: dict[str, float] = field(default_factory=dict)

    def keys_by_part(self) -> dict[str, int]:
        parts = {"before": 0, **{part: 0 for part in self.began}}
        for at in self.key_issued_at:
            part = "before"
            for name, start in self.began.items():
                if at >= start:
                    part = name
            parts[part] += 1
        return parts


@contextlib.contextmanager
def stage(log_dir: Path | None = None) -> Iterator[chaos.Stage]:
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    with chaos.stage(server, log_dir, REPLICAS, supervised=False, env=SETTINGS) as s:
        yield s


def run(stage: chaos.Stage, rate: float = 100.0, seconds: float = 30.0) -> Outcome:
    """Load for `seconds`; the kills a third of the way, the added replicas half way."""
    platform = stage.platform
    url = platform.url
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        account = http.post("/v1/accounts", json={"name": "fleet"}, headers=admin).json()
        token = {"Authorization": f"Bearer {account['token']}"}
        service = http.post(
            "/v1/services",
            json={"name": "login", "code_length": 5, "code_ttl_minutes": 60},
            headers=token,
        ).json()["id"]
        hot_key = http.post(
            f"/v1/services/{service}/keys", json={"label": "hot"}, headers=token
        ).json()["key"]
    keys: list[str] = []
    load = Load()
    enough = threading.Event()
    stop = threading.Event()

    def issue_keys() -> None:
        """A new key every half second, used at once by the load (as a customer who creates
        one in the panel and calls from its servers right away)."""
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = http.post(
                        f"/v1/services/{service}/keys", json={"label": "fleet"}, headers=token
                    )
                except httpx.TransportError:  # cut off with the replica: asked again
                    load.key_answers[0] = load.key_answers.get(0, 0) + 1
                    continue
                status = response.status_code
                load.key_answers[status] = load.key_answers.get(status, 0) + 1
                if response.status_code == 201:
                    load.key_issued_at.append(time.monotonic())
                    load.key_seconds.append(load.key_issued_at[-1] - started)
                    keys.append(response.json()["key"])
                    if len(keys) >= NEWEST:
                        enough.set()
                elif response.status_code in (401, 404):
                    load.unknown.append(f"issuing a key: {response.status_code}")
                stop.wait(0.5)

    issuer = threading.Thread(target=issue_keys, daemon=True)
    issuer.start()
    enough.wait(60)

    async def place(session: aiohttp.ClientSession, i: int) -> None:
        hot = random.random() < HOT_SHARE
        key = hot_key if hot else keys[-1 - i % NEWEST]  # the newest keys, under their rate
        await _place(session, url, key, service, hot, load)

    def disturb() -> None:
        load.began["load"] = time.monotonic()
        time.sleep(seconds / 3)
        load.began["kills"] = time.monotonic()
        for name in KILLED:
            for proc in platform.running(name):
                proc.send_signal(signal.SIGKILL)
        time.sleep(seconds / 6)
        load.began["joins"] = time.monotonic()
        platform.add_api()
        for name, roles in ADDED.items():
            platform.start_worker(name, roles, wait=False)

    disturber = threading.Thread(target=disturb, daemon=True)
    disturber.start()
    asyncio.run(paced(rate, seconds, place))
    stop.set()
    issuer.join()
    disturber.join()
    return count(stage, load, {service})


async def _place(
    session: aiohttp.ClientSession, url: str, key: str, service: str, hot: bool, load: Load
) -> None:
    """Place one call as a careful client: sent again, same reference, until answered."""
    reference = uuid.uuid4().hex
    phone = f"+98912{random.randrange(10**7):07d}"
    if phone[-4:] in ("0000", "1111", "2222", "3333"):
        phone = phone[:-1] + "5"
    auth = {"Authorization": f"Bearer {key}"}
    body: dict[str, Any] = {}
    status = await _answered(
        session.post, f"{url}/v1/calls", auth, {"phone": phone, "reference": reference}, body, load
    )
    if status == 201:
        call_id = str(body["id"])
        load.accepted[call_id] = service
        if hot:
            load.hot.add(call_id)
        if random.random() < 0.1:  # read it back at once, through whichever replica
            read = await _answered(session.get, f"{url}/v1/calls/{call_id}", auth)
            if read in (401, 404):
                load.unknown.append(f"reading call {call_id}: {read}")
        return
    load.refused[status] = load.refused.get(status, 0) + 1
    if status in (401, 404):
        load.unknown.append(f"placing a call: {status} {body}")


async def _answered(
    send: Any,
    url: str,
    auth: dict[str, str],
    json: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    load: Load | None = None,
) -> int:
    """The status of a request sent until it is answered (no answer, 502 and 503 are sent
    again, for up to a minute); its JSON goes into `body` (the balancer's own 502 is HTML).
    Between tries it waits as a careful client does: what a 503's Retry-After asks, else a
    little longer each time (with jitter), so that an overloaded platform is not asked more
    often the slower it answers."""
    deadline = time.monotonic() + 60
    status, pause = 0, 0.2
    while time.monotonic() < deadline:
        retry_after = None
        try:
            async with send(url, json=json, headers=auth) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                if body is not None and "json" in response.content_type:
                    body.update(await response.json(content_type=None))
        except (TimeoutError, aiohttp.ClientError):
            status = 0
        if status not in (0, 502, 503):
            break
        if load is not None:
            load.resent += 1
        wait = float(retry_after) if retry_after and retry_after.isdigit() else pause
        await asyncio.sleep(wait * random.uniform(0.5, 1.0) + pause / 2)
        pause = min(pause * 2, 2.0)
    return status


def count(stage: chaos.Stage, load: Load, services: set[str]) -> Outcome:
    ids = list(load.accepted)
    outcome = Outcome(
        accepted=len(ids),
        refused=load.refused,
        resent=load.resent,
        unknown=load.unknown,
        keys_issued=load.keys_by_part(),
        key_answers=load.key_answers,
        key_seconds=load.key_seconds,
        hot_accepted=len(load.hot),
    )
    deadline = time.monotonic() + 90
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = chaos._statuses(stage.database_url, ids)
        if len(statuses) == len(ids) and set(statuses.values()) <= chaos.SETTLED:
            break
        time.sleep(0.25)
    outcome.lost = len(ids) - len(statuses)
    outcome.stuck = sum(1 for s in statuses.values() if s not in chaos.SETTLED)
    outcome.double_dials = len(
        chaos._query(
            stage.database_url,
            "SELECT call_id FROM sim_handset_calls WHERE call_id = ANY(%s::uuid[])"
            " GROUP BY call_id HAVING count(*) > 1",
            (ids,),
        )
    )
    chaos.wait_settled_ledger(stage.database_url, services)
    outcome.billing = chaos._billing_problems(stage.database_url, services)
    # A call's request carries the moment the limits let it through (PostgreSQL's clock).
    created = [
        row[0]
        for row in chaos._query(
            stage.database_url,
            "SELECT created_at FROM calls WHERE id = ANY(%s::uuid[]) ORDER BY created_at",
            (list(load.hot),),
        )
    ]
    outcome.hot_most_in_a_second = most_in_a_second(created)
    return outcome


def most_in_a_second(moments: list[datetime]) -> int:
    """The most of `moments` (sorted) within any one second."""
    most, first = 0, 0
    for last, moment in enumerate(moments):
        while (moment - moments[first]).total_seconds() >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def main() -> int:
    with stage(ROOT / "var" / "bench-logs" / f"fleet-{uuid.uuid4().hex[:8]}") as s:
        outcome = run(s)
    print(outcome.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
