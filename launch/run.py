"""`make run`: broker, database, migrations, processors and API under one supervisor.

Uses KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL when set; otherwise starts Tansu and an embedded
PostgreSQL on free ports, with data under var/run-<http port>/ so two runs can sit side by side.
A worker or the API that dies is started again (launch/supervisor.py); SIGTERM or Ctrl-C stops
every child.

The embedded broker keeps nothing across its own restart, so a restart of `make run` on it also
starts the embedded database empty (and says so): never a database that remembers records the
broker no longer has. A database given with DATABASE_URL that does is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from core.db import migrate
from core.positions import PositionPastEnd, past_end, stored_positions
from core.settings import get_settings
from launch import run_env
from launch.broker import embedded_settings, started_broker
from launch.orphans import die_with_parent
from launch.platform import ROOT, Platform, parse_replicas
from launch.ports import reserve
from launch.postgres import database
from processors.consumers import SUBSCRIPTIONS
from producers.topic_admin import ensure_topics

# What a developer's machine wants that production does not: webhooks to a receiver on this
# machine (docs/webhooks.md). A setting in the environment wins.
LOCAL_DEFAULTS = {"FLASHCALL_WEBHOOK_ALLOW_PRIVATE": "true"}


class Stop(Exception):
    pass


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise Stop(signum)


def main() -> int:
    die_with_parent()  # stop with `make` when it is stopped
    settings = get_settings()
    reserve(settings.http_port)  # before the broker, the database and the workers take theirs
    try:
        replicas = parse_replicas(settings.replicas)
    except ValueError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    run_dir = ROOT / settings.data_dir / f"run-{settings.http_port}"
    signal.signal(signal.SIGTERM, _raise_stop)
    stopping_at = time.monotonic()
    embedded_broker = not settings.kafka_bootstrap_servers
    if embedded_broker and not settings.database_url:
        _start_clean(run_dir / "pg")
    with contextlib.ExitStack() as stack:
        bootstrap, tansu = stack.enter_context(started_broker(settings.kafka_bootstrap_servers))
        database_url = stack.enter_context(database(settings.database_url, Path(run_dir, "pg")))
        migrate(database_url)
        local = {name: os.environ.get(name, value) for name, value in LOCAL_DEFAULTS.items()}
        env = {**local, **(embedded_settings() if tansu is not None else {})}
        partitions = int(env.get("FLASHCALL_TOPIC_PARTITIONS", settings.topic_partitions))
        ensure_topics(bootstrap, partitions)
        problems = _inconsistencies(bootstrap, database_url)
        for problem in problems:
            print(f"refusing to start: {problem}", file=sys.stderr)
        if problems:
            return 2
        platform = Platform(
            bootstrap, database_url, settings.http_port, env=env, log_dir=run_dir / "logs"
        )
        stack.callback(platform.stop_all)
        stack.callback(run_env.forget, run_dir, settings.data_dir)
        try:
            platform.start_workers(replicas)
            platform.start_apis(replicas["api"])
            platform.supervise()
            _write_targets(platform, run_dir / "metrics.json")
            env_file = run_env.write(
                run_dir,
                settings.data_dir,
                {
                    "API": platform.url,
                    "ADMIN_TOKEN": settings.admin_token,
                    "KAFKA": bootstrap,
                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "DATABASE_URL": database_url,
                    "FLASHCALL_ADMIN_TOKEN": settings.admin_token,
                },
            )
            _greet(platform, settings.admin_token, run_dir, env_file)
            while tansu is None or tansu.poll() is None:
                time.sleep(0.5)
            print(
                "the embedded broker stopped, and everything it held with it (it keeps nothing"
                " on disk); stopping. The next `make run` starts clean.",
                file=sys.stderr,
            )
            return 1
        except (KeyboardInterrupt, Stop):
            print("\nstopping…", flush=True)
            stopping_at = time.monotonic()
    # The ExitStack has stopped every child (together: as long as the slowest needs), then the
    # database and the broker.
    print(f"stopped, in {time.monotonic() - stopping_at:.1f} s", flush=True)
    return 0


def _start_clean(pg_dir: Path) -> None:
    if pg_dir.exists():
        shutil.rmtree(pg_dir)
        print(
            "The embedded broker keeps nothing across restarts, so this run starts with an empty"
            f" database too (the last run's data in {pg_dir} was removed). Set"
            " KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL to keep data (docs/reliability.md).",
            flush=True,
        )


def _inconsistencies(bootstrap: str, database_url: str) -> list[PositionPastEnd]:
    """What the database has consumed that the broker does not have (a broker that lost it):
    every consumer would stop on it, and the API would know none of its keys."""
    problems = []
    for consumer, subscribed in SUBSCRIPTIONS.items():
        stored = stored_positions(database_url, consumer, [t.name for t in subscribed])
        past = past_end(bootstrap, stored)
        if past:
            problems.append(PositionPastEnd(consumer, past))
    return problems


def _write_targets(platform: Platform, path: Path) -> None:
    """Every process's /metrics, as a Prometheus file_sd target list."""
    targets = [
        {"targets": [url.removeprefix("http://").removesuffix("/metrics")], "labels": {"job": name}}
        for name, url in sorted(platform.metrics_urls().items())
    ]
    path.write_text(json.dumps(targets, indent=2) + "\n")


def _greet(platform: Platform, admin_token: str, run_dir: Path, env_file: Path) -> None:
    balanced = (
        f"  (HAProxy in front of {len(platform.api_ports)} API replicas)"
        if platform.balancer
        else ""
    )
    metrics = "\n".join(
        f"  {name:<28} {url}" for name, url in sorted(platform.metrics_urls().items())
    )
    shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
    print(
        f"""
flashcall is running at {platform.url}{balanced}
  API docs          {platform.url}/docs
  web panel         {platform.url}/panel/  (sign up there)
  operator console  {platform.url}/panel/operator/sign-in  (token: {admin_token})
broker {platform.bootstrap}; database {platform.database_url}
logs in {run_dir / "logs"}; a process that dies is started again
metrics (also in {run_dir / "metrics.json"}, a Prometheus file_sd list):
{metrics}

In another shell, `. {shown}` sets API, ADMIN_TOKEN and KAFKA for the README's commands
(`flashcall` reads it by itself). Try it:
  . {shown}
  curl -s -X POST $API/v1/accounts -H "Authorization: Bearer $ADMIN_TOKEN" \\
       -H 'Content-Type: application/json' -d '{{"name": "Acme"}}'

Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
