from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from core.phones import InvalidPhone, facts, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("09121234567", "+989121234567"),
        ("+98 912 123 4567", "+989121234567"),
        ("0098-912-123-4567", "+989121234567"),
        ("+14155552671", "+14155552671"),
    ],
)
def test_normalises_to_e164(raw: str, expected: str) -> None:
    assert normalise(raw, "IR") == expected


def test_region_reads_national_numbers() -> None:
    assert normalise("(415) 555-2671", "US") == "+14155552671"


@pytest.mark.parametrize(
    "raw", ["", "   ", "12", "phone", "+98912", "0912123456789012345", "+999123"]
)
def test_refuses_invalid_numbers(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise(raw, "IR")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("۰۹۱۲۱۲۳۴۵۶۷", "+989121234567"),  # Persian digits
        ("٠٩١٢١٢٣٤٥٦٧", "+989121234567"),  # Arabic-Indic digits
        ("(0912) 123.4567", "+989121234567"),
        ("+98\u00a0912\u00a0123\u00a04567", "+989121234567"),  # no-break spaces
    ],
)
def test_accepts_digits_of_any_script_spaces_and_punctuation(raw: str, expected: str) -> None:
    assert normalise(raw, "IR") == expected


@pytest.mark.parametrize(
    "raw",
    ["0912ABC4567", "+1-800-FLOWERS", "0912123456\x00", "09121234567\n", "+98912*1234567"],
)
def test_refuses_letters_and_other_characters(raw: str) -> None:
    with pytest.raises(InvalidPhone, match="only digits"):
        normalise(raw, "IR")


def test_a_number_is_accepted_exactly_when_phonenumbers_calls_it_valid() -> None:
    """normalise reads validity off the number's type (one metadata match, not two): across
    every region's example numbers and numbers one digit off them, it accepts exactly what
    phonenumbers' own is_valid_number does, and facts() says what phonenumbers does."""
    rng = random.Random(7)
    numbers: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE,
            PhoneNumberType.PREMIUM_RATE,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            numbers.append(e164)
            numbers.append(e164[:-1] + str(rng.randrange(10)))
            numbers.append(e164 + str(rng.randrange(10)))
            numbers.append(e164[:-2])
    accepted = 0
    for number in numbers:
        parsed = phonenumbers.parse(number, None)
        valid = phonenumbers.is_valid_number(parsed)
        try:
            normalise(number, "IR")
        except InvalidPhone:
            assert not valid, number
            continue
        assert valid, number
        accepted += 1
        found = facts(number)
        assert found.region == phonenumbers.region_code_for_number(parsed), number
        assert found.kind == phonenumbers.number_type(parsed), number
    assert accepted > 400
