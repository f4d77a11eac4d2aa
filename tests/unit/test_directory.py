"""The API's directory keeps exactly one live token per account, whatever order or how many
times the account's events reach it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from front_door.directory import HANDLERS, PASSED_OVER, Directory, UnknownEvent
from front_door.feed import BOOTSTRAP_TOPICS
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


def test_every_event_of_the_directory_s_topics_is_handled_or_passed_over_by_name() -> None:
    on_topics = {
        # flashcall.accounts, services, service-status, account-status, access-keys,
        # test-numbers
        "AccountCreated", "AccountUpdated", "AccountTokenRotated", "AccountStreamsEnabled",
        "ServiceCreated", "ServiceUpdated", "FraudBlockLifted", "FraudPrefixAllowed",
        "ServiceCutOff", "ServiceRestored", "FraudSuspected",
        "AccountCutOff", "AccountRestored", "AccountCreditLow",
        "AccessKeyIssued", "AccessKeyRevoked",
        "TestNumberAdded", "TestNumberRemoved",
        # caller-ranges
        "RangeAdded", "RangeStatusChanged", "RangeQuarantined", "RangeReleased",
    }  # fmt: skip
    assert {e for t in BOOTSTRAP_TOPICS for e in t.events} == on_topics
    assert set(HANDLERS) | PASSED_OVER == on_topics
    assert not set(HANDLERS) & PASSED_OVER


def test_an_event_type_the_directory_does_not_know_is_refused() -> None:
    directory = Directory()
    with pytest.raises(UnknownEvent):
        directory.apply({"event_type": "AccountRenamedInTheFuture", "account_id": uuid.uuid4()})
    directory.apply(new_event("FraudSuspected", **FRAUD))  # known, and of no use here: passed
    assert directory.services == {} and directory.accounts == {}


FRAUD = {
    "service_id": uuid.uuid4(),
    "prefix": "+989125551",
    "requests": 30,
    "verified": 0,
    "until": datetime(2026, 12, 6, tzinfo=UTC),
}


def test_an_instance_s_own_appends_of_any_topic_are_applied_or_passed_over() -> None:
    directory = Directory()
    requested = {"event_type": "CallRequested", "call_id": uuid.uuid4()}
    directory.apply_own(requested)  # a call's request: not the directory's, and no error
    key = new_event(
        "AccessKeyIssued",
        key_id=uuid.uuid4(),
        service_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        label="backend",
        prefix="fck_1234",
        key_hash="h",
    )
    directory.apply_own(key)
    assert directory.key_by_hash == {"h": key["key_id"]}


def test_a_test_number_is_known_until_removed_whatever_order_its_events_come_again_in() -> None:
    directory = Directory()
    service_id, account_id = uuid.uuid4(), uuid.uuid4()
    ids = {"service_id": service_id, "account_id": account_id, "phone": "+989121110000"}
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    added = new_event("TestNumberAdded", occurred_at=at, code="12345", **ids)
    changed = new_event("TestNumberAdded", occurred_at=at.replace(second=1), code="54321", **ids)
    removed = new_event("TestNumberRemoved", occurred_at=at.replace(second=2), **ids)
    directory.apply(added)
    assert directory.test_code(service_id, "+989121110000") == "12345"
    assert directory.test_code(service_id, "+989121110001") is None
    assert directory.test_code(uuid.uuid4(), "+989121110000") is None
    directory.apply(changed)
    assert directory.test_code(service_id, "+989121110000") == "54321"
    directory.apply(removed)
    # Applied here first, then read from the feed again: the older events change nothing.
    for event in (added, changed):
        directory.apply(event)
    assert directory.test_code(service_id, "+989121110000") is None


def test_a_ranges_older_status_change_applied_again_does_not_undo_a_newer() -> None:
    directory = Directory()
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    range_id = uuid.uuid4()
    directory.apply(
        new_event("RangeAdded", range_id=range_id, pattern="+98219100xxxxx", occurred_at=at)
    )
    paused = new_event("RangeStatusChanged", range_id=range_id, status="paused", occurred_at=at)
    resumed = new_event(
        "RangeStatusChanged",
        range_id=range_id,
        status="active",
        occurred_at=at.replace(second=1),
    )
    directory.apply_own(paused)
    directory.apply_own(resumed)
    directory.apply(paused)  # the feed brings the older one after
    assert directory.ranges[range_id].status == "active"
    directory.apply(resumed)
    assert directory.ranges[range_id].status == "active"
    quarantined = new_event(
        "RangeQuarantined",
        range_id=range_id,
        network="IR-MCI",
        until=at.replace(minute=1),
        strikes=1,
        dialled=10,
        delivered=0,
        baseline_ratio=0.9,
    )
    directory.apply(quarantined)
    assert directory.ranges[range_id].quarantines == {"IR-MCI": at.replace(minute=1)}
    released = new_event(
        "RangeReleased",
        range_id=range_id,
        network="IR-MCI",
        dialled=3,
        delivered=3,
        baseline_ratio=0.9,
    )
    directory.apply(released)
    assert directory.ranges[range_id].quarantines == {}
    # The quarantine published again after the release (another worker's, late): no effect.
    directory.apply(quarantined)
    assert directory.ranges[range_id].quarantines == {}
