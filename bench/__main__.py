"""`make bench`: the platform's figures on this machine.

Starts a broker and a fresh database (as the tests do), the processor worker and the API as
`make run` does, and a bare FastAPI endpoint under the same server settings; then measures
  1. accepted POST /v1/calls per second and p50/p99 at a fixed concurrency, against the bare
     endpoint in the same run (the ratio is what matters on a shared, noisy machine);
  2. p50/p99 from request to the dial command on the broker, at a fixed 500 calls/s.
Each figure is the median of several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench.admission import decisions_per_second
from bench.load import closed_loop, median, open_loop, percentile
from bench.reports import bulk_load, measure
from bench.sip import sip_figures
from core.db import migrate
from core.settings import DEV_ADMIN_TOKEN
from launch.broker import broker
from launch.orphans import die_with_parent
from launch.platform import ROOT, Platform
from launch.ports import free_port, wait_for_port
from producers.topic_admin import ensure_topics
from schemas import topics
from schemas.codec import decode

ENV = {
    "FLASHCALL_KEY_CALLS_PER_SECOND": "1000000",
    "FLASHCALL_DEFAULT_CREDIT_LIMIT": str(10**12),
    "FLASHCALL_KAFKA_SESSION_TIMEOUT_MS": "2000",
}


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"flashcall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_tenant(
    http: httpx.Client, name: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An account, a service (5-digit codes, 5 minutes) and an access key, over the API."""
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    account = http.post("/v1/accounts", json={"name": name}, headers=admin).json()
    auth = {"Authorization": f"Bearer {account['token']}"}
    service = http.post(
        "/v1/services", json={"name": name, "code_length": 5, "code_ttl_minutes": 5}, headers=auth
    ).json()
    key = http.post(f"/v1/services/{service['id']}/keys", json={"label": name}, headers=auth)
    return account, service, key.json()


