from __future__ import annotations

from flashcall_client.errors import CreditLimitReached, error_of


def test_a_402_says_which_limit_was_reached() -> None:
    body = {"code": "credit_limit_reached", "detail": "the account has…", "limit": "account"}
    error = error_of(402, body, None)
    assert isinstance(error, CreditLimitReached) and error.limit == "account"
    assert error_of(402, {"code": "credit_limit_reached"}, None).limit is None  # older servers


def test_a_refused_destination_has_its_own_error() -> None:
    from flashcall_client.errors import DestinationNotAllowed

    error = error_of(403, {"code": "destination_not_allowed", "detail": "US is not…"}, None)
    assert isinstance(error, DestinationNotAllowed) and error.status == 403
