"""The decisions processor: admits or rejects requested calls, follows each call's dial outcome,
and judges verification attempts. Its state lives in PostgreSQL (proc_* tables), changed in the
same transaction as its consumed offsets, with the row of the service locked: one writer per
service, whatever the number of workers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
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

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        """Apply a batch in order; runs of requests and of dial outcomes are decided together."""
        for kind, run in itertools.groupby(events, key=_run_kind):
            if kind == "CallRequested":
                await self.admit(conn, list(run), out)
            elif kind == "outcome":
                await self.record_outcomes(conn, list(run))
            else:
                for event in run:
                    handler = getattr(self, f"on_{event['event_type']}", None)
                    if handler is not None:
                        await handler(conn, event, out)

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

    async def admit(
        self, conn: psycopg.AsyncConnection, requests: list[Event], out: Outbox
    ) -> None:
        """Decide a run of CallRequested in a few set-based statements, in request order."""
        known = await (
            await conn.execute(
                "SELECT id FROM proc_calls WHERE id = ANY(%s)", ([e["call_id"] for e in requests],)
            )
        ).fetchall()
        seen = {row[0] for row in known}  # a request made again (an idempotent retry) is a no-op
        fresh = []
        for e in requests:
            if e["call_id"] not in seen:
                seen.add(e["call_id"])
                fresh.append(e)
        if not fresh:
            return
        statuses = await self._lock_services(conn, fresh)
        roots = await self._chain_roots(conn, fresh)
        window = await self._phone_window(conn, fresh)
        decided: list[tuple[Event, str | None]] = []
        for e in fresh:
            reason = self._refusal(e, statuses.get(e["service_id"]), window)
            if reason is None:
                window.setdefault((e["service_id"], e["phone"]), []).append(e["occurred_at"])
            decided.append((e, reason))
        await conn.execute(
            "INSERT INTO proc_calls (id, service_id, phone, chain_root, attempt, caller_number,"
            " code_length, status, requested_at) SELECT * FROM unnest(%s::uuid[], %s::uuid[],"
            " %s::text[], %s::uuid[], %s::int[], %s::text[], %s::int[], %s::text[],"
            " %s::timestamptz[]) ON CONFLICT (id) DO NOTHING",
            (
                [e["call_id"] for e, _ in decided],
                [e["service_id"] for e, _ in decided],
                [e["phone"] for e, _ in decided],
                [roots[e["call_id"]] for e, _ in decided],
                [e["attempt"] for e, _ in decided],
                [e["caller_number"] for e, _ in decided],
                [e["code_length"] for e, _ in decided],
                [ADMITTED if r is None else CallStatus.REJECTED for _, r in decided],
                [e["occurred_at"] for e, _ in decided],
            ),
        )
        for e, reason in decided:
            ids = {"call_id": e["call_id"], "service_id": e["service_id"]}
            if reason is not None:
                out.emit(derived("CallRejected", e, reason=reason, **ids))
                continue
            if e["retry_of"] is not None:
                await self._supersede_chain(conn, e, roots[e["call_id"]], out)
            out.emit(derived("CallAdmitted", e, **ids))
            out.emit(
                derived(
                    "PlaceCall",
                    e,
                    phone=e["phone"],
                    caller_number=e["caller_number"],
                    code_ttl_seconds=e["code_ttl_minutes"] * self.rules.ttl_minute_seconds,
                    **ids,
                )
            )

    async def _lock_services(
        self, conn: psycopg.AsyncConnection, requests: list[Event]
    ) -> dict[Any, str]:
        """Status of each service, its row locked (in id order) until the batch commits."""
        rows = await (
            await conn.execute(
                "SELECT id, status FROM proc_services WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                (sorted({e["service_id"] for e in requests}),),
            )
        ).fetchall()
        return {service_id: status for service_id, status in rows}

    async def _chain_roots(
        self, conn: psycopg.AsyncConnection, requests: list[Event]
    ) -> dict[Any, Any]:
        """The first call of each request's retry chain (itself for a first call)."""
        parents = [e["retry_of"] for e in requests if e["retry_of"] is not None]
        rows = (
            await (
                await conn.execute(
                    "SELECT id, chain_root FROM proc_calls WHERE id = ANY(%s)", (parents,)
                )
            ).fetchall()
            if parents
            else []
        )
        roots: dict[Any, Any] = dict(rows)
        for e in requests:
            parent = e["retry_of"]
            roots[e["call_id"]] = e["call_id"] if parent is None else roots.get(parent, parent)
        return roots

    async def _phone_window(
        self, conn: psycopg.AsyncConnection, requests: list[Event]
    ) -> dict[tuple[Any, str], list[datetime]]:
        """When each requested (service, phone) was last called, within the hour before."""
        since = min(e["occurred_at"] for e in requests) - timedelta(seconds=PHONE_WINDOW_SECONDS)
        pairs = sorted({(e["service_id"], e["phone"]) for e in requests})
        rows = await (
            await conn.execute(
                "SELECT c.service_id, c.phone, c.requested_at FROM proc_calls c"
                " JOIN unnest(%s::uuid[], %s::text[]) AS w(service_id, phone)"
                "   ON c.service_id = w.service_id AND c.phone = w.phone"
                " WHERE c.requested_at > %s AND c.status <> %s",
                ([s for s, _ in pairs], [p for _, p in pairs], since, CallStatus.REJECTED),
            )
        ).fetchall()
        window: dict[tuple[Any, str], list[datetime]] = {}
        for service_id, phone, at in rows:
            window.setdefault((service_id, phone), []).append(at)
        return window

    def _refusal(
        self,
        e: Event,
        service_status: str | None,
        window: dict[tuple[Any, str], list[datetime]],
    ) -> str | None:
        # An unknown service was known to the API that accepted the call; its events are on
        # another topic and may simply not have reached us yet.
        if service_status is not None and service_status != "active":
            return RejectReason.SERVICE_DISABLED
        if e["attempt"] > self.rules.retry_chain_max:
            return RejectReason.RATE_LIMITED
        since = e["occurred_at"] - timedelta(seconds=PHONE_WINDOW_SECONDS)
        recent = [at for at in window.get((e["service_id"], e["phone"]), []) if at > since]
        if len(recent) >= self.rules.phone_calls_per_hour:
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

    async def record_outcomes(self, conn: psycopg.AsyncConnection, outcomes: list[Event]) -> None:
        """A run of dial outcomes: delivered codes become valid until expires_at."""
        await conn.execute(
            "UPDATE proc_calls p SET status = o.status, expires_at = o.expires_at"
            " FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[]) AS o(id, status, expires_at)"
            " WHERE p.id = o.id AND p.status = %s",
            (
                [e["call_id"] for e in outcomes],
                [
                    CallStatus.DELIVERED
                    if e["event_type"] == "CallDelivered"
                    else CallStatus.FAILED
                    for e in outcomes
                ],
                [e.get("expires_at") for e in outcomes],
                ADMITTED,
            ),
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


def _run_kind(event: Event) -> str:
    kind: str = event["event_type"]
    return "outcome" if kind in ("CallDelivered", "CallFailed") else kind


def code_expired(call_id: Any, service_id: Any) -> Event:
    """CodeExpired has one id per call, whoever notices the expiry first."""
    return new_event(
        "CodeExpired",
        event_id=str(derived_id(call_id, "CodeExpired")),
        call_id=call_id,
        service_id=service_id,
    )
