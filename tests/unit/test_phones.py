from __future__ import annotations

import pytest

from core.phones import InvalidPhone, normalise


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
