from __future__ import annotations

from collections.abc import Iterator

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
