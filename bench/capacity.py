"""`make bench --only capacity`: what one call costs each part of the platform, end to end.

The platform as `make run` deploys it (one process per role) takes calls over HTTP at a steady
rate until every one is delivered, charged and projected. Each process's CPU, PostgreSQL's
transactions, rows written and WAL, and the broker's bytes in and out are read before and
after, less what the same platform spends idle over as long (measured just before), and
divided by the calls. docs/scaling.md turns the figures into a capacity model.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import httpx
import psycopg

from bench import pipeline
from bench.api_load import new_tenant
from bench.load import median, paced, random_phone

# Each process's role, by the name the platform gives it.
ROLES = {
    "api": "API",
    "worker-decisions": "decisions + expiry",
    "worker-dialer": "dialer",
    "worker-projections": "projection + webhooks",
    "worker-ingress": "ingress",
    "broker": "broker (Tansu)",
    "postgres": "PostgreSQL (its backends)",
}


@dataclass
class Counters:
    cpu: dict[str, float]  # seconds, by process name
    transactions: int
    rows: int
    wal: int  # bytes
    broker_in: int  # bytes the broker received from its clients (appends, requests)
    broker_out: int  # bytes it sent them (fetched records, answers)
    tables: dict[str, int] = field(default_factory=dict)  # rows written, by table
    at: float = field(default_factory=time.monotonic)

    def minus(self, other: Counters) -> Counters:
        return Counters(
            {n: self.cpu[n] - other.cpu.get(n, 0.0) for n in self.cpu},
            self.transactions - other.transactions,
            self.rows - other.rows,
            self.wal - other.wal,
            self.broker_in - other.broker_in,
            self.broker_out - other.broker_out,
            {t: n - other.tables.get(t, 0) for t, n in self.tables.items()},
            self.at - other.at,
        )

    def scaled(self, factor: float) -> Counters:
        return Counters(
            {n: v * factor for n, v in self.cpu.items()},
            round(self.transactions * factor),
            round(self.rows * factor),
            round(self.wal * factor),
            round(self.broker_in * factor),
            round(self.broker_out * factor),
            {t: round(n * factor) for t, n in self.tables.items()},
            self.at * factor,
        )


@dataclass
class PerCall:
    calls: int
    seconds: float
    cpu_us: dict[str, float]
    transactions: float
    rows: float
    wal_bytes: float
    broker_in: float
    broker_out: float
    tables: dict[str, float] = field(default_factory=dict)  # rows written per call, by table

    @staticmethod
    def median_of(runs: list[PerCall]) -> PerCall:
        """Each figure's median over several runs."""
        return PerCall(
            runs[0].calls,
            median([r.seconds for r in runs]),
            {n: median([r.cpu_us[n] for r in runs]) for n in runs[0].cpu_us},
            median([r.transactions for r in runs]),
            median([r.rows for r in runs]),
            median([r.wal_bytes for r in runs]),
            median([r.broker_in for r in runs]),
            median([r.broker_out for r in runs]),
            {t: median([r.tables.get(t, 0.0) for r in runs]) for t in runs[0].tables},
        )

    def lines(self) -> list[str]:
        out = [f"  {self.calls} calls over HTTP in {self.seconds:.1f} s, per call end to end:"]
        for name, us in self.cpu_us.items():
            per_core = 1e6 / us if us > 0 else float("inf")
            out.append(
                f"    {ROLES.get(name, name):<28} {us:8.0f} µs CPU"
                f"   → {per_core:7.0f} calls/s per core"
            )
        out.append(
            f"    PostgreSQL: {self.transactions:.1f} transactions, {self.rows:.1f} rows"
            f" written, {self.wal_bytes / 1024:.1f} KiB of WAL"
        )
        busiest = sorted(self.tables.items(), key=lambda kv: -kv[1])
        out.append(
            "      rows by table: " + ", ".join(f"{t} {n:.1f}" for t, n in busiest if n >= 0.05)
        )
        out.append(
            f"    broker: {self.broker_in / 1024:.1f} KiB in (appends),"
            f" {self.broker_out / 1024:.1f} KiB out (fetches)"
        )
        return out


