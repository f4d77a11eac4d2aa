"""Parked records: list them, and re-drive them after a fix.

    python -m processors.dlq list [--consumer NAME] [--all]
    python -m processors.dlq redrive (--id N ... | --consumer NAME | --every)

Re-driving appends the record again, as it was (key, value, event type), to the topic it came
from; every consumer of that topic reads it again, and those that applied its event before
recognise the event id and skip it. A record that fails again is parked again (a new row).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from confluent_kafka import Producer

from core.settings import get_settings
from schemas.codec import HEADER_EVENT_TYPE


@dataclass(frozen=True)
class Parked:
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    event_type: str | None
    reason: str
    parked_at: datetime
    redriven_at: datetime | None


COLUMNS = 'id, consumer, topic, partition, "offset", event_type, reason, parked_at, redriven_at'


def parked(
    database_url: str, consumer: str | None = None, include_redriven: bool = False
) -> list[Parked]:
    sql = f"SELECT {COLUMNS} FROM parked_records WHERE (%s::text IS NULL OR consumer = %s)"
    if not include_redriven:
        sql += " AND redriven_at IS NULL"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(sql + " ORDER BY id", (consumer, consumer)).fetchall()
    return [Parked(*row) for row in rows]


def redrive(database_url: str, bootstrap: str, ids: list[int]) -> int:
    """Append the parked records `ids` (not re-driven yet) to their topics again; returns how
    many. Each is marked once the broker has it."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    done = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, topic, key, value, event_type FROM parked_records"
            " WHERE id = ANY(%s) AND redriven_at IS NULL ORDER BY id",
            (ids,),
        ).fetchall()
        for row_id, topic, key, value, event_type in rows:
            errors: list[object] = []
            producer.produce(
                topic,
                value=bytes(value),
                key=bytes(key) if key is not None else None,
                headers=[(HEADER_EVENT_TYPE, event_type or "")],
                on_delivery=_collect(errors),
            )
            producer.flush(30)
            if errors != [None]:
                raise RuntimeError(f"could not re-drive parked record {row_id}: {errors}")
            conn.execute("UPDATE parked_records SET redriven_at = now() WHERE id = %s", (row_id,))
            done += 1
    return done


def _collect(errors: list[object]) -> Callable[[object, object], None]:
    def delivered(err: object, _msg: object) -> None:
        errors.append(err)

    return delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flashcall dlq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="records parked and not re-driven yet")
    listing.add_argument("--consumer")
    listing.add_argument("--all", action="store_true", help="re-driven ones too")
    again = sub.add_parser("redrive", help="append parked records to their topics again")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, nargs="+", dest="ids")
    which.add_argument("--consumer")
    which.add_argument("--every", action="store_true")
    args = parser.parse_args(argv)
    settings = get_settings()
    database_url = settings.require_database_url()
    if args.command == "list":
        rows = parked(database_url, args.consumer, args.all)
        for r in rows:
            print(
                f"{r.id}\t{r.consumer}\t{r.topic}[{r.partition}]@{r.offset}\t"
                f"{r.event_type or '?'}\t{r.parked_at:%Y-%m-%d %H:%M:%S}\t"
                f"{'re-driven' if r.redriven_at else 'parked'}\t{r.reason}"
            )
        what = "parked or re-driven" if args.all else "parked"
        print(f"{len(rows)} record(s) {what}" if rows else f"no record {what}")
        return 0
    ids = args.ids or [r.id for r in parked(database_url, args.consumer)]
    count = redrive(database_url, settings.require_bootstrap(), ids)
    print(f"re-drove {count} record(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
