from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.verification import CallForVerify, judge

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def call(**overrides: object) -> CallForVerify:
    fields: dict[str, object] = {
        "status": "delivered",
        "caller_number": "+98219112345678",
        "code_length": 4,
        "expires_at": NOW + timedelta(minutes=2),
        "verify_attempts": 0,
        "superseded": False,
    }
    fields.update(overrides)
    return CallForVerify(**fields)  # type: ignore[arg-type]


def test_right_code_verifies_and_uses_an_attempt() -> None:
    v = judge(call(), "5678", NOW, 5)
    assert v.verified and v.reason is None and v.status == "verified"
    assert v.verify_attempts == 1 and v.attempts_left == 4


def test_wrong_codes_count_down_then_lock() -> None:
    state = call()
    lefts = []
    for _ in range(5):
        v = judge(state, "0000", NOW, 5)
        assert v.reason == "invalid_code"
        lefts.append(v.attempts_left)
        state = call(verify_attempts=v.verify_attempts)
    assert lefts == [4, 3, 2, 1, 0]
    locked = judge(state, "5678", NOW, 5)
    assert not locked.verified and locked.reason == "too_many_attempts"
    assert locked.verify_attempts == 5


def test_expiry_is_judged_at_the_attempt_time() -> None:
    expires = NOW + timedelta(minutes=2)
    assert judge(call(), "5678", expires - timedelta(microseconds=1), 5).verified
    late = judge(call(), "5678", expires, 5)
    assert late.reason == "expired" and late.status == "expired" and late.verify_attempts == 0


def test_a_superseded_code_is_expired() -> None:
    assert judge(call(superseded=True), "5678", NOW, 5).reason == "expired"


def test_states_other_than_delivered() -> None:
    assert judge(call(status="verified"), "5678", NOW, 5).reason == "already_verified"
    assert judge(call(status="expired"), "5678", NOW, 5).reason == "expired"
    for status in ("queued", "dialing", "failed", "rejected"):
        v = judge(call(status=status), "5678", NOW, 5)
        assert v.reason == "not_delivered" and v.attempts_left == 5 and v.status == status


def test_a_code_of_another_length_is_just_wrong() -> None:
    assert judge(call(), "45678", NOW, 5).reason == "invalid_code"
