"""What the integration tests share: small pools on a database no platform runs on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool


@pytest.fixture
async def pool(quiet_database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with async_pool(quiet_database_url, max_size=4) as p:  # opened, closed after
        yield p


@pytest.fixture
async def second_pool(quiet_database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """Another worker's connections to the same database."""
    async with async_pool(quiet_database_url, max_size=4) as p:
        yield p
