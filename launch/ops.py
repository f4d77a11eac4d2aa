"""`flashcall`: the operators' command line (docs/operations.md).

    flashcall lag                       consumer lag per consumer and partition
    flashcall rebuild [--schema NAME]   replay the topics into a fresh schema (progress, ETA)
    flashcall replay-check [--keep]     rebuild into a scratch schema and diff it with the live
                                        read models (exit 1 on a difference)
    flashcall dlq list|redrive ...      the records consumers parked (processors/dlq.py)
    flashcall --version                 the installed version (CHANGELOG.md)

Settings come from the environment, as for every process (DATABASE_URL,
KAFKA_BOOTSTRAP_SERVERS); where it has none, from the running `make run`'s var/env.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass

import psycopg
from confluent_kafka import Consumer, TopicPartition

from core.settings import Settings, get_settings
from core.version import VERSION
from launch import run_env
from processors import dlq
from processors.consumers import SUBSCRIPTIONS
from projections.rebuild import compare, rebuild
from schemas.codec import use_schemas


@dataclass(frozen=True)
class Lag:
    consumer: str
    topic: str
    partition: int
    stored: int
    high: int

    @property
    def lag(self) -> int:
        return max(self.high - self.stored, 0)


def lags(settings: Settings) -> list[Lag]:
    """Each consumer's stored offset (PostgreSQL) against the partition's high watermark: every
    partition of the topics it subscribes to (stored 0 where it never applied a record), and
    the tenants' ingress topics it has read."""
    with psycopg.connect(settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT consumer, topic, partition, next_offset FROM consumed_offsets"
        ).fetchall()
    stored = {(str(c), str(t), int(p)): int(o) for c, t, p, o in rows}
    client = Consumer(
        {
            "bootstrap.servers": settings.require_bootstrap(),
            "group.id": f"flashcall-ops-{uuid.uuid4()}",
        }
    )
    try:
        topics = client.list_topics(timeout=10).topics
        wanted = set(stored)
        for consumer, subscribed in SUBSCRIPTIONS.items():
            for name in (t.name for t in subscribed if t.name in topics):
                wanted.update((consumer, name, p) for p in topics[name].partitions)
        found = []
        for consumer, topic, partition in sorted(wanted):
            _, high = client.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            found.append(
                Lag(consumer, topic, partition, stored.get((consumer, topic, partition), 0), high)
            )
        return found
    finally:
        client.close()


def print_lag(settings: Settings) -> int:
    found = lags(settings)
    if not found:
        print("no consumer has stored a position yet, and no topic is there to read")
        return 0
    width = max(len("topic"), *(len(row.topic) for row in found))
    print(f"{'consumer':<12} {'topic':<{width}} {'part':>4} {'stored':>10} {'high':>10} {'lag':>8}")
    ahead = False
    for row in found:
        # Tansu's ListOffsets can answer a high watermark below what was consumed (docs/events.md)
        mark = "*" if row.stored > row.high else ""
        ahead = ahead or bool(mark)
        print(
            f"{row.consumer:<12} {row.topic:<{width}} {row.partition:>4} {row.stored:>10}"
            f" {row.high:>10} {row.lag:>8}{mark}"
        )
    by_consumer: dict[str, int] = {}
    for row in found:
        by_consumer[row.consumer] = by_consumer.get(row.consumer, 0) + row.lag
    print("total: " + ", ".join(f"{c} {n}" for c, n in by_consumer.items()))
    if ahead:
        print(
            "* stored is past the broker's high watermark: the broker answered an old mark"
            " (Tansu does, for a moment after a write); counted as no lag"
        )
    return 0


class ProgressBar:
    """`[#####.....] 52% 1,204,000/2,310,000 records, 41,000/s, ETA 27 s` on stderr."""

    WIDTH = 30

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5 and done < total:
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        filled = int(self.WIDTH * done / total) if total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        share = done / total if total else 1.0
        sys.stderr.write(
            f"\r[{bar}] {share:4.0%} {done:,}/{total:,} records, {rate:,.0f}/s, ETA {eta:,.0f} s "
        )
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def run_rebuild(settings: Settings, schema: str) -> dict[str, int]:
    bar = ProgressBar()
    try:
        return asyncio.run(
            rebuild(settings.require_database_url(), settings.require_bootstrap(), schema, bar)
        )
    finally:
        bar.finish()


def replay_check(settings: Settings, keep: bool) -> int:
    schema = f"replay_check_{int(time.time())}"
    run_rebuild(settings, schema)
    url = settings.require_database_url()
    try:
        differences = asyncio.run(compare(url, schema))
    finally:
        if not keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    for table, n in differences.items():
        print(f"{table:<16} {'same' if n == 0 else f'{n} rows differ'}")
    if keep:
        print(f"the rebuilt read models are in schema {schema}")
    # A code that expired between the replay and the comparison shows as a difference.
    return 1 if any(differences.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flashcall", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"flashcall {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lag", help="consumer lag per consumer and partition")
    again = sub.add_parser("rebuild", help="replay the topics into a fresh schema")
    again.add_argument("--schema", default=f"rebuild_{int(time.time())}")
    check = sub.add_parser("replay-check", help="rebuild into a scratch schema and diff")
    check.add_argument("--keep", action="store_true", help="keep the scratch schema")
    sub.add_parser("dlq", help="parked records: flashcall dlq list|redrive ...", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    run_env.use_newest_run()  # `make run`'s settings, where the environment has none
    if argv[:1] == ["dlq"]:
        return dlq.main(argv[1:])
    args = parser.parse_args(argv)
    settings = get_settings()
    use_schemas(settings.schema_dir)
    if args.command == "lag":
        return print_lag(settings)
    if args.command == "rebuild":
        counts = run_rebuild(settings, args.schema)
        print(
            f"rebuilt into schema {args.schema}: "
            + ", ".join(f"{t} {n}" for t, n in counts.items())
        )
        return 0
    return replay_check(settings, args.keep)


def main_exit() -> None:
    """The `flashcall` console script."""
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a setting missing: say what to do, not a traceback
        sys.exit(
            f"flashcall: {exc}. Start `make run` (it writes var/env, which flashcall reads),"
            " or set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS."
        )


if __name__ == "__main__":
    main_exit()
