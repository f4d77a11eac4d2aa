"""Rebuild the read models from the topics into a fresh schema.

    python -m projections rebuild [--schema NAME]

Reads every projected topic from the beginning with a plain, assigned consumer (no group),
applies it exactly as the live projection does, and prints the row counts. Compare the schema
with the live one, then swap or drop it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from core.db import async_pool, create_schema
from core.settings import get_settings
from projections.call_rollup import differences_sql
from projections.read_models import CONSUMER, PROJECTED_TOPICS, Projector
from runtime.batches import Consumed, apply_batch
from schemas.codec import use_schemas

READ_MODELS = (
    "accounts",
    "services",
    "service_credit",
    "account_credit",
    "fraud_blocks",
    "fraud_allowed",
    "fraud_lifts",
    "access_keys",
    "calls",
    "call_rollup",
    "ledger",
)


# How long a batch waits to fill: a full one comes at once while records are behind, and the
# partitions' ends are told by the fetches' answers, so the last batch need not wait long.
CONSUME_SECONDS = 0.2

# Told (records done, records in all) after every batch.
Progress = Callable[[int, int], None]


async def rebuild(
    database_url: str, bootstrap: str, schema: str, progress: Progress | None = None
) -> dict[str, int]:
    """Project every topic into `schema`; returns the rows of each read model."""
    url = await asyncio.to_thread(create_schema, database_url, schema)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"flashcall-rebuild-{schema}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    metadata = await asyncio.to_thread(consumer.list_topics, timeout=30)
    assignment = [
        TopicPartition(t.name, p, OFFSET_BEGINNING)
        for t in PROJECTED_TOPICS
        for p in metadata.topics[t.name].partitions
    ]
    # Asked before the assignment: an assigned consumer's fetches are in flight, and each
    # ask waited behind one (up to fetch.wait.max.ms, 0.45 s a partition on an idle broker).
    total = 0
    for tp in assignment:
        low, high = await asyncio.to_thread(consumer.get_watermark_offsets, tp, 10)
        total += max(high - low, 0)
    consumer.assign(assignment)
    pending = {(tp.topic, tp.partition) for tp in assignment}
    done = 0
    projector = Projector(publish_reports=False)
    pool = async_pool(url, max_size=2)
    await pool.open()
    try:
        while pending:
            batch = []
            for msg in await asyncio.to_thread(consumer.consume, 1000, CONSUME_SECONDS):
                err = msg.error()
                if err is None:
                    batch.append(Consumed.of(msg))
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                else:
                    raise RuntimeError(f"reading {msg.topic()}: {err}")
            await apply_batch(pool, None, CONSUMER, batch, projector)
            done += len(batch)
            if progress is not None:
                progress(done, max(total, done))
        async with pool.connection() as conn:
            return {
                table: int(
                    (await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone() or [0])[
                        0
                    ]
                )
                for table in READ_MODELS
            }
    finally:
        await pool.close()
        consumer.close()


async def compare(database_url: str, schema: str) -> dict[str, int]:
    """Rows that differ between each live read model and its copy in `schema` (rows only in
    one of them count too); for the rollup, its rows that are not the sums of the calls, in
    either schema."""
    differences = {}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for table in READ_MODELS:
            if table == "call_rollup":
                # Sums of the calls (compared as calls), made batch by batch: in each schema
                # they must be the calls' sums, whatever batches made them.
                differences[table] = 0
                for where in ("public", schema):
                    cur = await conn.execute(differences_sql(where, services=False))
                    differences[table] += len(await cur.fetchall())
                continue
            row = await (
                await conn.execute(
                    f"SELECT count(*) FROM ((TABLE public.{table} EXCEPT ALL"
                    f" TABLE {schema}.{table}) UNION ALL (TABLE {schema}.{table}"
                    f" EXCEPT ALL TABLE public.{table})) AS d"
                )
            ).fetchone()
            differences[table] = int(row[0]) if row else 0
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m projections")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("rebuild", help="replay the topics into a fresh schema")
    cmd.add_argument("--schema", default=f"rebuild_{int(time.time())}")
    args = parser.parse_args()
    settings = get_settings()
    use_schemas(settings.schema_dir)
    counts = asyncio.run(
        rebuild(settings.require_database_url(), settings.require_bootstrap(), args.schema)
    )
    print(f"rebuilt into schema {args.schema}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
