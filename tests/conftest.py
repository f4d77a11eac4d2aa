"""Session fixtures: one real broker, one fresh database, the platform's real processes."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from core.db import migrate
from launch.broker import broker
from launch.platform import ROOT, Platform
from launch.ports import free_port
from producers.topic_admin import ensure_topics

# Settings the platform's processes run with in tests: fast dials, short group timeouts, and a
# "minute" of code validity of TTL_MINUTE seconds so expiry can be watched.
TTL_MINUTE = 3.0
TEST_ENV = {
    "FLASHCALL_ENV": "test",
    "FLASHCALL_SIM_DIAL_MIN_MS": "5",
    "FLASHCALL_SIM_DIAL_MAX_MS": "25",
    "FLASHCALL_TTL_MINUTE_SECONDS": str(TTL_MINUTE),
    "FLASHCALL_KAFKA_SESSION_TIMEOUT_MS": "2000",
    # Old Idempotency-Keys and limit counts removed every second, not every minute.
    "FLASHCALL_SWEEP_SECONDS": "1",
    # The embedded broker can leave a group stuck for good (runtime/consumer_groups.py).
    "FLASHCALL_KAFKA_GROUP_STUCK_SECONDS": "15",
    "FLASHCALL_DIAL_ABANDON_SECONDS": "4",
    "FLASHCALL_EXPIRY_INTERVAL_SECONDS": "0.1",
    # Hops of a few milliseconds keep the suite quick (make run uses 100 on this broker).
    "FLASHCALL_KAFKA_FETCH_WAIT_MS": "10",
    "FLASHCALL_READ_GRACE_MS": "1000",  # Tansu's ListOffsets (launch/broker.py)
    # The tests' webhook receivers listen on loopback; retries seconds apart, not minutes.
    "FLASHCALL_WEBHOOK_ALLOW_PRIVATE": "true",
    "FLASHCALL_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
}


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    with broker(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) as address:
        yield address


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def own_database() -> Iterator[str]:
    """A database of our own on the server, migrated; dropped at the end."""
    name = f"flashcall_test_{uuid.uuid4().hex[:10]}"
    server = _server_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The database of the session's platform (and of tests that read what it wrote)."""
    with own_database() as url:
        yield url


@pytest.fixture(scope="session")
def quiet_database_url() -> Iterator[str]:
    """A database no platform runs on: handlers fed directly see only their own sweeps (the
    platform's dialer would fail a test's abandoned claim first)."""
    with own_database() as url:
        yield url


@pytest.fixture(scope="session")
def platform(bootstrap: str, database_url: str) -> Iterator[Platform]:
    """Processor worker and API running as real processes, as `make run` starts them."""
    ensure_topics(bootstrap, 6)
    plat = Platform(
        bootstrap,
        database_url,
        free_port(),
        env=TEST_ENV,
        log_dir=ROOT / "var" / "test-logs" / uuid.uuid4().hex[:8],
    )
    try:
        plat.start_worker()
        plat.start_api()
        yield plat
    finally:
        plat.stop_all()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the session's platform run last, the others in their usual order before them.
    Once started, the platform's idle consumers keep the session's broker busy (Tansu answers
    a fetch only when its wait is over: at the tests' 10 ms, most of a core), and every test
    after it, on a platform of its own or none, would run on what is left of the machine."""
    items.sort(key=lambda item: "platform" in getattr(item, "fixturenames", ()))
