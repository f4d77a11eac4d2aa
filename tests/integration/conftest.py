"""What the integration tests share: a small pool on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    p = async_pool(database_url, max_size=4)
    await p.open()
    yield p
    await p.close()
