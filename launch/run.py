"""`make run`: broker, database, migrations, processors and API under one supervisor.

Uses KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL when set; otherwise starts Tansu and an embedded
PostgreSQL on free ports, with data under var/run-<http port>/ so two runs can sit side by side.
SIGTERM or Ctrl-C stops every child.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from core.db import migrate
from core.settings import get_settings
from launch.broker import broker
from launch.orphans import die_with_parent
from launch.platform import ROOT, Platform
from launch.postgres import database
from producers.topic_admin import ensure_topics


class Stop(Exception):
    pass


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise Stop(signum)


def main() -> int:
    die_with_parent()  # stop with `make` when it is stopped
    settings = get_settings()
    run_dir = ROOT / settings.data_dir / f"run-{settings.http_port}"
    signal.signal(signal.SIGTERM, _raise_stop)
    with contextlib.ExitStack() as stack:
        bootstrap = stack.enter_context(broker(settings.kafka_bootstrap_servers))
        database_url = stack.enter_context(database(settings.database_url, Path(run_dir, "pg")))
        migrate(database_url)
        ensure_topics(bootstrap, settings.topic_partitions)
        platform = Platform(bootstrap, database_url, settings.http_port, log_dir=run_dir / "logs")
        stack.callback(platform.stop_all)
        try:
            platform.start_workers()
            platform.start_api()
            _greet(platform, settings.admin_token, run_dir)
            while all(p.poll() is None for p in platform.children):
                time.sleep(0.5)
            print("a child process exited; stopping (see the logs)", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, Stop):
            print("\nstopping…")
            return 0
    return 0


def _greet(platform: Platform, admin_token: str, run_dir: Path) -> None:
    print(
        f"""
flashcall is running at {platform.url}  (API docs: {platform.url}/docs)
web panel: {platform.url}/panel/  (sign up there; operator console: the token below)
broker {platform.bootstrap}; database {platform.database_url}
logs in {run_dir / "logs"}

Try it:
  curl -s -X POST {platform.url}/v1/accounts -H 'Authorization: Bearer {admin_token}' \\
       -H 'Content-Type: application/json' -d '{{"name": "Acme"}}'

Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
