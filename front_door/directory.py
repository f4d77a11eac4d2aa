"""In-process views of accounts, services and access keys, kept fresh by their events.

The API authenticates and validates calls from here, with no database round trip on the call
path. The feed applies every event from the topics; the API also applies the events it appends
itself, so its own changes (a revoked key) take effect at once on this instance.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from core.caller_ranges import CallerRange, RangeStatus
from core.number_pool import parse_range
from core.workflow import DEFAULT_WORKFLOW, Step, workflow_of
from schemas.codec import Event

T = TypeVar("T")


class UnknownEvent(Exception):
    """An event type on the directory's topics that this build does not know: the feed stops
    that partition at it (front_door/feed.py), as the processors' tables do."""


@dataclass(frozen=True)
class AccountView:
    id: uuid.UUID
    price_per_call: int
    credit_limit: int
    time_zone: str | None = None  # None: the platform's
    price_per_sms: int | None = None  # None: the platform's
    cut_off: bool = False  # the account-wide limit is reached: every service refuses calls
    cut_off_seq: int = 0


@dataclass(frozen=True)
class ServiceView:
    id: uuid.UUID
    account_id: uuid.UUID
    code_length: int
    code_ttl_minutes: int
    return_code: bool
    status: str
    cut_off: bool = False
    cut_off_seq: int = 0
    # As set (None: the platform's defaults; core/destinations.py).
    allowed_regions: tuple[str, ...] | None = None
    blocked_number_types: tuple[str, ...] | None = None
    workflow: tuple[Step, ...] = DEFAULT_WORKFLOW
    sms_template: str | None = None  # None: core.workflow.DEFAULT_SMS_TEMPLATE


@dataclass(frozen=True)
class KeyView:
    id: uuid.UUID
    service_id: uuid.UUID
    account_id: uuid.UUID
    revoked_at: datetime | None


