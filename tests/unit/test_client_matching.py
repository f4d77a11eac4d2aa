"""The Python client's matcher: an incoming number is the call's when it is its caller prefix
and then exactly code_length digits (docs/apps.md states the rule)."""

from __future__ import annotations

import pytest
from flashcall_client import Call, match_incoming

CALL = {"caller_prefix": "+98219101", "code_length": 5}


@pytest.mark.parametrize(
    ("incoming", "code"),
    [
        ("+9821910112345", "12345"),  # E.164, as most phones show it
        ("009821910112345", "12345"),  # international with 00
        ("9821910112345", "12345"),  # international without +
        ("+98 21 9101 12345", "12345"),  # formatted
        ("(021) 9101-12345", "12345"),  # national, formatted
        ("021910112345", "12345"),  # national: the country code (98) behind a 0
        ("+9821910112340", "12340"),
    ],
)
def test_our_call_gives_its_code(incoming: str, code: str) -> None:
    assert match_incoming(incoming, CALL) == code


@pytest.mark.parametrize(
    "incoming",
    [
        "+982191011234",  # a digit short
        "+98219101123456",  # a digit over
        "+9821910212345",  # another prefix
        "+4421910112345",  # another country
        "+98219101abcde",  # not digits
        "0219101123456",  # national, a digit over
        "",
        "Unknown",  # a withheld number
    ],
)
def test_any_other_number_is_not_our_call(incoming: str) -> None:
    assert match_incoming(incoming, CALL) is None


def test_a_call_without_a_caller_prefix_matches_nothing() -> None:
    assert match_incoming("+9821910112345", {"caller_prefix": None, "code_length": 5}) is None


def test_a_placed_call_of_the_client_matches_as_its_body_does() -> None:
    body = {
        "id": "c1",
        "status": "queued",
        "phone": "+989121234567",
        "service_id": "s1",
        "attempt": 1,
        "code_length": 4,
        "caller_prefix": "+982191011",
        "created_at": None,
        "expires_at": None,
    }
    assert match_incoming("+9821910117342", Call.of(body)) == "7342"
