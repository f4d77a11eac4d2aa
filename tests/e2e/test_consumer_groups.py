"""A consumer group the embedded broker left stuck does not stop the platform: the worker that
waits for its partitions longer than FLASHCALL_KAFKA_GROUP_STUCK_SECONDS moves its consumer to
the next generation's group (recorded in PostgreSQL), calls are dialled, and a worker started
later joins that group, not the stuck one (runtime/consumer_groups.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from core.db import migrate
from launch.broker import started_broker
from launch.platform import ROOT, Platform
from launch.ports import free_port
from producers.topic_admin import ensure_topics
from schemas import topics
from tests.conftest import TEST_ENV
from tests.support.client import Api, random_phone
from tests.support.stuck_group import leave_stuck

pytestmark = pytest.mark.e2e


@dataclass
class Stage:
    bootstrap: str
    database_url: str
    logs: Path


@pytest.fixture
def stage() -> Iterator[Stage]:
    """The embedded broker and a database of their own: this test breaks a group."""
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"flashcall_groups_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        with started_broker(None) as (bootstrap, _):
            migrate(database_url)
            ensure_topics(bootstrap, 2)
            yield Stage(bootstrap, database_url, ROOT / "var" / "test-logs" / name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generations(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT consumer, generation FROM consumer_groups").fetchall()
    return {str(consumer): int(generation) for consumer, generation in rows}


def test_a_stuck_group_is_left_for_a_new_one_that_every_worker_joins(stage: Stage) -> None:
    leave_stuck(stage.bootstrap, "flashcall-dialer", [topics.DIAL_COMMANDS.name])
    plat = Platform(
        stage.bootstrap,
        stage.database_url,
        free_port(),
        env={**TEST_ENV, "FLASHCALL_KAFKA_GROUP_STUCK_SECONDS": "3"},
        log_dir=stage.logs,
    )
    api = Api(plat.url)
    try:
        # Ready once each of its consumers holds partitions: the dialer's only in a new group.
        plat.start_worker()
        plat.start_api()
        assert generations(stage.database_url) == {"dialer": 1}
        tenant = api.tenant()
        call = api.place(tenant.key, random_phone())
        api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=30)

        plat.start_worker("worker-dialer-2", "dialer")
        calls = [api.place(tenant.key, random_phone()) for _ in range(4)]
        for placed in calls:
            api.wait_status(tenant.key, placed["id"], {"delivered"}, timeout=30)
        assert generations(stage.database_url) == {"dialer": 1}
    finally:
        api.close()
        plat.stop_all()
