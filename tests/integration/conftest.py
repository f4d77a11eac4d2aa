"""What the integration tests share: a small pool on a database no platform runs on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool


@pytest.fixture
async def pool(quiet_database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    p = async_pool(quiet_database_url, max_size=4)
    await p.open()
    yield p
    await p.close()


@pytest.fixture
async def second_pool(quiet_database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """Another worker's connections to the same database."""
    p = async_pool(quiet_database_url, max_size=4)
    await p.open()
    yield p
    await p.close()
