"""The API's directory keeps exactly one live token per account, whatever order or how many
times the account's events reach it."""

from __future__ import annotations

import uuid

from api.directory import Directory
from schemas.codec import new_event


def test_a_replayed_creation_or_rotation_never_revives_an_old_token() -> None:
    account_id = uuid.uuid4()
    created = new_event(
        "AccountCreated",
        account_id=account_id,
        name="Acme",
        token_hash="t1",
        price_per_call=1000,
        credit_limit=0,
    )
    first = new_event("AccountTokenRotated", account_id=account_id, token_hash="t2")
    second = new_event("AccountTokenRotated", account_id=account_id, token_hash="t3")
    directory = Directory()
    # Applied locally as appended, then again from the feed in log order.
    for event in (created, first, second, created, first, second):
        directory.apply(event)
        assert sum(1 for t in ("t1", "t2", "t3") if directory.account_for_token(t)) == 1
    assert directory.account_for_token("t3") is not None
    assert directory.account_for_token("t1") is None
    assert directory.account_for_token("t2") is None
