"""Topic names, which events each topic carries, and what keys it. docs/events.md explains them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key_field: str
    events: tuple[str, ...]
    config: tuple[tuple[str, str], ...] = ()  # topic configs set at creation


ACCOUNTS = Topic(
    "flashcall.accounts",
    "account_id",
    ("AccountCreated", "AccountUpdated", "AccountTokenRotated"),
)
# Low volume, read from the start by the API: it also carries the credit state that decides 402s.
SERVICES = Topic(
    "flashcall.services",
    "service_id",
    ("ServiceCreated", "ServiceUpdated", "ServiceCutOff", "ServiceRestored"),
)
ACCESS_KEYS = Topic("flashcall.access-keys", "service_id", ("AccessKeyIssued", "AccessKeyRevoked"))
# Keyed by service so that one processor partition owns every decision about a service's calls.
CALL_REQUESTS = Topic(
    "flashcall.call-requests",
    "service_id",
    ("CallRequested", "VerificationAttempted", "TopUpCredit"),
)
CALL_DECISIONS = Topic(
    "flashcall.call-decisions",
    "service_id",
    ("CallAdmitted", "CallRejected", "VerificationJudged", "CodeVerified", "CodeExpired"),
)
# Keyed by call, so dials spread over every dialer worker whatever the service.
DIAL_COMMANDS = Topic("flashcall.dial-commands", "call_id", ("PlaceCall",))
DIAL_OUTCOMES = Topic(
    "flashcall.dial-outcomes", "service_id", ("DialStarted", "CallDelivered", "CallFailed")
)

CREDIT = Topic(
    "flashcall.credit",
    "service_id",
    ("CreditDebited", "CreditReleased", "CreditToppedUp", "CreditLow"),
)

# For analysts: the latest full record of each call; compacted, so the last per key is kept.
CALL_REPORTS = Topic(
    "flashcall.call-reports",
    "call_id",
    ("CallReported",),
    config=(("cleanup.policy", "compact"),),
)

# Records a consumer could never apply, as they were (value and key), with headers saying who
# parked them, where they came from and why (docs/reliability.md). Not events of ours.
DEAD_LETTERS = Topic("flashcall.dead-letters", "", ())

ALL_TOPICS: tuple[Topic, ...] = (
    ACCOUNTS,
    SERVICES,
    ACCESS_KEYS,
    CALL_REQUESTS,
    CALL_DECISIONS,
    DIAL_COMMANDS,
    DIAL_OUTCOMES,
    CREDIT,
    CALL_REPORTS,
    DEAD_LETTERS,
)

TOPIC_OF_EVENT: dict[str, Topic] = {event: t for t in ALL_TOPICS for event in t.events}
