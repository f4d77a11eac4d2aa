"""The decisions processor: admits or rejects requested calls, follows each call's dial outcome,
and judges verification attempts. Its state lives in PostgreSQL (proc_* tables), changed in the
same transaction as its consumed offsets, with the row of the service locked: one writer per
service, whatever the number of workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from core.call_rules import PHONE_WINDOW_SECONDS, CallStatus, RejectReason
from core.ids import derived_id
from core.verification import CallForVerify, judge
from processors.outbox import Outbox
from schemas.codec import Event, new_event

CONSUMER = "decisions"

# proc_calls.status adds "admitted" (decided, being dialled) to the public statuses; the
# projection alone tells queued from dialing.
ADMITTED = "admitted"


@dataclass(frozen=True)
class DecisionRules:
    phone_calls_per_hour: int
    retry_chain_max: int
    verify_max_attempts: int
    ttl_minute_seconds: float


def derived(event_type: str, source: Event, **fields: Any) -> Event:
    """An event caused by `source`, with an id fixed by it (so a replay re-creates the same id)."""
    return new_event(event_type, event_id=str(derived_id(source["event_id"], event_type)), **fields)


class Decisions:
    def __init__(self, rules: DecisionRules) -> None:
        self.rules = rules

    async def handle(self, conn: psycopg.AsyncConnection, event: Event, outbox: Outbox) -> None:
        handler = getattr(self, f"on_{event['event_type']}", None)
        if handler is not None:
            await handler(conn, event, outbox)

    async def on_ServiceCreated(self, conn: psycopg.AsyncConnection, e: Event, _: Outbox) -> None:
        await conn.execute(
            "INSERT INTO proc_services (id, account_id, status, code_ttl_minutes)"
            " VALUES (%s, %s, 'active', %s) ON CONFLICT (id) DO NOTHING",
            (e["service_id"], e["account_id"], e["code_ttl_minutes"]),
        )

    async def on_ServiceUpdated(self, conn: psycopg.AsyncConnection, e: Event, _: Outbox) -> None:
        await conn.execute(
            "UPDATE proc_services SET status = COALESCE(%s, status),"
            " code_ttl_minutes = COALESCE(%s, code_ttl_minutes) WHERE id = %s",
            (e["status"], e["code_ttl_minutes"], e["service_id"]),
        )

    async def on_CallRequested(self, conn: psycopg.AsyncConnection, e: Event, out: Outbox) -> None:
        service = await (
            await conn.execute(
                "SELECT status FROM proc_services WHERE id = %s FOR UPDATE", (e["service_id"],)
            )
        ).fetchone()
        chain_root = e["call_id"]
        if e["retry_of"] is not None:
            parent = await (
                await conn.execute(
                    "SELECT chain_root FROM proc_calls WHERE id = %s", (e["retry_of"],)
                )
            ).fetchone()
            chain_root = parent[0] if parent else e["retry_of"]
        reason = await self._refusal(conn, e, service)
        status = CallStatus.REJECTED if reason is not None else ADMITTED
        inserted = await (
            await conn.execute(
                "INSERT INTO proc_calls (id, service_id, phone, chain_root, attempt, caller_number,"
                " code_length, status, requested_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                (
                    e["call_id"],
                    e["service_id"],
                    e["phone"],
                    chain_root,
                    e["attempt"],
                    e["caller_number"],
                    e["code_length"],
                    status,
                    e["occurred_at"],
                ),
            )
        ).fetchone()
        if inserted is None:
            return  # the same call requested again (an idempotent retry of the request)
        ids = {"call_id": e["call_id"], "service_id": e["service_id"]}
        if reason is not None:
            out.emit(derived("CallRejected", e, reason=reason, **ids))
            return
        if e["retry_of"] is not None:
            await self._supersede_chain(conn, e, chain_root, out)
        out.emit(derived("CallAdmitted", e, **ids))
        ttl_seconds = e["code_ttl_minutes"] * self.rules.ttl_minute_seconds
        out.emit(
            derived(
                "PlaceCall",
                e,
                phone=e["phone"],
                caller_number=e["caller_number"],
                code_ttl_seconds=ttl_seconds,
                **ids,
            )
        )

    async def _refusal(
        self, conn: psycopg.AsyncConnection, e: Event, service: tuple[Any, ...] | None
    ) -> str | None:
        # An unknown service was known to the API that accepted the call; its events are on
        # another topic and may simply not have reached us yet.
        if service is not None and service[0] != "active":
            return RejectReason.SERVICE_DISABLED
        if e["attempt"] > self.rules.retry_chain_max:
            return RejectReason.RATE_LIMITED
        row = await (
            await conn.execute(
                "SELECT count(*) FROM proc_calls WHERE service_id = %s AND phone = %s"
                " AND requested_at > %s AND status <> %s AND id <> %s",
                (
                    e["service_id"],
                    e["phone"],
                    e["occurred_at"] - timedelta(seconds=PHONE_WINDOW_SECONDS),
                    CallStatus.REJECTED,
                    e["call_id"],
                ),
            )
        ).fetchone()
        if row is not None and int(row[0]) >= self.rules.phone_calls_per_hour:
            return RejectReason.RATE_LIMITED
        return None

    async def _supersede_chain(
        self, conn: psycopg.AsyncConnection, e: Event, chain_root: Any, out: Outbox
    ) -> None:
        """A retry invalidates every earlier code of its chain."""
        rows = await (
            await conn.execute(
                "UPDATE proc_calls SET status = %s WHERE chain_root = %s AND id <> %s"
                " AND status = %s RETURNING id, service_id",
                (CallStatus.EXPIRED, chain_root, e["call_id"], CallStatus.DELIVERED),
            )
        ).fetchall()
        for call_id, service_id in rows:
            out.emit(code_expired(call_id, service_id))

    async def on_CallDelivered(self, conn: psycopg.AsyncConnection, e: Event, _: Outbox) -> None:
        await conn.execute(
            "UPDATE proc_calls SET status = %s, expires_at = %s WHERE id = %s AND status = %s",
            (CallStatus.DELIVERED, e["expires_at"], e["call_id"], ADMITTED),
        )

    async def on_CallFailed(self, conn: psycopg.AsyncConnection, e: Event, _: Outbox) -> None:
        await conn.execute(
            "UPDATE proc_calls SET status = %s WHERE id = %s AND status = %s",
            (CallStatus.FAILED, e["call_id"], ADMITTED),
        )

    async def on_VerificationAttempted(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox
    ) -> None:
        row = await (
            await conn.execute(
                "SELECT c.status, c.caller_number, c.code_length, c.expires_at, c.verify_attempts,"
                " EXISTS (SELECT 1 FROM proc_calls later WHERE later.chain_root = c.chain_root"
                "   AND later.attempt > c.attempt AND later.status <> %s)"
                " FROM proc_calls c WHERE c.id = %s AND c.service_id = %s FOR UPDATE OF c",
                (CallStatus.REJECTED, e["call_id"], e["service_id"]),
            )
        ).fetchone()
        ids = {
            "attempt_id": e["attempt_id"],
            "call_id": e["call_id"],
            "service_id": e["service_id"],
        }
        if row is None:
            out.emit(
                derived(
                    "VerificationJudged",
                    e,
                    found=False,
                    verified=False,
                    reason=None,
                    attempts_left=0,
                    verify_attempts=0,
                    status="unknown",
                    **ids,
                )
            )
            return
        status = CallStatus.QUEUED if row[0] == ADMITTED else row[0]
        call = CallForVerify(status, row[1], row[2], row[3], row[4], superseded=row[5])
        verdict = judge(call, e["code"], e["occurred_at"], self.rules.verify_max_attempts)
        await conn.execute(
            "UPDATE proc_calls SET verify_attempts = %s,"
            " status = CASE WHEN %s THEN status ELSE %s END WHERE id = %s",
            (verdict.verify_attempts, verdict.status == status, verdict.status, e["call_id"]),
        )
        out.emit(
            derived(
                "VerificationJudged",
                e,
                found=True,
                verified=verdict.verified,
                reason=verdict.reason,
                attempts_left=verdict.attempts_left,
                verify_attempts=verdict.verify_attempts,
                status=verdict.status,
                **ids,
            )
        )
        if verdict.status == CallStatus.VERIFIED:
            out.emit(
                derived(
                    "CodeVerified",
                    e,
                    call_id=e["call_id"],
                    service_id=e["service_id"],
                    verify_attempts=verdict.verify_attempts,
                )
            )
        elif verdict.status == CallStatus.EXPIRED and status == CallStatus.DELIVERED:
            out.emit(code_expired(e["call_id"], e["service_id"]))


def code_expired(call_id: Any, service_id: Any) -> Event:
    """CodeExpired has one id per call, whoever notices the expiry first."""
    return new_event(
        "CodeExpired",
        event_id=str(derived_id(call_id, "CodeExpired")),
        call_id=call_id,
        service_id=service_id,
    )
