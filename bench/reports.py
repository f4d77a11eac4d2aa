"""Reports at scale: one million calls in one service, bulk-loaded straight into the read
model, then a filtered report page, a CSV export and a summary through the real API."""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from bench.load import percentile

STATUSES = [
    ("verified", None, 0.55),
    ("expired", None, 0.15),
    ("delivered", None, 0.05),
    ("failed", "busy", 0.1),
    ("failed", "unreachable", 0.1),
    ("rejected", "rate_limited", 0.05),
]


def bulk_load(database_url: str, account_id: str, service_id: str, key_id: str, rows: int) -> None:
    """COPY `rows` calls of one service, spread over 30 days, into the calls read model."""
    now = datetime.now(UTC)
    weights = [w for _, _, w in STATUSES]
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY calls (id, service_id, account_id, key_id, phone, caller_number, code_length,"
            " attempt, status, status_rank, failure_reason, price_per_call, cost,"
            " verify_attempts, created_at, dialed_at, delivered_at, expires_at, verified_at,"
            " expired_at) FROM STDIN"
        ) as copy:
            for i in range(rows):
                status, reason, _ = random.choices(STATUSES, weights)[0]
                created = now - timedelta(seconds=random.uniform(0, 30 * 86400))
                delivered = status in ("verified", "expired", "delivered")
                at = created + timedelta(seconds=0.3)
                copy.write_row(
                    (
                        uuid.uuid4(),
                        service_id,
                        account_id,
                        key_id,
                        f"+98912{random.randrange(10**7):07d}",
                        f"+982191{i:08d}",
                        5,
                        1,
                        status,
                        3 if status != "delivered" else 2,
                        reason,
                        1000,
                        1000 if delivered else 0,
                        1 if status == "verified" else 0,
                        created,
                        at if status != "rejected" else None,
                        at if delivered else None,
                        at + timedelta(minutes=2) if delivered else None,
                        at + timedelta(seconds=20) if status == "verified" else None,
                        at + timedelta(minutes=2) if status == "expired" else None,
                    )
                )
        conn.commit()
        conn.execute("ANALYZE calls")
        conn.commit()


def memory_mb(pid: int, field: str) -> float:
    """A memory figure of a process (VmRSS now, VmHWM its peak) in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(url: str, token: str, service_id: str, key_id: str, api_pid: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    queries = [
        {"service_id": service_id, "status": "verified", "limit": 100},
        {"key_id": key_id, "from": since, "limit": 100},
        {"status": "failed", "from": since, "limit": 100},
    ]
    page_times: list[float] = []
    with httpx.Client(base_url=url, timeout=600) as http:
        for i in range(300):
            started = time.perf_counter()
            response = http.get("/v1/reports/calls", params=queries[i % 3], headers=auth)
            page_times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        summary_times = []
        for _ in range(3):
            started = time.perf_counter()
            assert http.get("/v1/reports/summary", headers=auth).status_code == 200
            summary_times.append(time.perf_counter() - started)
        rss_before = memory_mb(api_pid, "VmRSS")
        started = time.perf_counter()
        rows = 0
        with http.stream("GET", "/v1/reports/calls.csv", headers=auth) as response:
            for chunk in response.iter_text():
                rows += chunk.count("\n")
        csv_seconds = time.perf_counter() - started
    return {
        "page_p50": percentile(page_times, 0.5),
        "page_p99": percentile(page_times, 0.99),
        "summary": statistics.median(summary_times),
        "csv_rows": rows - 1,
        "csv_rate": (rows - 1) / csv_seconds,
        "rss_before": rss_before,
        "peak_rss": memory_mb(api_pid, "VmHWM"),
    }
