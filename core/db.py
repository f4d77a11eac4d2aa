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


def async_pool(database_url: str, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An (unopened) async pool; the caller opens and closes it."""
    return AsyncConnectionPool(database_url, min_size=min_size, max_size=max_size, open=False)
