"""Whether the positions PostgreSQL remembers still exist in the broker.

A consumer's stored offset past the end of its partition means the partition is not the one the
database consumed (a recreated topic, an emptied memory-only broker): every record up to the
stored offset would be taken for one already applied and skipped. Nothing may be consumed then.

ListOffsets cannot be trusted for this (Tansu answers "latest" with the last batch's base
offset + 1), so the check fetches: it reads at `stored - 1`. A record there means the position
exists; an end of partition or a high watermark below `stored` (from the Fetch response, which
is right), or an out-of-range error, means it does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import psycopg
from confluent_kafka import Consumer, KafkaError, TopicPartition

Position = tuple[str, int]


class PositionPastEnd(Exception):
    """Stored positions beyond the end of their partitions: consuming must stop."""

    def __init__(self, consumer: str, past: Mapping[Position, tuple[int, int | None]]) -> None:
        described = "; ".join(
            f"{t}[{p}] stored at {stored}, partition ends at {'?' if end is None else end}"
            for (t, p), (stored, end) in sorted(past.items())
        )
        super().__init__(
            f"{consumer}: the database has consumed past the end of the broker's partitions"
            f" ({described}): the broker lost or recreated them. Restore the broker's data, or"
            " start over with an empty database; nothing is consumed until then"
        )
        self.consumer = consumer
        self.past = past


def stored_positions(
    database_url: str, consumer: str, topic_names: Iterable[str]
) -> dict[Position, int]:
    """The next offsets `consumer` stored for these topics (partitions it never read: none)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic, partition, next_offset FROM consumed_offsets"
            " WHERE consumer = %s AND topic = ANY(%s) AND next_offset > 0",
            (consumer, list(topic_names)),
        ).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


def past_end(
    bootstrap: str, stored: dict[Position, int], timeout: float = 15.0
) -> dict[Position, tuple[int, int | None]]:
    """Of these stored positions, those past the end of their partitions: position → (stored,
    end, or None when the broker did not say). TimeoutError if the broker does not answer."""
    wanted = {tp: offset for tp, offset in stored.items() if offset > 0}
    if not wanted:
        return {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "flashcall-position-check",  # assign() only: the group is never joined
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": 100,
        }
    )
    try:
        return _probe(consumer, wanted, timeout)
    finally:
        consumer.close()


def _probe(
    consumer: Consumer, wanted: dict[Position, int], timeout: float
) -> dict[Position, tuple[int, int | None]]:
    existing = consumer.list_topics(timeout=timeout).topics
    past: dict[Position, tuple[int, int | None]] = {}
    pending: dict[Position, int] = {}
    for (topic, partition), offset in wanted.items():
        known = existing.get(topic)
        if known is None or partition not in known.partitions:
            past[(topic, partition)] = (offset, 0)
        else:
            pending[(topic, partition)] = offset
    consumer.assign([TopicPartition(t, p, offset - 1) for (t, p), offset in pending.items()])
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not say where {sorted(pending)} end")
        msg = consumer.poll(0.1)
        if msg is not None:
            where = (str(msg.topic()), int(msg.partition() or 0))
            err = msg.error()
            if where in pending:
                if err is None:  # the record before the stored position exists
                    del pending[where]
                elif err.code() == KafkaError._PARTITION_EOF:
                    past[where] = (pending.pop(where), msg.offset())
                elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    past[where] = (pending.pop(where), None)
        for (topic, partition), offset in list(pending.items()):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if 0 <= high < offset:
                past[(topic, partition)] = (pending.pop((topic, partition)), high)
    return past
