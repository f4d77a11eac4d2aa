from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_defaults_work_for_make_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "FLASHCALL_ENV"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.phone_calls_per_hour == 5 and s.key_calls_per_second == 1000
    assert s.default_credit_limit == 1_000_000 and s.default_region == "IR"
    assert s.pool.max_code_length == 8


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASHCALL_ENV", "production")
    with pytest.raises(ValidationError, match="FLASHCALL_ADMIN_TOKEN"):
        Settings()
    monkeypatch.setenv("FLASHCALL_ADMIN_TOKEN", "a-real-token")
    monkeypatch.setenv("FLASHCALL_CODE_SECRET", "a-real-secret")
    monkeypatch.setenv("FLASHCALL_TTL_MINUTE_SECONDS", "60")
    assert Settings().environment == "production"


def test_bad_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASHCALL_NUMBER_POOL", "+98xx12")
    with pytest.raises(ValidationError):
        Settings()


def test_the_sip_carrier_needs_trunks_and_room_for_queued_dials() -> None:
    with pytest.raises(ValidationError, match="FLASHCALL_SIP_TRUNKS"):
        Settings(FLASHCALL_CARRIER="sip")
    with pytest.raises(ValidationError, match="FLASHCALL_DIAL_ABANDON_SECONDS must exceed"):
        # 200 claimed dials at 1 CPS would queue for 200 s; abandoned after 60 s.
        Settings(FLASHCALL_CARRIER="sip", FLASHCALL_SIP_TRUNKS="udp:h:5060", FLASHCALL_SIP_CPS=1)
    settings = Settings(FLASHCALL_CARRIER="sip", FLASHCALL_SIP_TRUNKS="udp:h:5060,tcp:g:5061")
    assert settings.carrier == "sip"