class Directory:
    def __init__(self) -> None:
        self.accounts: dict[uuid.UUID, AccountView] = {}
        self.account_by_token: dict[str, uuid.UUID] = {}
        self.token_of_account: dict[uuid.UUID, tuple[datetime, str]] = {}
        self.services: dict[uuid.UUID, ServiceView] = {}
        self.keys: dict[uuid.UUID, KeyView] = {}
        self.key_by_hash: dict[str, uuid.UUID] = {}
        # service -> phone -> (when, its code; None once removed: an older event applied
        # again, from the feed after this instance's own, changes nothing).
        self.test_numbers: dict[uuid.UUID, dict[str, tuple[datetime, str | None]]] = {}
        # The caller ranges (docs/ranges.md), each with its quarantines per network.
        self.ranges: dict[uuid.UUID, CallerRange] = {}

    def apply(self, e: Event) -> None:
        """Apply one event of the directory's topics (front_door/feed.py); an event type this table
        neither handles nor knows it can pass over is refused: UnknownEvent."""
        kind = e["event_type"]
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, e)
        elif kind not in PASSED_OVER:
            raise UnknownEvent(kind)

    def apply_own(self, e: Event) -> None:
        """Apply an event this instance appended itself, of any topic (a call's request too),
        so its own changes take effect here at once: the directory's events are applied."""
        handler = HANDLERS.get(e["event_type"])
        if handler is not None:
            handler(self, e)

    def _account_created(self, e: Event) -> None:
        if e["account_id"] not in self.accounts:
            self.accounts[e["account_id"]] = AccountView(
                e["account_id"],
                e["price_per_call"],
                e["credit_limit"],
                e.get("time_zone"),
                price_per_sms=e.get("price_per_sms"),
            )
            self._set_token(e["account_id"], e["token_hash"], e["occurred_at"])

    def _token_rotated(self, e: Event) -> None:
        current = self.token_of_account.get(e["account_id"])
        # Events can arrive twice (applied locally, then from the feed): only a newer token
        # replaces the current one, so a replayed rotation never revives an old one.
        if current is None or e["occurred_at"] > current[0]:
            self._set_token(e["account_id"], e["token_hash"], e["occurred_at"])

    def _account_updated(self, e: Event) -> None:
        a = self.accounts.get(e["account_id"])
        if a is not None:
            self.accounts[a.id] = replace(
                a,
                price_per_call=_first(e["price_per_call"], a.price_per_call),
                credit_limit=_first(e["credit_limit"], a.credit_limit),
                time_zone=_first(e.get("time_zone"), a.time_zone),
                price_per_sms=_first(e.get("price_per_sms"), a.price_per_sms),
            )

    def _service_created(self, e: Event) -> None:
        self.services.setdefault(
            e["service_id"],
            ServiceView(
                e["service_id"],
                e["account_id"],
                e["code_length"],
                e["code_ttl_minutes"],
                e["return_code"],
                "active",
                allowed_regions=_tuple(e.get("allowed_regions")),
                blocked_number_types=_tuple(e.get("blocked_number_types")),
                workflow=workflow_of(e.get("workflow")),
                sms_template=e.get("sms_template"),
            ),
        )

    def _service_updated(self, e: Event) -> None:
        s = self.services.get(e["service_id"])
        if s is not None:
            self.services[s.id] = replace(
                s,
                code_length=_first(e["code_length"], s.code_length),
                code_ttl_minutes=_first(e["code_ttl_minutes"], s.code_ttl_minutes),
                return_code=_first(e["return_code"], s.return_code),
                status=_first(e["status"], s.status),
                allowed_regions=_first(_tuple(e.get("allowed_regions")), s.allowed_regions),
                blocked_number_types=_first(
                    _tuple(e.get("blocked_number_types")), s.blocked_number_types
                ),
                workflow=workflow_of(e["workflow"]) if e.get("workflow") else s.workflow,
                sms_template=_first(e.get("sms_template"), s.sms_template),
            )

    def _service_credit(self, e: Event) -> None:
        s = self.services.get(e["service_id"])
        if s is not None and e["credit_seq"] > s.cut_off_seq:
            cut_off = e["event_type"] == "ServiceCutOff"
            self.services[s.id] = replace(s, cut_off=cut_off, cut_off_seq=e["credit_seq"])

    def _account_credit(self, e: Event) -> None:
        a = self.accounts.get(e["account_id"])
        if a is not None and e["credit_seq"] > a.cut_off_seq:
            cut_off = e["event_type"] == "AccountCutOff"
            self.accounts[a.id] = replace(a, cut_off=cut_off, cut_off_seq=e["credit_seq"])

    def _key_issued(self, e: Event) -> None:
        self.keys.setdefault(
            e["key_id"], KeyView(e["key_id"], e["service_id"], e["account_id"], None)
        )
        self.key_by_hash[e["key_hash"]] = e["key_id"]

    def _key_revoked(self, e: Event) -> None:
        k = self.keys.get(e["key_id"])
        if k is not None and k.revoked_at is None:
            self.keys[k.id] = replace(k, revoked_at=e["occurred_at"])

    def _test_number(self, e: Event) -> None:
        numbers = self.test_numbers.setdefault(e["service_id"], {})
        current = numbers.get(e["phone"])
        if current is None or e["occurred_at"] >= current[0]:
            code = e["code"] if e["event_type"] == "TestNumberAdded" else None
            numbers[e["phone"]] = (e["occurred_at"], code)

    def _range_added(self, e: Event) -> None:
        if e["range_id"] not in self.ranges:
            self.ranges[e["range_id"]] = CallerRange(
                e["range_id"],
                e["pattern"],
                parse_range(e["pattern"]),
                e.get("trunk"),
                tuple(e.get("destinations") or ()),
            )

    def _range_status(self, e: Event) -> None:
        r = self.ranges.get(e["range_id"])
        # Applied here first, then again from the feed: an older change must not undo a newer.
        if r is not None and (r.status_at is None or e["occurred_at"] >= r.status_at):
            self.ranges[r.id] = replace(
                r, status=RangeStatus(e["status"]), status_at=e["occurred_at"]
            )

    def _range_judged(self, e: Event) -> None:
        """A quarantine or a release: two decisions workers may publish theirs in another
        order than they decided them, so an older one changes nothing."""
        r = self.ranges.get(e["range_id"])
        network = e["network"]
        if r is None or e["occurred_at"] < r.judged_at.get(network, e["occurred_at"]):
            return
        quarantines = {n: u for n, u in r.quarantines.items() if n != network}
        if e["event_type"] == "RangeQuarantined":
            quarantines[network] = e["until"]
        judged_at = {**r.judged_at, network: e["occurred_at"]}
        self.ranges[r.id] = replace(r, quarantines=quarantines, judged_at=judged_at)

    def test_code(self, service_id: uuid.UUID, phone: str) -> str | None:
        """The fixed code of a test number of the service (None: a real number)."""
        entry = self.test_numbers.get(service_id, {}).get(phone)
        return entry[1] if entry is not None else None

    def _set_token(self, account_id: uuid.UUID, token_hash: str, at: datetime) -> None:
        current = self.token_of_account.get(account_id)
        if current is not None:
            self.account_by_token.pop(current[1], None)
        self.token_of_account[account_id] = (at, token_hash)
        self.account_by_token[token_hash] = account_id

    def account_for_token(self, token_hash: str) -> AccountView | None:
        account_id = self.account_by_token.get(token_hash)
        return self.accounts.get(account_id) if account_id else None

    def key_for_secret(self, key_hash: str) -> KeyView | None:
        key_id = self.key_by_hash.get(key_hash)
        return self.keys.get(key_id) if key_id else None


def _first(new: T | None, old: T) -> T:
    return old if new is None else new


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


# What each event of the directory's topics does to it (every type of those topics is here or
# in PASSED_OVER: tests/unit/test_directory.py holds them to the topics).
HANDLERS: dict[str, Callable[[Directory, Event], None]] = {
    "AccountCreated": Directory._account_created,
    "AccountTokenRotated": Directory._token_rotated,
    "AccountUpdated": Directory._account_updated,
    "ServiceCreated": Directory._service_created,
    "ServiceUpdated": Directory._service_updated,
    "ServiceCutOff": Directory._service_credit,
    "ServiceRestored": Directory._service_credit,
    "AccountCutOff": Directory._account_credit,
    "AccountRestored": Directory._account_credit,
    "AccessKeyIssued": Directory._key_issued,
    "AccessKeyRevoked": Directory._key_revoked,
    "TestNumberAdded": Directory._test_number,
    "TestNumberRemoved": Directory._test_number,
    "RangeAdded": Directory._range_added,
    "RangeStatusChanged": Directory._range_status,
    "RangeQuarantined": Directory._range_judged,
    "RangeReleased": Directory._range_judged,
}
# On the directory's topics for other readers: nothing the API authenticates or checks by.
PASSED_OVER = frozenset(
    {
        "AccountStreamsEnabled",  # the ingress reads the account's topics from PostgreSQL
        "AccountCreditLow",  # a notice for webhooks
        "FraudBlockLifted",  # fraud blocks are the decisions' to enforce
        "FraudPrefixAllowed",
        "FraudSuspected",
    }
)
