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
    assert fa.word("busy") == "مشغول" and en.word("invalid_number") == "invalid number"


def test_every_problem_code_and_verdict_has_panel_words_in_both_languages() -> None:
    from api.errors import TITLES
    from api.panel.i18n import PROBLEMS
    from core.call_rules import VerifyReason

    assert set(TITLES) | {str(r) for r in VerifyReason} <= set(PROBLEMS)
    for fa, en in PROBLEMS.values():
        assert fa and en and not any("a" <= c <= "z" for c in fa), fa
