"""Verification: each attempt at a code judged against the call as the decisions hold it."""

from __future__ import annotations

import psycopg

from core.call_rules import CallStatus
from core.verification import CallForVerify, judge
from processors.decisions.shared import ADMITTED, DecisionRules, code_expired, derived
from processors.service_book import ServiceBook
from runtime.outbox import Outbox
from schemas.codec import Event


async def on_verification_attempted(
    rules: DecisionRules, conn: psycopg.AsyncConnection, e: Event, out: Outbox, _: ServiceBook
) -> None:
    """Judge a code by core/verification.py's rules, exactly once per attempt."""
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
    verdict = judge(call, e["code"], e["occurred_at"], rules.verify_max_attempts)
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
    # Only the attempt that verifies says so: an attempt after it ("already verified")
    # would announce the verification again (a second call.verified webhook).
    if verdict.status == CallStatus.VERIFIED and status != CallStatus.VERIFIED:
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
