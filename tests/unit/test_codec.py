"""Every event schema round-trips, every released version stays readable by the current one,
and the topics' keys are fields of their events."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from schemas.codec import MAGIC, UnknownSchema, decode, encode, new_event, schemas
from schemas.registry import registry
from schemas.topics import ACCOUNT_STREAM_RECORDS, ALL_TOPICS, TOPIC_OF_EVENT
from tests.support.avro_samples import sample

REGISTRY = registry()
EVENT_TYPES = sorted(REGISTRY.current_text())
RELEASED = [(v.event_type, v) for versions in REGISTRY.released().values() for v in versions]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_round_trip(event_type: str) -> None:
    raw = REGISTRY.current_text()[event_type]
    fields = {k: v for k, v in sample(raw).items() if k not in {"event_id", "occurred_at"}}
    if raw["namespace"] == "io.flashcall.ingress":
        # What tenants write (docs/streaming.md): a record of theirs, no event envelope.
        decoded = decode(encode({"event_type": event_type, **fields}))
    else:
        assert raw["namespace"] == "io.flashcall.events"
        assert {"event_id", "occurred_at"} <= {f["name"] for f in raw["fields"]}
        decoded = decode(encode(new_event(event_type, **fields)))
    assert decoded["event_type"] == event_type
    assert decoded["schema_version"] == len(REGISTRY.released()[event_type])
    for key, value in fields.items():
        assert decoded[key] == value


@pytest.mark.parametrize(
    ("event_type", "version"), RELEASED, ids=[f"{t}-v{v.number}" for t, v in RELEASED]
)
def test_every_released_version_is_read_into_the_current_schema(
    event_type: str, version: Any
) -> None:
    """A record written by the build that released `version` decodes with this build: fields
    both schemas have keep their values, fields added since get their defaults."""
    old = version.text
    record = sample(old)
    out = io.BytesIO()
    out.write(MAGIC + version.fingerprint)
    schemaless_writer(out, parse_schema(old), record)
    decoded = decode(out.getvalue())
    assert decoded["event_type"] == event_type and decoded["schema_version"] == version.number
    current = REGISTRY.current_text()[event_type]
    for field in current["fields"]:
        name = field["name"]
        expected = record[name] if name in record else field["default"]
        assert decoded[name] == expected, name


def test_every_event_belongs_to_exactly_one_topic_with_its_key() -> None:
    assert set(TOPIC_OF_EVENT) | set(ACCOUNT_STREAM_RECORDS) == set(EVENT_TYPES)
    assert not set(TOPIC_OF_EVENT) & set(ACCOUNT_STREAM_RECORDS)
    for topic in ALL_TOPICS:
        for event_type in topic.events:
            fields = {f["name"] for f in REGISTRY.current_text()[event_type]["fields"]}
            assert topic.key_field in fields, (topic.name, event_type)


def test_unknown_records_are_refused_with_their_fingerprint() -> None:
    with pytest.raises(UnknownSchema):
        decode(b"{}")
    with pytest.raises(UnknownSchema) as refused:
        decode(MAGIC + b"\x01" * 8 + b"rest")
    assert refused.value.fingerprint == b"\x01" * 8
    assert "0101010101010101" in str(refused.value)


def test_the_current_schemas_are_what_the_codec_writes() -> None:
    assert set(schemas()) == set(EVENT_TYPES)
    assert json.dumps(sorted(EVENT_TYPES)) == json.dumps(sorted(REGISTRY.released()))


def test_an_event_is_written_in_the_oldest_version_that_holds_it() -> None:
    """A flash call's dial command (step 0, failing the call) says nothing PlaceCall v2 cannot
    (v1 had a field since removed): a 0.1.0 dialer, which knows v2, reads it. A later step's
    position needs v3, the version that added it; likewise CallFailed v3 and v4."""
    ids = {"call_id": uuid.uuid4(), "service_id": uuid.uuid4()}
    plain = new_event(
        "PlaceCall", phone="+989121234567", caller_number="+982191012345",
        code_ttl_seconds=120.0, step=0, fails_call=True, **ids,
    )  # fmt: skip
    assert decode(encode(plain))["schema_version"] == 2
    later = {**plain, "step": 1, "fails_call": False}
    assert decode(encode(later))["schema_version"] == 3
    back = decode(encode(later))
    assert (back["step"], back["fails_call"], back["call_id"]) == (1, False, ids["call_id"])
    at = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    failed = new_event("CallFailed", reason="busy", dialed_at=at, **ids)
    assert decode(encode(failed))["schema_version"] == 3
    sms = {**failed, "channel": "sms", "step": 1, "fails_call": False}
    assert decode(encode(sms))["schema_version"] == 4
