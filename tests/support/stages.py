"""A broker and a database of a test's own, for tests that must not share the session's."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from launch.broker import started_broker
from launch.platform import ROOT, Platform
from launch.ports import free_port
from producers.topic_admin import ensure_topics
from tests.conftest import TEST_ENV, own_database


@dataclass
class Ground:
    bootstrap: str
    database_url: str
    logs: Path  # where its platforms' processes write

    def platform(self, **env: str) -> Platform:
        """A platform on this ground, with the tests' settings and these."""
        return Platform(
            self.bootstrap,
            self.database_url,
            free_port(),
            env={**TEST_ENV, **env},
            log_dir=self.logs,
        )


@contextlib.contextmanager
def own_ground(prefix: str, partitions: int) -> Iterator[Ground]:
    """The embedded broker with the platform's topics and a migrated database, both dropped
    afterwards."""
    with own_database() as database_url, started_broker(None) as (bootstrap, _):
        ensure_topics(bootstrap, partitions)
        logs = ROOT / "var" / "test-logs" / f"{prefix}_{uuid.uuid4().hex[:8]}"
        yield Ground(bootstrap, database_url, logs)
