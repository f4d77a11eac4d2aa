"""The event contract evolves without losing history.

History is written with the released schemas (accounts, services, keys, calls verified, failed
and expired, verification attempts, top-ups, debits, a rotated token, a revoked key, an account
cut off and restored, a number range blocked as pumped, lifted and allow-listed); then
every schema gains an optional field in a scratch copy, released as a new version, and the
platform starts on the same broker and database with it: old keys and tokens still
authenticate, old calls still read, new calls work, and a rebuild reproduces the live read
models. Then a record no schema reads stops the consumers at it, and with
FLASHCALL_PARK_UNDECODABLE it is parked, counted, and the platform goes on."""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from launch.platform import Platform
from launch.ports import free_port
from schemas import release, topics
from schemas.registry import PACKAGE_DIR, Registry, fingerprint_of
from tests.conftest import TEST_ENV
from tests.support.client import Api, Tenant, bearer, random_phone
from tests.support.histories import cut_off_and_restore_an_account, pump_lift_and_allow
from tests.support.read_models import assert_rebuild_matches_live, settled
from tests.support.stages import own_ground
from tests.support.topics_replay import end_offsets
from tests.support.waiting import wait_for

ADDED = {"name": "trace", "type": ["null", "string"], "default": None, "doc": "Added later."}


@dataclass
class Stage:
    bootstrap: str
    database_url: str
    logs: Path

    @contextlib.contextmanager
    def platform(self, **env: str) -> Iterator[tuple[Platform, Api]]:
        """One worker with every role and the API, with these settings."""
        plat = Platform(
            self.bootstrap,
            self.database_url,
            free_port(),
            env={**TEST_ENV, **env},
            log_dir=self.logs,
        )
        api = Api(plat.url)
        try:
            plat.start_worker()
            plat.start_api()
            yield plat, api
        finally:
            api.close()
            plat.stop_all()


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    """A broker and a database of their own: this module writes records no build can read."""
    with own_ground("flashcall_evolution", 6) as ground:
        yield Stage(ground.bootstrap, ground.database_url, ground.logs)


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the schemas where every event type gained an optional field, released."""
    root = tmp_path_factory.mktemp("schemas")
    shutil.copytree(PACKAGE_DIR / "events", root / "events")
    shutil.copytree(PACKAGE_DIR / "released", root / "released")
    for path in (root / "events").glob("*.avsc"):
        schema = json.loads(path.read_text())
        schema["fields"].append(ADDED)
        path.write_text(json.dumps(schema, indent=2) + "\n")
    made = release.release(Registry(root))
    assert len(made) == len(list((root / "events").glob("*.avsc")))
    return root


@dataclass
class History:
    tenant: Tenant
    token: str  # rotated
    revoked_key: str
    calls: dict[str, dict[str, Any]]  # outcome -> call


@pytest.fixture(scope="module")
def history(stage: Stage) -> History:
    """Everything the platform records, written by this build's released schemas."""
    with stage.platform() as (_, api):
        tenant = api.tenant(code_ttl_minutes=1)
        revoked = api.new_key(tenant.token, tenant.service_id, label="old")
        api.ok(
            api.http.delete(
                f"/v1/services/{tenant.service_id}/keys/{revoked['id']}",
                headers=bearer(tenant.token),
            ),
            204,
        )
        api.ok(
            api.http.patch(
                f"/v1/services/{tenant.service_id}",
                json={"name": "login v1"},
                headers=bearer(tenant.token),
            )
        )
        api.top_up(tenant.service_id, 5000, "invoice 1")
        token = api.ok(api.http.post("/v1/account/token", headers=bearer(tenant.token)), 201)[
            "token"
        ]
        cut_off_and_restore_an_account(api)
        pump_lift_and_allow(api, "+989125553")
        verified = api.place(tenant.key, random_phone())
        failed = api.place(tenant.key, random_phone("1111"))
        expired = api.place(tenant.key, random_phone())
        code = api.code_for(verified["phone"], 5)
        api.wait_status(tenant.key, verified["id"], {"delivered"})
        assert api.verify(tenant.key, verified["id"], "00000")["verified"] is False
        assert api.verify(tenant.key, verified["id"], code)["verified"] is True
        api.wait_status(tenant.key, failed["id"], {"failed"})
        api.wait_status(tenant.key, expired["id"], {"expired"}, timeout=30)
        wait_for(
            lambda: settled(stage.database_url, end_offsets(stage.bootstrap)),
            what="the history to be applied",
        )
        calls = {"verified": verified, "failed": failed, "expired": expired}
        return History(tenant, token, revoked["key"], calls)


def fingerprints_of(bootstrap: str, event_type: str, call_id: str) -> set[bytes]:
    """The writer fingerprints of the `event_type` records about `call_id`."""
    topic = topics.TOPIC_OF_EVENT[event_type].name
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "evolution", "enable.partition.eof": True}
    )
    parts = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    pending, found = set(parts), set()
    while pending:
        msg = reader.poll(10)
        assert msg is not None
        if msg.error() is not None:
            assert msg.error().code() == KafkaError._PARTITION_EOF
            pending.discard(msg.partition())
        elif (
            dict(msg.headers() or [])["event_type"] == event_type.encode()
            and call_id.encode() in msg.value()
        ):
            found.add(msg.value()[2:10])
    reader.close()
    return found