def access_keys(url: str, count: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [new_tenant(http, f"bench {i}")[2]["key"] for i in range(count)]


class DialWatcher:
    """Records when each PlaceCall reached the broker (its CreateTime), by call id."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench", "fetch.wait.max.ms": 10}
        )
        partitions = (
            self._consumer.list_topics(topics.DIAL_COMMANDS.name, timeout=10)
            .topics[topics.DIAL_COMMANDS.name]
            .partitions
        )
        self._consumer.assign(
            [TopicPartition(topics.DIAL_COMMANDS.name, p, OFFSET_END) for p in partitions]
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(1000, 0.1):
                if msg.error() is None:
                    event = decode(msg.value())
                    self.seen[str(event["call_id"])] = msg.timestamp()[1] / 1000

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def drain_seconds(database_url: str, limit: float = 300.0) -> float:
    """Seconds until every accepted call has its dial outcome in the read model."""
    started = time.monotonic()

    def drained() -> bool:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM calls WHERE status_rank < 2 AND created_at IS NOT NULL"
            ).fetchone()
            return row is not None and row[0] == 0

    wait_for(drained, limit)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--admission-calls", type=int, default=20_000)
    parser.add_argument("--report-rows", type=int, default=1_000_000)
    parser.add_argument("--sip-dials", type=int, default=2000)
    parser.add_argument("--only-sip", action="store_true", help="only the SIP carrier figures")
    parser.add_argument(
        "--rates", type=lambda v: [float(x) for x in v.split(",")], default=[100.0, 500.0]
    )
    args = parser.parse_args()
    die_with_parent()
    for dials, cps in ((args.sip_dials, 100_000.0), (args.sip_dials // 5, 100.0)):
        sip = sip_figures(args.rounds, dials, cps)
        print(
            f"  SIP carrier, {dials} dials to sipp (UDP, loopback) paced at {cps:.0f}/s:"
            f" {sip['rate']:.0f} dials/s; INVITE → 180 p50 {sip['p50'] * 1000:.1f} ms"
            f" p90 {sip['p90'] * 1000:.1f} ms p99 {sip['p99'] * 1000:.1f} ms   (each round: "
            + ", ".join(f"{r['rate']:.0f}/s" for r in sip["runs"])
            + ")",
            flush=True,
        )
    if args.only_sip:
        return
    reports = report_figures(args)
    admission = {}
    for services in (1, 200):
        rounds = []
        for _ in range(args.rounds):
            with scratch_database() as db:
                rounds.append(
                    decisions_per_second(
                        db, services, args.admission_calls, ENV, ROOT / "var" / "bench-logs"
                    )
                )
        admission[services] = rounds
    with broker(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) as bootstrap, scratch_database() as db:
        migrate(db)
        ensure_topics(bootstrap, 6)
        platform = Platform(
            bootstrap, db, free_port(), env=ENV, log_dir=ROOT / "var" / "bench-logs"
        )
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_app", str(bare_port)],
            cwd=ROOT,
            preexec_fn=die_with_parent,
        )
        try:
            platform.start_workers()
            platform.start_api()
            wait_for_port("127.0.0.1", bare_port)
            run(platform, bare_port, bootstrap, args)
            print(
                f"  reports over {args.report_rows} calls of one service"
                f" (bulk-loaded in {reports['load_seconds']:.0f} s):"
                f" filtered page p50 {reports['page_p50'] * 1000:.1f} ms"
                f" p99 {reports['page_p99'] * 1000:.1f} ms;"
                f" summary by day {reports['summary'] * 1000:.0f} ms;"
                f" CSV {reports['csv_rows']} rows at {reports['csv_rate']:.0f} rows/s,"
                f" API RSS {reports['rss_before']:.0f} MB before, peak {reports['peak_rss']:.0f} MB"
            )
            for services, rounds in admission.items():
                print(
                    f"  admission decisions, {services} service(s):"
                    f" {median(rounds):8.0f} /s   (each round: "
                    + ", ".join(f"{r:.0f}" for r in rounds)
                    + ")"
                )
        finally:
            bare.terminate()
            bare.wait()
            platform.stop_all()


def report_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Reports over --report-rows calls of one service, through an API of their own."""
    with broker(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) as bootstrap, scratch_database() as db:
        migrate(db)
        ensure_topics(bootstrap, 6)
        platform = Platform(
            bootstrap, db, free_port(), env=ENV, log_dir=ROOT / "var" / "bench-logs"
        )
        try:
            platform.start_workers()
            api = platform.start_api("api-reports")
            with httpx.Client(base_url=platform.url, timeout=30) as http:
                account, service, key = new_tenant(http, "reports")
            started = time.monotonic()
            bulk_load(db, account["id"], service["id"], key["id"], args.report_rows)
            loaded = time.monotonic() - started
            figures = measure(platform.url, account["token"], service["id"], key["id"], api.pid)
            return {**figures, "load_seconds": loaded}
        finally:
            platform.stop_all()


def run(platform: Platform, bare_port: int, bootstrap: str, args: argparse.Namespace) -> None:
    keys = itertools.cycle(access_keys(platform.url, 4))

    def key_headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {next(keys)}"}

    calls_url, bare_url = platform.url + "/v1/calls", f"http://127.0.0.1:{bare_port}/bare"
    asyncio.run(closed_loop(calls_url, key_headers, args.concurrency, 2))  # warm-up
    asyncio.run(closed_loop(bare_url, dict, args.concurrency, 2))
    rows = []
    for _ in range(args.rounds):
        b = asyncio.run(closed_loop(bare_url, dict, args.concurrency, args.seconds))
        c = asyncio.run(closed_loop(calls_url, key_headers, args.concurrency, args.seconds))
        rows.append(
            (
                c.rate,
                c.percentile(0.5),
                c.percentile(0.99),
                b.rate,
                b.percentile(0.5),
                b.percentile(0.99),
                c.rate / b.rate,
                sum(c.statuses.values()) - c.ok,
            )
        )
    accepted = sum(round(r[0] * args.seconds) for r in rows)
    drain = drain_seconds(platform.database_url)
    watcher = DialWatcher(bootstrap)
    paced_rows = []
    try:
        for rate in args.rates:
            for _ in range(args.rounds):
                paced = asyncio.run(open_loop(calls_url, key_headers, rate, args.seconds))
                wait_for(lambda p=paced: all(c in watcher.seen for c in p.sent_at), 60)
                lags = [watcher.seen[c] - t for c, t in paced.sent_at.items() if c in watcher.seen]
                paced_rows.append((rate, paced.rate, percentile(lags, 0.5), percentile(lags, 0.99)))
    finally:
        watcher.close()
    ms = 1000

    def mid(column: int, scale: float = 1.0) -> float:
        return median([r[column] for r in rows]) * scale

    print(
        f"flashcall bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; "
        f"median of {args.rounds} rounds of {args.seconds:.0f} s, concurrency {args.concurrency}"
    )
    print(
        f"  POST /v1/calls   {mid(0):8.0f} calls/s   "
        f"p50 {mid(1, ms):6.1f} ms   p99 {mid(2, ms):6.1f} ms"
        f"   non-201: {sum(r[7] for r in rows)}"
    )
    print(
        f"  bare FastAPI     {mid(3):8.0f} req/s     "
        f"p50 {mid(4, ms):6.1f} ms   p99 {mid(5, ms):6.1f} ms"
    )
    print(
        f"  ratio calls/bare {mid(6):8.2f}   (each round: "
        + ", ".join(f"{r[6]:.2f}" for r in rows)
        + ")"
    )
    print(
        f"  processors: the {accepted} calls accepted above were all decided, dialled and"
        f" projected {drain:.1f} s after the last was accepted"
    )
    for rate in args.rates:
        these = [r for r in paced_rows if r[0] == rate]
        print(
            f"  request -> dial command at {rate:.0f} calls/s"
            f" (achieved {median([r[1] for r in these]):.0f}/s):"
            f" p50 {median([r[2] for r in these]) * ms:.1f} ms"
            f"   p99 {median([r[3] for r in these]) * ms:.1f} ms"
        )


if __name__ == "__main__":
    main()
