"""PostgreSQL doing to a test what a restart or an administrator would."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import psycopg


class Pooled(Protocol):
    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]: ...


async def end_connection(pool: Pooled, database_url: str) -> int:
    """End, from another session, the connection `pool` hands out next (a pool of one: its
    only one); its backend's pid."""
    async with pool.connection() as conn:
        pid = conn.info.backend_pid
    async with await psycopg.AsyncConnection.connect(database_url) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return pid