def test_history_written_before_an_evolution_reads_after_it(
    stage: Stage, history: History, evolved: Path
) -> None:
    with stage.platform(FLASHCALL_SCHEMA_DIR=str(evolved)) as (plat, api):
        tenant = history.tenant
        # Old keys and the rotated token authenticate; the revoked key stays revoked.
        for outcome, call in history.calls.items():
            assert api.call(tenant.key, call["id"])["status"] == outcome
        listed = api.ok(api.http.get("/v1/services", headers=bearer(history.token)))["items"]
        assert [s["name"] for s in listed] == ["login v1"]
        assert api.http.get("/v1/services", headers=bearer(tenant.token)).status_code == 401
        probe = f"/v1/calls/{uuid.uuid4()}"
        assert api.http.get(probe, headers=bearer(history.revoked_key)).status_code == 401
        # Old calls read in reports, old money in the ledger.
        report = api.ok(api.http.get("/v1/reports/calls", headers=bearer(history.token)))
        assert {r["id"]: r["status"] for r in report["items"]} == {
            c["id"]: outcome for outcome, c in history.calls.items()
        }
        ledger = api.ok(
            api.http.get(f"/v1/services/{tenant.service_id}/ledger", headers=bearer(history.token))
        )["items"]
        assert sorted(e["type"] for e in ledger) == ["debit", "debit", "topup"]
        # A new call works end to end. Its request leaves the evolved field at its default, so
        # it is written in the oldest version that holds it (docs/events.md, "Writing"): the
        # one before the evolution, which a build that never saw the evolution still reads.
        call = api.place(tenant.key, random_phone())
        code = api.code_for(call["phone"], 5)
        api.wait_status(tenant.key, call["id"], {"delivered"})
        assert api.verify(tenant.key, call["id"], code)["verified"] is True
        evolved_request = fingerprint_of(
            json.loads((evolved / "events" / "CallRequested.avsc").read_text())
        )
        before = fingerprint_of(
            json.loads((PACKAGE_DIR / "events" / "CallRequested.avsc").read_text())
        )
        assert evolved_request != before
        assert fingerprints_of(stage.bootstrap, "CallRequested", call["id"]) == {before}
        # The read models rebuilt from every record, old and new, are the live ones.
        wait_for(
            lambda: settled(stage.database_url, end_offsets(stage.bootstrap)),
            what="the platform to settle",
        )
        assert_rebuild_matches_live(plat.environment(), stage.database_url)


def stored(database_url: str, consumer: str, topic: str, partition: int) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT next_offset FROM consumed_offsets"
            " WHERE consumer = %s AND topic = %s AND partition = %s",
            (consumer, topic, partition),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_record_no_schema_reads_stops_the_consumers_then_with_the_setting_is_parked(
    stage: Stage, history: History
) -> None:
    tenant = history.tenant
    where: dict[str, Any] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        where.update(partition=msg.partition(), offset=msg.offset())

    producer = Producer({"bootstrap.servers": stage.bootstrap})
    # Keyed like the service's own requests: the same partition, ahead of its next call.
    unknown = b"\xc3\x01" + b"\xee" * 8 + b"a newer build's event"
    producer.produce(
        topics.CALL_REQUESTS.name, unknown, tenant.service_id.encode(), on_delivery=delivered
    )
    assert producer.flush(10) == 0
    partition, offset = where["partition"], where["offset"]
    at = f"{topics.CALL_REQUESTS.name}[{partition}]@{offset}"
    with stage.platform() as (plat, api):
        call = api.place(tenant.key, random_phone())
        log = stage.logs / "worker.log"
        wait_for(
            lambda: log.exists() and log.read_text().count(f"STOPPED at {at}") >= 2,
            what="the decisions and the projection to stop at the record",
        )
        assert "eeeeeeeeeeeeeeee" in log.read_text()  # the fingerprint is named
        for consumer in ("decisions", "projection"):
            assert stored(stage.database_url, consumer, at.split("[")[0], partition) == offset
        # The request behind the record is not applied: not even projected, and the API says
        # the read model is behind (503) rather than that the accepted call does not exist.
        missing = api.http.get(f"/v1/calls/{call['id']}", headers=bearer(tenant.key))
        assert missing.status_code == 503 and missing.json()["code"] == "unavailable"
        worker = plat.running("worker")[0]
        plat.stop(worker)
        plat.start_worker(FLASHCALL_PARK_UNDECODABLE="true")
        api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=30)
    with psycopg.connect(stage.database_url) as conn:
        parked = conn.execute(
            'SELECT consumer, topic, partition, "offset" FROM parked_records ORDER BY consumer'
        ).fetchall()
    assert parked == [
        ("decisions", topics.CALL_REQUESTS.name, partition, offset),
        ("projection", topics.CALL_REQUESTS.name, partition, offset),
    ]
