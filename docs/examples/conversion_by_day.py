"""Conversion (verified / delivered) per service per day, from the call-reports topic alone.

    python docs/examples/conversion_by_day.py BOOTSTRAP_SERVERS [SCHEMA_ROOT]

Needs only confluent-kafka, fastavro and the .avsc files: SCHEMA_ROOT holds events/ (the
reader: the CallReported you code against) and released/ (every version any flashcall build
may have written with; `schemas` in this repository). Each record is read with the schema that
wrote it, found by its fingerprint, and resolved into the reader, so records of every released
version read alike. It reads flashcall.call-reports from the beginning to its current end,
keeps the last record of each call (the topic is keyed by call id), and prints one line per
service and day (UTC).
"""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form

TOPIC = "flashcall.call-reports"


def parse(path: Path) -> Any:
    return fastavro.parse_schema(json.loads(path.read_text()))


def writer_schemas(root: Path) -> dict[bytes, Any]:
    """Every released CallReported, by its CRC-64-AVRO fingerprint (single-object encoding)."""
    writers = {}
    for path in sorted((root / "released" / "CallReported").glob("v*.avsc")):
        schema = parse(path)
        canonical = to_parsing_canonical_form(schema)
        writers[int(fingerprint(canonical, "CRC-64-AVRO"), 16).to_bytes(8, "little")] = schema
    return writers


def read(value: bytes, reader: Any, writers: dict[bytes, Any]) -> dict[str, Any]:
    """One record, resolved from the version that wrote it into `reader`."""
    if value[:2] != b"\xc3\x01":
        raise ValueError("not an Avro single-object record")
    writer = writers.get(value[2:10])
    if writer is None:
        raise ValueError(
            f"written with a schema this copy does not have (fingerprint {value[2:10].hex()}):"
            " update released/ from the flashcall repository"
        )
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value[10:]), writer, reader)
    return record


def latest_records(bootstrap: str, root: Path) -> dict[str, dict[str, Any]]:
    reader, writers = parse(root / "events" / "CallReported.avsc"), writer_schemas(root)
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
        # A later record of a call replaces the earlier.
        calls[msg.key().decode()] = read(msg.value(), reader, writers)
    consumer.close()
    return calls


def main() -> None:
    bootstrap = sys.argv[1]
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("schemas")
    days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for call in latest_records(bootstrap, root).values():
        if call["test"]:  # a test number's call (from v6; older records read false)
            continue
        counts = days[(str(call["service_id"]), call["created_at"].date().isoformat())]
        counts[0] += call["delivered_at"] is not None
        counts[1] += call["status"] == "verified"
    print("service_id                            day         delivered  verified  conversion")
    for (service, day), (delivered, verified) in sorted(days.items()):
        conversion = f"{verified / delivered:.3f}" if delivered else "-"
        print(f"{service}  {day}  {delivered:9d}  {verified:8d}  {conversion:>10}")


if __name__ == "__main__":
    main()
