"""Admission throughput: CallRequested events appended straight to the broker, decided by a
worker running only the decisions role; decisions per second until every call is decided."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from core.db import migrate
from launch.broker import start_tansu
from launch.platform import Platform
from launch.ports import free_port
from producers.event_producer import EventProducer, to_record
from producers.topic_admin import ensure_topics
from schemas.codec import Event, new_event

PRICE = 1000


def _count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


def _wait_count(database_url: str, table: str, count: int, limit: float = 600.0) -> None:
    deadline = time.monotonic() + limit
    while _count(database_url, table) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table} did not reach {count} rows")
        time.sleep(0.02)


def _requests(service_ids: list[uuid.UUID], calls: int) -> list[Event]:
    account = uuid.uuid4()
    now = datetime.now(UTC)
    return [
        new_event(
            "CallRequested",
            occurred_at=now,
            call_id=uuid.uuid4(),
            service_id=service_ids[i % len(service_ids)],
            account_id=account,
            key_id=account,
            phone=f"+98912{i:07d}",  # distinct: no call is refused by the hourly phone limit
            caller_number=f"+982191{i:08d}",
            code_length=5,
            code_ttl_minutes=5,
            attempt=1,
            retry_of=None,
            price_per_call=PRICE,
        )
        for i in range(calls)
    ]


def decisions_per_second(
    database_url: str, services: int, calls: int, env: dict[str, str], log_dir: Path
) -> float:
    """Decide `calls` requests spread over `services` services; returns decisions per second."""
    tansu, bootstrap = start_tansu()
    try:
        migrate(database_url)
        ensure_topics(bootstrap, 6)
        platform = Platform(bootstrap, database_url, free_port(), env=env, log_dir=log_dir)
        producer = EventProducer(bootstrap, linger_ms=5)
        try:
            platform.start_worker("decisions", roles="decisions")
            service_ids = [uuid.uuid4() for _ in range(services)]
            created = [
                new_event(
                    "ServiceCreated",
                    service_id=sid,
                    account_id=sid,
                    name="bench",
                    code_length=5,
                    code_ttl_minutes=5,
                    return_code=False,
                    credit_limit=PRICE * calls,
                )
                for sid in service_ids
            ]
            asyncio.run(producer.append_records([to_record(e) for e in created]))
            _wait_count(database_url, "proc_services", services)
            records = [to_record(e) for e in _requests(service_ids, calls)]
            started = time.monotonic()
            asyncio.run(producer.append_records(records))
            _wait_count(database_url, "proc_calls", calls)
            return calls / (time.monotonic() - started)
        finally:
            producer.close()
            platform.stop_all()
    finally:
        tansu.terminate()
        tansu.wait()