def capacity(calls: int = 3000, rate: float = 200.0, idle_seconds: float = 5.0) -> PerCall:
    with pipeline.stage() as s:
        plat = pipeline.platform(s)
        try:
            plat.start_workers()
            plat.start_api()
            with httpx.Client(base_url=plat.url, timeout=30) as http:
                keys = [new_tenant(http, f"capacity {i}")[2]["key"] for i in range(8)]
            pids: dict[str, Callable[[], list[int]]] = {
                plat.name_of(p): (lambda pid=p.pid: [pid]) for p in plat.children
            }
            if s.broker is not None:
                pids["broker"] = lambda: [s.broker.pid]  # type: ignore[union-attr]
            pids["postgres"] = lambda: pipeline.backends(s.database_url)
            settle(s.database_url, 0, 3.0)
            quiet = read(s, pids)
            time.sleep(idle_seconds)
            idle = read(s, pids).minus(quiet)
            before = read(s, pids)
            asyncio.run(_load(plat.url, keys, rate, calls / rate))
            settle(s.database_url, calls, 300.0)
            # A backend reports its counts within a second while busy, ten once idle.
            time.sleep(11.0)
            used = read(s, pids).minus(before)
            spent = used.minus(idle.scaled(used.at / idle.at))
        finally:
            plat.stop_all()
    return PerCall(
        calls,
        used.at,
        {n: max(0.0, v) / calls * 1e6 for n, v in spent.cpu.items()},
        spent.transactions / calls,
        spent.rows / calls,
        spent.wal / calls,
        spent.broker_in / calls,
        spent.broker_out / calls,
        {t: n / calls for t, n in spent.tables.items()},
    )


async def _load(url: str, keys: list[str], rate: float, seconds: float) -> None:
    async def place(session: aiohttp.ClientSession, i: int) -> None:
        async with session.post(
            f"{url}/v1/calls",
            json={"phone": ringing_phone()},
            headers={"Authorization": f"Bearer {keys[i % len(keys)]}"},
        ) as response:
            assert response.status == 201, await response.text()

    await paced(rate, seconds, place)


def ringing_phone() -> str:
    """A number the simulated carrier rings (the last four digits pick its failures)."""
    while True:
        phone = random_phone()
        if phone[-4:] not in ("0000", "1111", "2222", "3333"):
            return phone


def settle(database_url: str, calls: int, limit: float) -> None:
    """Until `calls` calls are delivered, charged and projected (and nothing is in flight)."""
    pipeline.wait_count(
        database_url,
        "SELECT count(*) FROM calls WHERE delivered_at IS NOT NULL AND cost > 0",
        calls,
        limit,
    )
    pipeline.wait_count(
        database_url, "SELECT count(*) FROM ledger WHERE type = 'debit'", calls, limit
    )


def read(s: pipeline.Stage, pids: dict[str, Callable[[], list[int]]]) -> Counters:
    cpu = {}
    for name, of in pids.items():
        short = name.removesuffix("-1")
        cpu[short] = sum(pipeline.cpu_seconds(pid) for pid in of())
    name = psycopg.conninfo.conninfo_to_dict(s.database_url)["dbname"]
    with psycopg.connect(pipeline.SERVER) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted,"
            " pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
    assert row is not None
    with psycopg.connect(s.database_url) as conn:
        tables = {
            str(t): int(n)
            for t, n in conn.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            ).fetchall()
        }
    broker_in, broker_out = broker_bytes(s.bootstrap)
    return Counters(cpu, int(row[0]), int(row[1]), int(row[2]), broker_in, broker_out, tables)


def broker_bytes(bootstrap: str) -> tuple[int, int]:
    """Bytes the broker received and sent on its open connections (the kernel's counts: the
    platform's clients keep theirs open)."""
    port = bootstrap.rsplit(":", 1)[1]
    shown = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    received = sum(int(n) for n in re.findall(r"bytes_received:(\d+)", shown))
    sent = sum(int(n) for n in re.findall(r"bytes_sent:(\d+)", shown))
    return received, sent
