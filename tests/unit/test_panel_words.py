"""The panel's pure helpers: days as typed in either calendar, numbers and dates as written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.panel.i18n import Words, parse_day


@pytest.mark.parametrize(
    "typed",
    ["2026-11-27", "1405/09/06", "۱۴۰۵/۰۹/۰۶", "١٤٠٥/٠٩/٠٦", " 1405/9/6 "],
)
def test_a_day_is_read_in_either_calendar_and_any_digits(typed: str) -> None:
    assert parse_day(typed) == date(2026, 11, 27)


@pytest.mark.parametrize("typed", ["1405/13/01", "2026-02-30", "yesterday", "1405/09"])
def test_an_impossible_day_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_day(typed)


def test_persian_writes_persian_digits_and_jalali_dates() -> None:
    fa, en = Words("fa", "Asia/Tehran"), Words("en", "Asia/Tehran")
    assert fa.num(1234567) == "۱٬۲۳۴٬۵۶۷" and en.num(1234567) == "1,234,567"
    assert fa.money(-1000) == "۱٬۰۰۰ ریال بدهکار" and en.money(-1000) == "-1,000 rials"
    noon = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)  # 12:00 in Tehran
    assert fa.when(noon) == "۱۴۰۵/۰۹/۰۶ ۱۲:۰۰:۰۰" and en.when(noon) == "2026-11-27 12:00:00"
    assert fa.dir == "rtl" and en.dir == "ltr"
    assert fa.word("busy") == "مشغول" and en.word("invalid_number") == "Invalid number"


def test_every_problem_code_and_verdict_has_panel_words_in_both_languages() -> None:
    from api.errors import TITLES
    from api.panel.i18n import PROBLEMS
    from core.call_rules import VerifyReason

    assert set(TITLES) | {str(r) for r in VerifyReason} <= set(PROBLEMS)
    for fa, en in PROBLEMS.values():
        assert fa and en and not any("a" <= c <= "z" for c in fa), fa


def test_values_in_a_sentence_are_isolated_and_escaped() -> None:
    fa = Words("fa", "UTC")
    said = fa.t("credit.low", name='Acme "<b>" 2')
    assert said == "اعتبار سرویس «<bdi>Acme &#34;&lt;b&gt;&#34; ۲</bdi>» رو به پایان است."
    assert Words("en", "UTC").t("nav.services") == "Services"  # no values: plain text


def test_a_refusal_says_what_is_valid() -> None:
    fa, en = Words("fa", "UTC"), Words("en", "UTC")
    assert fa.invalid("service.code_length", "valid.code_length") == (
        "«<bdi>طول کد (۴ تا ۸ رقم)</bdi>» باید عددی از ۴ تا ۸ باشد."
    )
    assert en.invalid("service.ttl", "valid.ttl") == (
        "“<bdi>Code validity (minutes, 1 to 60)</bdi>” must be a whole number of minutes"
        " from 1 to 60."
    )


def test_an_api_refusal_is_said_in_the_panels_words_on_a_persian_page() -> None:
    from api.panel.i18n import PROBLEMS

    detail = "phone: (1) The string supplied did not seem to be a phone number."
    assert Words("fa", "UTC").problem("invalid_phone", detail) == PROBLEMS["invalid_phone"][0]
    assert Words("en", "UTC").problem("invalid_phone", detail) == detail
    assert Words("fa", "UTC").problem("no_such_code", "x") == PROBLEMS["invalid_request"][0]
