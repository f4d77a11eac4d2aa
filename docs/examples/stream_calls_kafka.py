"""Send calls to flashcall through Kafka and print what became of each.

    python docs/examples/stream_calls_kafka.py BOOTSTRAP ACCOUNT_ID KEY FILE.ndjson [SCHEMA_ROOT]

FILE.ndjson holds one call per line: {"phone": "+989121234567", "reference": "order-1"}. Each
becomes a CallRequest record (Avro, single-object encoding) on flashcall.ingress.<ACCOUNT_ID>,
with the access key in the `flashcall-key` header and the reference as the record key. The
script then reads flashcall.results.<ACCOUNT_ID> from where it ended before sending, prints
each CallResult about these requests as JSON, and stops once every request has its outcome
(`queued` with its call id, or `refused` with an error code). Later results (delivered,
verified, ...) keep coming on that topic, keyed by reference (or call id).

Needs only confluent-kafka, fastavro and the .avsc files: SCHEMA_ROOT holds events/ and
released/ (`schemas` in the flashcall repository, the default). Exits 0 if every request was
accepted, 1 if some were refused, 2 if not all were answered within the timeout.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
KEY_HEADER = "flashcall-key"
TIMEOUT_SECONDS = 120.0


def parse(path: Path) -> Any:
    return fastavro.parse_schema(json.loads(path.read_text()))


def fingerprint_of(schema: Any) -> bytes:
    canonical = to_parsing_canonical_form(schema)
    return int(fingerprint(canonical, "CRC-64-AVRO"), 16).to_bytes(8, "little")


def encode(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC + fingerprint_of(schema))
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def result_writers(root: Path) -> dict[bytes, Any]:
    """Every released CallResult, by fingerprint: any flashcall build's results decode."""
    paths = sorted((root / "released" / "CallResult").glob("v*.avsc"))
    return {fingerprint_of(s): s for s in map(parse, paths)}


def produce(bootstrap: str, account: str, key: str, path: Path, root: Path) -> set[tuple[int, int]]:
    """Send every line; returns where each request landed (partition, offset)."""
    schema = parse(root / "events" / "CallRequest.avsc")
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    landed: set[tuple[int, int]] = set()
    failed: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            landed.add((msg.partition(), msg.offset()))

    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        call = json.loads(line)
        reference = call.get("reference")
        record = {"phone": call["phone"], "reference": reference}
        producer.produce(
            f"flashcall.ingress.{account}",
            value=encode(schema, record),
            key=reference.encode() if reference else None,
            headers=[(KEY_HEADER, key)],
            on_delivery=delivered,
        )
        producer.poll(0)
    producer.flush(30)
    if failed:
        sys.exit(f"the broker did not take {len(failed)} requests: {failed[0]}")
    return landed


def main(bootstrap: str, account: str, key: str, file: str, root: str | None = None) -> int:
    schemas = Path(root) if root else Path(__file__).resolve().parents[2] / "schemas"
    writers = result_writers(schemas)
    reader = parse(schemas / "events" / "CallResult.avsc")
    results = f"flashcall.results.{account}"
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"example-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    # Start at the results topic's current end: only answers to what is sent now.
    partitions = consumer.list_topics(results, timeout=10).topics[results].partitions
    starts = []
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(results, p), timeout=10)
        starts.append(TopicPartition(results, p, high))
    consumer.assign(starts)
    waiting = produce(bootstrap, account, key, Path(file), schemas)
    refused = 0
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while waiting and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error() is not None:
            continue
        data = msg.value()
        schema = writers.get(data[2:10])
        if data[:2] != MAGIC or schema is None:
            continue  # written by a build whose schema this root does not hold
        result = fastavro.schemaless_reader(io.BytesIO(data[10:]), schema, reader)
        where = (result["request_partition"], result["request_offset"])
        if where not in waiting:
            continue
        waiting.discard(where)
        refused += result["status"] == "refused"
        print(json.dumps(result, default=str), flush=True)
    consumer.close()
    if waiting:
        print(f"{len(waiting)} requests not answered in time", file=sys.stderr)
        return 2
    return 1 if refused else 0


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
