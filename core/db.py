"""PostgreSQL access: migrations and connection pools."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(database_url: str) -> None:
    """Apply every migration (each is idempotent) in file-name order."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727001)")
        try:
            for path in sorted(MIGRATIONS.glob("*.sql")):
                conn.execute(path.read_text().encode())
        finally:
            conn.execute("SELECT pg_advisory_unlock(727001)")


def async_pool(
    database_url: str,
    min_size: int = 1,
    max_size: int = 10,
    checked: bool = False,
    wait_seconds: float = 30.0,
) -> AsyncConnectionPool:
    """An (unopened) async pool; the caller opens and closes it. `checked` pools test each
    connection as it is handed out (a round trip), so that the first requests after a
    PostgreSQL restart do not fail on connections the restart closed; `wait_seconds` bounds
    the wait for a connection (PoolTimeout after it)."""
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection if checked else None,
        timeout=wait_seconds,
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
