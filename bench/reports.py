"""Reports at scale: `--report-rows` calls (10 million) of one tenant over 30 days, bulk-loaded
straight into the read model, then through the real API and panel: filtered report pages, the
summary by day over the month (and, in the same run, the same summary counted from the calls
as it was before the rollup), CSV and Excel exports of three days, the panel's reports page."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from api.panel.sign_in_queries import open_session
from api.panel.web import SESSION_COOKIE
from bench.load import percentile
from core.db import async_pool
from projections.call_report import REPORT, ReportFilter
from projections.call_rollup import COLUMNS, count_calls_sql

# Outcomes by share (cumulative upper bounds), as a busy tenant sees them.
LOAD_CALLS = """
INSERT INTO calls (id, service_id, account_id, key_id, phone, caller_number, code_length,
    attempt, status, status_rank, failure_reason, price_per_call, cost, verify_attempts,
    created_at, dialed_at, delivered_at, expires_at, verified_at, expired_at)
SELECT gen_random_uuid(), %(service)s::uuid, %(account)s::uuid,
    CASE WHEN i %% 4 = 0 THEN %(other_key)s::uuid ELSE %(key)s::uuid END,
    '+98912' || lpad((i::bigint * 7919 %% 10000000)::text, 7, '0'),
    '+982191' || lpad(i::text, 8, '0'),
    5, 1, o.status, o.rank, o.reason, 1000, CASE WHEN o.delivered THEN 1000 ELSE 0 END,
    (o.status = 'verified')::int, p.created, CASE WHEN o.status <> 'rejected' THEN p.rang END,
    CASE WHEN o.delivered THEN p.rang END,
    CASE WHEN o.delivered THEN p.rang + interval '2 minutes' END,
    CASE WHEN o.status = 'verified' THEN p.rang + interval '20 seconds' END,
    CASE WHEN o.status = 'expired' THEN p.rang + interval '2 minutes' END
FROM generate_series(1, %(rows)s) AS i
-- In the order they were requested, as the projection writes them (the heap follows time).
CROSS JOIN LATERAL (SELECT %(now)s - (%(rows)s - i) * (interval '30 days' / %(rows)s) AS created,
                           random() + i * 0 AS draw) AS d
CROSS JOIN LATERAL (SELECT d.created, d.created + interval '0.3 seconds' AS rang) AS p
JOIN (VALUES ('verified', 3, NULL, true, 0.0, 0.55), ('expired', 3, NULL, true, 0.55, 0.70),
             ('delivered', 2, NULL, true, 0.70, 0.75), ('failed', 3, 'busy', false, 0.75, 0.85),
             ('failed', 3, 'unreachable', false, 0.85, 0.95),
             ('rejected', 3, 'rate_limited', false, 0.95, 1.01))
    AS o(status, rank, reason, delivered, low, high) ON d.draw >= o.low AND d.draw < o.high
"""
# What migration 015 counts into the rollup for calls projected before it existed.
COUNT_INTO_ROLLUP = (
    f"INSERT INTO call_rollup (account_id, slot, service_id, key_id, {', '.join(COLUMNS)}) "
    + count_calls_sql()
)


def bulk_load(
    database_url: str, account_id: str, service_id: str, keys: tuple[str, str], rows: int
) -> None:
    """`rows` calls of one service over 30 days, written by PostgreSQL itself with the calls'
    indexes set aside and built again after (as a restore would), then counted into the rollup
    and checkpointed."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls'"
            " AND indexname <> 'calls_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("ALTER TABLE calls DROP CONSTRAINT calls_pkey")
        conn.execute(
            LOAD_CALLS,
            {
                "account": account_id,
                "service": service_id,
                "key": keys[0],
                "other_key": keys[1],
                "rows": rows,
                "now": datetime.now(UTC),
            },
        )
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("ALTER TABLE calls ADD PRIMARY KEY (id)")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute(COUNT_INTO_ROLLUP)
        conn.execute("VACUUM ANALYZE calls")
        conn.execute("VACUUM ANALYZE call_rollup")
        # The load's dirty pages written out now, as after a restore, not by the checkpointer
        # while the figures are measured.
        conn.execute("CHECKPOINT")


