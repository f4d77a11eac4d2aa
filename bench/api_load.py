"""The API's figures over HTTP: POST /v1/calls against a bare FastAPI endpoint in the same run,
whether the processors keep up with what it accepts, and request → dial command latency at a
fixed rate (with the read model's created_at → dialed_at for the same calls)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from bench.load import closed_loop, open_loop, percentile
from bench.pipeline import DialWatcher, platform, stage
from core.settings import DEV_ADMIN_TOKEN
from launch.orphans import die_with_parent
from launch.platform import ROOT
from launch.ports import free_port, wait_for_port


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


@dataclass
class ApiRound:
    calls_rate: float
    calls_p50: float
    calls_p99: float
    bare_rate: float
    bare_p50: float
    bare_p99: float
    refused: int  # answers other than 201
    processed_rate: float  # accepted calls / (load + time until all were dialled and projected)

    @property
    def ratio(self) -> float:
        return self.calls_rate / self.bare_rate


@dataclass
class Latency:
    rate: float
    achieved: float
    p50: float  # request sent → PlaceCall on the broker
    p99: float
    dialed_p50: float  # the read model's created_at → dialed_at
    dialed_p99: float


DONE = "SELECT count(*) FROM calls WHERE status_rank >= 2 AND created_at IS NOT NULL"


def api_figures(
    rounds: int, seconds: float, concurrency: int, rate: float
) -> tuple[list[ApiRound], list[Latency]]:
    """The platform as `make run` deploys it, and the bare endpoint beside it."""
    with stage() as s:
        plat = platform(s)
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_app", str(bare_port)],
            cwd=ROOT,
            preexec_fn=die_with_parent,
        )
        try:
            plat.start_workers()
            plat.start_api()
            wait_for_port("127.0.0.1", bare_port)
            with httpx.Client(base_url=plat.url, timeout=30) as http:
                keys = itertools.cycle([new_tenant(http, f"bench {i}")[2]["key"] for i in range(4)])

            def headers() -> dict[str, str]:
                return {"Authorization": f"Bearer {next(keys)}"}

            calls_url, bare_url = plat.url + "/v1/calls", f"http://127.0.0.1:{bare_port}/bare"
            asyncio.run(closed_loop(calls_url, headers, concurrency, 2))  # warm-up
            asyncio.run(closed_loop(bare_url, dict, concurrency, 2))
            loads = [
                api_round(s.database_url, calls_url, bare_url, headers, concurrency, seconds)
                for _ in range(rounds)
            ]
            latencies = [paced_latency(s, calls_url, headers, rate, seconds) for _ in range(rounds)]
            return loads, latencies
        finally:
            bare.terminate()
            bare.wait()
            plat.stop_all()


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def api_round(
    database_url: str, calls_url: str, bare_url: str, headers: Any, concurrency: int, seconds: float
) -> ApiRound:
    b = asyncio.run(closed_loop(bare_url, dict, concurrency, seconds))
    before = count(database_url, DONE)
    started = time.monotonic()
    c = asyncio.run(closed_loop(calls_url, headers, concurrency, seconds))
    while count(database_url, DONE) < before + c.ok and time.monotonic() - started < 600:
        time.sleep(0.05)
    processed = (count(database_url, DONE) - before) / (time.monotonic() - started)
    return ApiRound(
        c.rate,
        c.percentile(0.5),
        c.percentile(0.99),
        b.rate,
        b.percentile(0.5),
        b.percentile(0.99),
        sum(c.statuses.values()) - c.ok,
        processed,
    )


def paced_latency(s: Any, calls_url: str, headers: Any, rate: float, seconds: float) -> Latency:
    watcher = DialWatcher(s.bootstrap)
    try:
        paced = asyncio.run(open_loop(calls_url, headers, rate, seconds))
        deadline = time.monotonic() + 60
        while not all(c in watcher.seen for c in paced.sent_at) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.close()
    lags = [watcher.seen[c] - t for c, t in paced.sent_at.items() if c in watcher.seen]
    ids = list(paced.sent_at)
    deadline = time.monotonic() + 60
    with psycopg.connect(s.database_url) as conn:
        while True:
            rows = conn.execute(
                "SELECT extract(epoch FROM dialed_at - created_at) FROM calls"
                " WHERE id = ANY(%s::uuid[]) AND dialed_at IS NOT NULL",
                (ids,),
            ).fetchall()
            if len(rows) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    dialed = [float(r[0]) for r in rows]
    return Latency(
        rate,
        paced.rate,
        percentile(lags, 0.5),
        percentile(lags, 0.99),
        percentile(dialed, 0.5),
        percentile(dialed, 0.99),
    )
