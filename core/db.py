"""PostgreSQL access: migrations and connection pools."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


# Held while migrating: processes starting together migrate one at a time.
MIGRATION_LOCK = 727001
# A migration whose first line is this runs outside a transaction, a statement at a time: for
# CREATE INDEX CONCURRENTLY, which lets writes to a big table go on while its index is built
# (a plain CREATE INDEX holds them for as long as the build takes). Its statements end with a
# `;` at the end of a line, and each is idempotent (an interrupted file is run again whole).
OUTSIDE_A_TRANSACTION = "-- flashcall: outside a transaction"
_CONCURRENT_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE
)


def migrate(database_url: str, migrations: Path = MIGRATIONS) -> list[str]:
    """Apply the migrations not applied yet, in file-name order, each in one transaction with
    its row in `schema_migrations` (or, marked OUTSIDE_A_TRANSACTION, a statement at a time,
    then its row); returns the versions applied.

    A version table of our own rather than a migration tool: the files are plain SQL, each
    written to be idempotent (databases made before the table existed re-run them once, safely),
    and the same files migrate scratch schemas for rebuilds (the search path decides where).
    With nothing to apply, a start reads one small table and takes no lock on any other: an
    `ALTER TABLE … IF NOT EXISTS` run again would still lock its table (ACCESS EXCLUSIVE)."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        _take_lock(conn)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            done: dict[str, str] = {str(v): str(c) for v, c in rows}
            for path in sorted(migrations.glob("*.sql")):
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        log.warning("migration %s changed after it was applied", path.name)
                    continue
                if text.startswith(OUTSIDE_A_TRANSACTION):
                    _apply_outside(conn, path.stem, text, checksum)
                else:
                    _apply(conn, path.stem, text, checksum)
                applied_now.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    if applied_now:
        log.info("applied migrations %s", ", ".join(applied_now))
    return applied_now


def _take_lock(conn: psycopg.Connection) -> None:
    """Take the migration lock, asking again until it is free rather than waiting in
    pg_advisory_lock: a session waiting there holds a snapshot, which CREATE INDEX CONCURRENTLY
    in the lock holder's migration would wait for (a deadlock)."""
    delay = 0.05
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,)).fetchone()
        if row is not None and row[0]:
            return
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _apply(conn: psycopg.Connection, version: str, text: str, checksum: str) -> None:
    """One migration in a transaction with its row."""

    def attempt() -> None:
        with conn.transaction():
            conn.execute(text.encode())
            _record(conn, version, checksum)

    _until_applied(version, attempt)


def _apply_outside(conn: psycopg.Connection, version: str, text: str, checksum: str) -> None:
    """One migration outside a transaction: its statements one at a time, then its row."""
    for statement in _statements(text):
        _until_applied(version, partial(_run_outside, conn, statement))
    _record(conn, version, checksum)


def _run_outside(conn: psycopg.Connection, statement: str) -> None:
    """Run `statement` on its own; an index it builds concurrently that an interrupted build
    left invalid (which `IF NOT EXISTS` would keep as it is) is dropped first."""
    index = _CONCURRENT_INDEX.search(statement)
    if index is not None:
        row = conn.execute(
            "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index[1],)
        ).fetchone()
        if row is not None and row[0]:
            log.warning("index %s was left invalid by an interrupted build: built again", index[1])
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index[1]}".encode())
    conn.execute(statement.encode())


def _statements(text: str) -> list[str]:
    """The statements of a migration run outside a transaction (each ends a line with `;`)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def _record(conn: psycopg.Connection, version: str, checksum: str) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)", (version, checksum)
    )


def _until_applied(version: str, attempt: Callable[[], None]) -> None:
    """Running processes lock the tables a migration alters in their own order, so PostgreSQL
    may pick it as a deadlock's victim (it rolls back whole): it is tried again, a moment
    later, until it is applied."""
    delay = 0.1
    for tries in range(1, 21):
        try:
            attempt()
            return
        except psycopg.errors.DeadlockDetected:
            if tries == 20:
                raise
            log.warning("migration %s lost a deadlock; trying again", version)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def async_pool(
    database_url: str,
    min_size: int = 1,
    max_size: int = 10,
    checked: bool = False,
    wait_seconds: float = 30.0,
    autocommit: bool = False,
) -> AsyncConnectionPool:
    """An (unopened) async pool; the caller opens and closes it. `checked` pools test each
    connection as it is handed out (a round trip), so that the first requests after a
    PostgreSQL restart do not fail on connections the restart closed; `wait_seconds` bounds
    the wait for a connection (PoolTimeout after it); `autocommit` connections run each
    statement as its own transaction (no BEGIN and COMMIT round trips around it)."""
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection if checked else None,
        timeout=wait_seconds,
        kwargs={"autocommit": True} if autocommit else None,
    )


def in_schema(database_url: str, schema: str) -> str:
    """The same database, with `schema` first on the search path (where migrations create)."""
    if not schema.isidentifier():
        raise ValueError(f"{schema!r} is not a plain schema name")
    return psycopg.conninfo.make_conninfo(database_url, options=f"-c search_path={schema}")


def create_schema(database_url: str, schema: str) -> str:
    """Create `schema` (empty) with every table migrated into it; returns its URL."""
    url = in_schema(database_url, schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    migrate(url)
    return url
