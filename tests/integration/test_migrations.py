"""Versioned migrations: applied once, one process at a time, and a start with nothing to apply
takes no lock on the platform's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from core.db import MIGRATIONS, migrate
from tests.conftest import _server_url

VERSIONS = sorted(p.stem for p in MIGRATIONS.glob("*.sql"))


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"flashcall_migrate_{uuid.uuid4().hex[:8]}"
    server = _server_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_ten_processes_starting_together_apply_each_migration_once(fresh_database: str) -> None:
    with ThreadPoolExecutor(10) as pool:
        applied = list(pool.map(lambda _: migrate(fresh_database), range(10)))
    assert sorted(v for one in applied for v in one) == VERSIONS  # each by exactly one
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == VERSIONS


def test_a_start_with_nothing_to_migrate_takes_no_table_lock(fresh_database: str) -> None:
    migrate(fresh_database)
    with psycopg.connect(fresh_database) as holder:
        # Whatever a running platform holds, the busiest tables included.
        holder.execute("LOCK TABLE calls, accounts, services, proc_calls IN ACCESS EXCLUSIVE MODE")
        impatient = psycopg.conninfo.make_conninfo(fresh_database, options="-c lock_timeout=500")
        assert migrate(impatient) == []  # LockNotAvailable if it touched one of them
        holder.rollback()


def test_a_database_migrated_before_the_version_table_is_recorded_once(
    fresh_database: str,
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for path in sorted(MIGRATIONS.glob("*.sql")):  # as every start used to
            conn.execute(path.read_text().encode())
    assert migrate(fresh_database) == VERSIONS  # idempotent files, run once more
    assert migrate(fresh_database) == []


def test_replay_check_counts_the_rows_that_differ(fresh_database: str) -> None:
    import asyncio
    import uuid as uuid_

    from core.db import create_schema
    from projections.rebuild import compare

    migrate(fresh_database)
    create_schema(fresh_database, "copy_of_live")
    insert = (
        "INSERT INTO {}.accounts (id, name, token_hash, price_per_call, credit_limit,"
        " created_at, updated_at) VALUES (%s, 'a', %s, 1, 1, now(), now())"
    )
    same = uuid_.uuid4()
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(insert.format("public"), (same, "h1"))
        conn.execute(insert.format("copy_of_live"), (same, "h1"))
        conn.execute(
            "UPDATE copy_of_live.accounts SET created_at = (SELECT created_at FROM"
            " public.accounts WHERE id = %s), updated_at = (SELECT updated_at FROM"
            " public.accounts WHERE id = %s)",
            (same, same),
        )
    assert set(asyncio.run(compare(fresh_database, "copy_of_live")).values()) == {0}
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(insert.format("public"), (uuid_.uuid4(), "h2"))
    assert asyncio.run(compare(fresh_database, "copy_of_live"))["accounts"] == 1
