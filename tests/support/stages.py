"""A broker and a database of a test's own, for tests that must not share the session's."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.db import migrate
from launch.broker import started_broker
from launch.platform import ROOT
from producers.topic_admin import ensure_topics


@dataclass
class Ground:
    bootstrap: str
    database_url: str
    logs: Path  # where its platforms' processes write


@contextlib.contextmanager
def own_ground(prefix: str, partitions: int) -> Iterator[Ground]:
    """The embedded broker with the platform's topics and a migrated database, both dropped
    afterwards."""
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        with started_broker(None) as (bootstrap, _):
            migrate(database_url)
            ensure_topics(bootstrap, partitions)
            yield Ground(bootstrap, database_url, ROOT / "var" / "test-logs" / name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
