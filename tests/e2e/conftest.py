from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest

from launch.platform import Platform
from launch.ports import free_port
from tests.support.client import Api, Tenant


@pytest.fixture(scope="session")
def api(platform: Platform) -> Iterator[Api]:
    client = Api(platform.url)
    yield client
    client.close()


@pytest.fixture
def tenant(api: Api) -> Tenant:
    """A fresh account with one service (5-digit codes, 60 test-minutes) and one key."""
    return api.tenant()


SECOND_API_KEY_RATE = 10


def extra_api(platform: Platform, name: str, **env: str) -> Iterator[Api]:
    """Another API instance on the same platform, with a low per-key call rate (and `env`)."""
    port = free_port()
    proc = platform.start_api(
        name, port, FLASHCALL_KEY_CALLS_PER_SECOND=str(SECOND_API_KEY_RATE), **env
    )
    client = Api(f"http://127.0.0.1:{port}")
    yield client
    client.close()
    platform.stop(proc)


@pytest.fixture(scope="session")
def second_api(platform: Platform) -> Iterator[Api]:
    yield from extra_api(platform, "api-2")


@pytest.fixture(scope="session")
def third_api(platform: Platform) -> Iterator[Api]:
    """With the second, two replicas of one platform: one rate for both."""
    yield from extra_api(platform, "api-3")


@pytest.fixture(scope="module")
def impatient_api(platform: Platform) -> Iterator[Api]:
    """A replica that waits 1 s (not 10) for the read model before answering 503."""
    yield from extra_api(platform, "api-impatient", FLASHCALL_READ_MODEL_WAIT_SECONDS="1")


@contextlib.contextmanager
def projection_held(database_url: str, table: str) -> Iterator[None]:
    """The projection cannot write `table` while this holds (reads go on)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        conn.rollback()