def memory_mb(pid: int, field: str) -> float:
    """A memory figure of a process (VmRSS now, VmHWM its peak) in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Figures:
    page_p50: float
    page_p99: float
    summary_p50: float
    summary_p99: float
    summary_buckets: int
    scanned_summary: float  # the same summary counted from the calls, as before the rollup
    export_rows: int
    csv_rate: float
    xlsx_rate: float
    rss_before: float
    peak_rss: float
    panel_p50: float
    panel_p99: float

    def line(self, rows: int, loaded: float) -> str:
        return (
            f"  reports over {rows} calls of one tenant (bulk-loaded in {loaded:.0f} s):"
            f" filtered page p50 {self.page_p50 * 1000:.1f} ms p99 {self.page_p99 * 1000:.1f} ms;"
            f" summary by day over the month ({self.summary_buckets} days) p50"
            f" {self.summary_p50 * 1000:.1f} ms p99 {self.summary_p99 * 1000:.1f} ms (counted"
            f" from the calls: {self.scanned_summary * 1000:.0f} ms,"
            f" {self.scanned_summary / self.summary_p50:.0f}×);"
            f" exports of {self.export_rows} rows: CSV {self.csv_rate:.0f} rows/s, Excel"
            f" {self.xlsx_rate:.0f} rows/s, API RSS {self.rss_before:.0f} MB before, peak"
            f" {self.peak_rss:.0f} MB; panel reports page p50 {self.panel_p50 * 1000:.0f} ms"
            f" p99 {self.panel_p99 * 1000:.0f} ms"
        )


def timed(http: httpx.Client, path: str, times: list[float], **kwargs: Any) -> httpx.Response:
    started = time.perf_counter()
    response = http.get(path, **kwargs)
    times.append(time.perf_counter() - started)
    assert response.status_code == 200, response.text[:300]
    return response


def download(http: httpx.Client, path: str, params: dict[str, Any], auth: Any) -> float:
    """Seconds to download a whole export."""
    started = time.perf_counter()
    with http.stream("GET", path, params=params, headers=auth) as response:
        assert response.status_code == 200
        for _ in response.iter_bytes():
            pass
    return time.perf_counter() - started


def measure(
    url: str,
    database_url: str,
    account: dict[str, Any],
    service_id: str,
    key_id: str,
    api_pid: int,
) -> Figures:
    auth = {"Authorization": f"Bearer {account['token']}"}
    now = datetime.now(UTC)
    week, month = (now - timedelta(days=7)).isoformat(), (now - timedelta(days=30)).isoformat()
    queries = [
        {"service_id": service_id, "status": "verified", "limit": 100},
        {"key_id": key_id, "from": week, "limit": 100},
        {"status": "failed", "from": week, "limit": 100},
    ]
    pages: list[float] = []
    summaries: list[float] = []
    panel: list[float] = []
    session = asyncio.run(_panel_session(database_url, account["id"]))
    three_days = {"from": (now - timedelta(days=3)).isoformat()}
    with httpx.Client(base_url=url, timeout=600) as http:
        for i in range(300):
            timed(http, "/v1/reports/calls", pages, params=queries[i % 3], headers=auth)
        for _ in range(100):
            answer = timed(
                http, "/v1/reports/summary", summaries, params={"from": month}, headers=auth
            )
        buckets = len(answer.json()["buckets"])
        for _ in range(30):
            timed(http, "/panel/reports", panel, headers={"Cookie": f"{SESSION_COOKIE}={session}"})
        scanned = _scanned_summary(database_url, account["id"], now - timedelta(days=30))
        export_rows = _count(database_url, account["id"], now - timedelta(days=3))
        rss_before = memory_mb(api_pid, "VmRSS")
        csv_seconds = download(http, "/v1/reports/calls.csv", three_days, auth)
        xlsx_seconds = download(http, "/v1/reports/calls.xlsx", three_days, auth)
    return Figures(
        page_p50=percentile(pages, 0.5),
        page_p99=percentile(pages, 0.99),
        summary_p50=percentile(summaries, 0.5),
        summary_p99=percentile(summaries, 0.99),
        summary_buckets=buckets,
        scanned_summary=scanned,
        export_rows=export_rows,
        csv_rate=export_rows / csv_seconds,
        xlsx_rate=export_rows / xlsx_seconds,
        rss_before=rss_before,
        peak_rss=memory_mb(api_pid, "VmHWM"),
        panel_p50=percentile(panel, 0.5),
        panel_p99=percentile(panel, 0.99),
    )


async def _panel_session(database_url: str, account_id: str) -> str:
    """A panel session of the account, as signing in would open."""
    pool = async_pool(database_url, max_size=1)
    await pool.open()
    try:
        token, _ = await open_session(pool, account_id, False, 1.0)  # type: ignore[arg-type]
        return token
    finally:
        await pool.close()


def _scanned_summary(database_url: str, account_id: str, start: datetime) -> float:
    """The month's summary by day counted from the calls."""
    where, params = ReportFilter(account_id, start=start).where()  # type: ignore[arg-type]
    sql = (
        "SELECT date_trunc('day', created_at, 'Asia/Tehran'), count(*), count(delivered_at),"
        " count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'rejected'),"
        " count(*) FILTER (WHERE status = 'verified'), count(*) FILTER (WHERE status = 'expired'),"
        f" coalesce(sum(cost), 0) FROM {REPORT}{where} GROUP BY 1 ORDER BY 1"
    )
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        return time.perf_counter() - started


def _count(database_url: str, account_id: str, start: datetime) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM calls WHERE account_id = %s AND created_at >= %s",
            (account_id, start),
        ).fetchone()
    return int(row[0]) if row else 0
