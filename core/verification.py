"""The verdict on one verification attempt: pure, so the processor and the tests share it."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from core.call_rules import CallStatus, VerifyReason


@dataclass(frozen=True)
class CallForVerify:
    status: str
    caller_number: str
    code_length: int
    expires_at: datetime | None
    verify_attempts: int
    superseded: bool  # a later call of the same retry chain exists


@dataclass(frozen=True)
class Verdict:
    verified: bool
    reason: VerifyReason | None
    verify_attempts: int
    status: str
    attempts_left: int


def judge(call: CallForVerify, code: str, at: datetime, max_attempts: int) -> Verdict:
    """Judge `code`, typed at `at`. Only judged guesses on a live code use up an attempt."""

    def verdict(reason: VerifyReason | None, attempts: int, status: str) -> Verdict:
        return Verdict(
            verified=reason is None,
            reason=reason,
            verify_attempts=attempts,
            status=status,
            attempts_left=max(0, max_attempts - attempts),
        )

    attempts = call.verify_attempts
    if call.status == CallStatus.VERIFIED:
        return verdict(VerifyReason.ALREADY_VERIFIED, attempts, call.status)
    if call.status == CallStatus.EXPIRED:
        return verdict(VerifyReason.EXPIRED, attempts, call.status)
    if call.status != CallStatus.DELIVERED:
        return verdict(VerifyReason.NOT_DELIVERED, attempts, call.status)
    if call.superseded or (call.expires_at is not None and at >= call.expires_at):
        return verdict(VerifyReason.EXPIRED, attempts, CallStatus.EXPIRED)
    if attempts >= max_attempts:
        return verdict(VerifyReason.TOO_MANY_ATTEMPTS, attempts, call.status)
    expected = call.caller_number[-call.code_length :]
    attempts += 1
    if hmac.compare_digest(code.encode(), expected.encode()):
        return verdict(None, attempts, CallStatus.VERIFIED)
    return verdict(VerifyReason.INVALID_CODE, attempts, call.status)
