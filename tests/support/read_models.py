"""The read models and processor state as rows, to compare a replay or a rebuild with the live
platform; and what "settled" means."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.call_rules import STATUS_RANK
from launch.platform import ROOT
from processors.consumers import SUBSCRIPTIONS
from projections.call_rollup import differences_sql
from projections.rebuild import READ_MODELS

SNAPSHOT_TABLES = {
    "accounts": "id",
    "services": "id",
    "service_credit": "service_id",
    "account_credit": "account_id",
    "fraud_blocks": "service_id, prefix, blocked_at",
    "fraud_allowed": "service_id, prefix",
    "fraud_lifts": "service_id, prefix, lifted_at",
    "access_keys": "id",
    "calls": "id",
    "proc_services": "id",
    "proc_accounts": "id",
    "proc_fraud_prefixes": "service_id, prefix",
    "proc_calls": "id",
    "dials": "call_id",
    "sim_handset_calls": "ring_id",
    "ledger": "id",
    "proc_topups": "id",
}


def rows(conn: psycopg.Connection, table: str, schema: str = "public") -> list[dict[str, Any]]:
    """A table's rows, with what time alone changes taken out: codes of earlier tests that
    reach their expiry meanwhile are shown as still delivered (the expiry timer is no replay
    and no rebuild; both are compared with rows as they were)."""
    cur = conn.cursor(row_factory=dict_row)
    found = cur.execute(
        f"SELECT * FROM {schema}.{table} ORDER BY {SNAPSHOT_TABLES[table]}"
    ).fetchall()
    return [_timeless(row) for row in found]


def _timeless(row: dict[str, Any]) -> dict[str, Any]:
    expires_at = row.get("expires_at")
    if row.get("status") != "expired" or expires_at is None or expires_at > datetime.now(UTC):
        return row
    row = {**row, "status": "delivered"}
    if "expired_at" in row:  # the projection's calls
        row.update(status_rank=STATUS_RANK["delivered"], expired_at=None)
    return row


def snapshot(database_url: str) -> dict[str, list[Any]]:
    with psycopg.connect(database_url) as conn:
        return {table: rows(conn, table) for table in SNAPSHOT_TABLES}


def rollup_differences(database_url: str, schema: str = "public") -> list[Any]:
    """Rows of the rollup that are not the sums of the calls (a replay or rebuild must leave
    none; compared as calls, the rollup follows)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(differences_sql(schema, services=False)).fetchall()


def settled(database_url: str, ends: dict[tuple[str, int], int]) -> bool:
    """Every consumer has read up to `ends`, nothing waits in the outbox, no dial is open."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT consumer, topic, partition, next_offset FROM consumed_offsets")
        offsets = {(c, t, p): o for c, t, p, o in rows}
        [[waiting]] = conn.execute(
            "SELECT (SELECT count(*) FROM outbox_batches) + (SELECT count(*) FROM dials"
            " WHERE outcome IS NULL)"
        ).fetchall()
    return waiting == 0 and all(
        offsets.get((consumer, topic.name, partition), 0) >= end
        for consumer, subscribed in SUBSCRIPTIONS.items()
        for topic in subscribed
        for (name, partition), end in ends.items()
        if name == topic.name
    )


def assert_rebuild_matches_live(environment: dict[str, str], database_url: str) -> None:
    """`python -m projections rebuild` into a scratch schema gives the live read models."""
    schema = f"rebuild_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-m", "projections", "rebuild", "--schema", schema],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"rebuilt into schema {schema}" in result.stdout
    with psycopg.connect(database_url) as conn:
        try:
            for table in READ_MODELS:
                if table == "call_rollup":  # the calls' sums in each (compared as calls)
                    for where in ("public", schema):
                        assert rollup_differences(database_url, where) == [], where
                    continue
                live, rebuilt = rows(conn, table), rows(conn, table, schema)
                assert rebuilt == live, table
                assert live, table
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
