"""Versioned migrations: applied once, one process at a time, and a start with nothing to apply
takes no lock on the platform's tables; an index built outside a transaction (concurrently)
holds no write up, and a build that failed or was killed is finished by the next start."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from core.db import MIGRATIONS, migrate
from tests.conftest import _server_url
from tests.support.waiting import wait_for

VERSIONS = sorted(p.stem for p in MIGRATIONS.glob("*.sql"))
# The first line of a migration run a statement at a time, outside a transaction.
OUTSIDE = "-- flashcall: outside a transaction"
ROOT = Path(__file__).resolve().parents[2]
# Rows enough for an index build to last a while (about a second here).
BIG = 2_000_000


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
            if not path.read_text().startswith(OUTSIDE):  # those came after the table
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


def _big_table(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id bigserial PRIMARY KEY, v int NOT NULL)")
        conn.execute("INSERT INTO big (v) SELECT g %% 1000 FROM generate_series(1, %s) g", (BIG,))


def _one_migration(tmp_path: Path, text: str) -> Path:
    """A migrations folder holding only `text`, numbered after every real migration."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "900_test.sql").write_text(text)
    return folder


def _building(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = current_database()"
        ).fetchone()
        return row is not None and row[0] > 0


def _indexes_of_big(database_url: str) -> list[tuple[str, bool]]:
    """The indexes of `big` but its primary key, by name, and whether each is valid."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE i.indrelid = 'big'::regclass AND NOT i.indisprimary"
            " ORDER BY 1"
        ).fetchall()
    return [(str(name), bool(valid)) for name, valid in rows]


def _recorded(database_url: str, version: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM schema_migrations WHERE version = %s", (version,)
        ).fetchone()
    return int(row[0]) if row else 0


def _write_while(database_url: str, migrating: Future[list[str]]) -> tuple[int, int, list[str]]:
    """Insert into `big`, one row a statement, until the migration is over; each insert may
    wait 200 ms for a lock at most. Returns the inserts done while an index was being built,
    all the inserts, and the errors."""
    impatient = psycopg.conninfo.make_conninfo(database_url, options="-c lock_timeout=200")
    during, done, errors = 0, 0, []
    with psycopg.connect(impatient, autocommit=True) as conn:
        while not migrating.done():
            building = _building(database_url)
            try:
                conn.execute("INSERT INTO big (v) VALUES (1)")
            except psycopg.errors.LockNotAvailable as exc:
                errors.append(str(exc))
                continue
            done += 1
            if building and _building(database_url):
                during += 1
    return during, done, errors


def test_an_index_built_outside_a_transaction_lets_writes_go_on(
    fresh_database: str, tmp_path: Path
) -> None:
    migrate(fresh_database)
    _big_table(fresh_database)
    folder = _one_migration(
        tmp_path,
        f"{OUTSIDE}\n-- a comment\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_v ON big (v);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_v_id\n    ON big (v, id) WHERE v > 500;\n",
    )
    with ThreadPoolExecutor(1) as pool:
        migrating = pool.submit(migrate, fresh_database, folder)
        wait_for(lambda: _building(fresh_database) or migrating.done(), what="a build")
        during, done, errors = _write_while(fresh_database, migrating)
        assert migrating.result() == ["900_test"]
    assert errors == []  # no insert waited for the build
    assert during > 0, f"no insert ran while an index was built ({done} in all)"
    assert _indexes_of_big(fresh_database) == [("big_v", True), ("big_v_id", True)]
    assert _recorded(fresh_database, "900_test") == 1
    assert migrate(fresh_database, folder) == []


def test_an_index_an_interrupted_build_left_invalid_is_built_again(
    fresh_database: str, tmp_path: Path
) -> None:
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE twice (v int)")
        conn.execute("INSERT INTO twice VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):  # leaves twice_v behind, invalid
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY twice_v ON twice (v)")
    folder = _one_migration(
        tmp_path, f"{OUTSIDE}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS twice_v ON twice (v);\n"
    )
    assert migrate(fresh_database, folder) == ["900_test"]
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute(
            "SELECT i.indisvalid, i.indisunique FROM pg_index i"
            " WHERE i.indexrelid = 'twice_v'::regclass"
        ).fetchone()
    assert row == (True, False)


def test_processes_waiting_to_migrate_hold_no_build_up(fresh_database: str, tmp_path: Path) -> None:
    """While one process builds an index concurrently, others starting wait for the migration
    lock without holding a snapshot the build would wait for (which would be a deadlock)."""
    migrate(fresh_database)
    _big_table(fresh_database)
    folder = _one_migration(
        tmp_path, f"{OUTSIDE}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_v ON big (v);\n"
    )
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(migrate, fresh_database, folder)
        wait_for(lambda: _building(fresh_database) or first.done(), what="a build")
        others = [pool.submit(migrate, fresh_database, folder) for _ in range(3)]
        applied = [first.result(), *(other.result() for other in others)]
    assert applied == [["900_test"], [], [], []]


def test_a_process_killed_while_it_builds_an_index_leaves_the_next_to_finish(
    fresh_database: str, tmp_path: Path
) -> None:
    migrate(fresh_database)
    _big_table(fresh_database)
    folder = _one_migration(
        tmp_path,
        f"{OUTSIDE}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_v ON big (v);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_id_v ON big (id, v);\n",
    )
    starting = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from core.db import migrate;"
            " migrate(sys.argv[1], pathlib.Path(sys.argv[2]))",
            fresh_database,
            str(folder),
        ],
        cwd=ROOT,
    )
    try:
        wait_for(lambda: _building(fresh_database) or starting.poll() is not None, what="a build")
        assert starting.poll() is None, "the first process ended before it could be killed"
    finally:
        starting.kill()  # SIGKILL, mid-build
        starting.wait()
    assert migrate(fresh_database, folder) == ["900_test"]
    assert _indexes_of_big(fresh_database) == [("big_id_v", True), ("big_v", True)]
    assert _recorded(fresh_database, "900_test") == 1
