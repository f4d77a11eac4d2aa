"""PostgreSQL access: migrations and connection pools."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


# Held while migrating: processes starting together migrate one at a time.
MIGRATION_LOCK = 727001


def migrate(database_url: str) -> list[str]:
    """Apply the migrations not applied yet, in file-name order, each in one transaction with
    its row in `schema_migrations`; returns the versions applied.

    A version table of our own rather than a migration tool: the files are plain SQL, each
    written to be idempotent (databases made before the table existed re-run them once, safely),
    and the same files migrate scratch schemas for rebuilds (the search path decides where).
    With nothing to apply, a start reads one small table and takes no lock on any other: an
    `ALTER TABLE … IF NOT EXISTS` run again would still lock its table (ACCESS EXCLUSIVE)."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            done: dict[str, str] = {str(v): str(c) for v, c in rows}
            for path in sorted(MIGRATIONS.glob("*.sql")):
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        log.warning("migration %s changed after it was applied", path.name)
                    continue
                _apply(conn, path.stem, text, checksum)
                applied_now.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    if applied_now:
        log.info("applied migrations %s", ", ".join(applied_now))
    return applied_now


def _apply(conn: psycopg.Connection, version: str, text: str, checksum: str) -> None:
    """One migration in a transaction. Running processes lock the tables it alters in their
    own order, so PostgreSQL may pick it as a deadlock's victim (it rolls back whole): it is
    tried again, a moment later, until it is applied."""
    delay = 0.1
    for attempt in range(1, 21):
        try:
            with conn.transaction():
                conn.execute(text.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                    (version, checksum),
                )
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == 20:
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
