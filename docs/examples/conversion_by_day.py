"""Conversion (verified / delivered) per service per day, from the call-reports topic alone.

    python docs/examples/conversion_by_day.py BOOTSTRAP_SERVERS [SCHEMA_DIR]

Needs only confluent-kafka, fastavro and the .avsc files (schemas/events in this repository).
It reads flashcall.call-reports from the beginning to its current end, keeps the last record of
each call (the topic is keyed by call id), and prints one line per service and day (UTC).
"""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from pathlib import Path

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form

TOPIC = "flashcall.call-reports"


def load_schemas(schema_dir: Path) -> dict[bytes, dict]:
    """Writer schemas by their CRC-64-AVRO fingerprint (Avro single-object encoding)."""
    schemas = {}
    for path in schema_dir.glob("*.avsc"):
        parsed = fastavro.parse_schema(json.loads(path.read_text()))
        canonical = to_parsing_canonical_form(parsed)
        schemas[int(fingerprint(canonical, "CRC-64-AVRO"), 16).to_bytes(8, "little")] = parsed
    return schemas


def latest_records(bootstrap: str, schemas: dict[bytes, dict]) -> dict[str, dict]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "conversion-by-day",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    partitions = consumer.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in partitions])
    pending, calls = set(partitions), {}
    while pending:
        msg = consumer.poll(10)
        if msg is None:
            raise TimeoutError(f"no end of partitions {sorted(pending)}")
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(msg.error())
            pending.discard(msg.partition())
            continue
        value = msg.value()
        record = fastavro.schemaless_reader(io.BytesIO(value[10:]), schemas[value[2:10]], None)
        calls[msg.key().decode()] = record  # a later record of a call replaces the earlier
    consumer.close()
    return calls


def main() -> None:
    bootstrap = sys.argv[1]
    schema_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("schemas/events")
    days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for call in latest_records(bootstrap, load_schemas(schema_dir)).values():
        counts = days[(str(call["service_id"]), call["created_at"].date().isoformat())]
        counts[0] += call["delivered_at"] is not None
        counts[1] += call["status"] == "verified"
    print("service_id                            day         delivered  verified  conversion")
    for (service, day), (delivered, verified) in sorted(days.items()):
        conversion = f"{verified / delivered:.3f}" if delivered else "-"
        print(f"{service}  {day}  {delivered:9d}  {verified:8d}  {conversion:>10}")


if __name__ == "__main__":
    main()
