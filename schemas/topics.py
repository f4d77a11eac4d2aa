"""Topic names, which events each topic carries, and what keys it. docs/events.md explains them.

Each event type lives on one topic, and each topic carries only what every consumer reading it
handles: no consumer is delivered events it would only ignore (docs/events.md counts the
deliveries of one call). Low-volume topics have one partition (each fetch scans every
partition it names, and on Tansu that costs the broker CPU even when nothing happens).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key_field: str
    events: tuple[str, ...]
    config: tuple[tuple[str, str], ...] = ()  # topic configs set at creation
    low_volume: bool = False  # one partition, whatever FLASHCALL_TOPIC_PARTITIONS says


ACCOUNTS = Topic(
    "flashcall.accounts",
    "account_id",
    ("AccountCreated", "AccountUpdated", "AccountTokenRotated", "AccountStreamsEnabled"),
    low_volume=True,
)
SERVICES = Topic(
    "flashcall.services",
    "service_id",
    ("ServiceCreated", "ServiceUpdated", "FraudBlockLifted", "FraudPrefixAllowed"),
    low_volume=True,
)
# The credit state that decides 402s, for the API's directory and the projection; and the
# blocks of pumped prefixes (docs/fraud.md).
SERVICE_STATUS = Topic(
    "flashcall.service-status",
    "service_id",
    ("ServiceCutOff", "ServiceRestored", "FraudSuspected"),
    low_volume=True,
)
# The same for an account's total: every service of a cut-off account answers 402. The low
# warning travels here too (its readers are the webhooks and the metrics).
ACCOUNT_STATUS = Topic(
    "flashcall.account-status",
    "account_id",
    ("AccountCutOff", "AccountRestored", "AccountCreditLow"),
    low_volume=True,
)
ACCESS_KEYS = Topic(
    "flashcall.access-keys",
    "service_id",
    ("AccessKeyIssued", "AccessKeyRevoked"),
    low_volume=True,
)
# Test numbers, for the API's directory and the projection (the decisions read the flag on
# each call's request).
TEST_NUMBERS = Topic(
    "flashcall.test-numbers",
    "service_id",
    ("TestNumberAdded", "TestNumberRemoved"),
    low_volume=True,
)
# The caller ranges, their pauses and their quarantines per network (docs/ranges.md), for the
# API's directory (which draws caller numbers from them) and the projection.
CALLER_RANGES = Topic(
    "flashcall.caller-ranges",
    "range_id",
    ("RangeAdded", "RangeStatusChanged", "RangeQuarantined", "RangeReleased"),
    low_volume=True,
)
# Keyed by service so that one decisions partition owns every decision about a service.
CALL_REQUESTS = Topic("flashcall.call-requests", "service_id", ("CallRequested",))
# Requests that only the decisions act on (the projection learns their outcome).
COMMANDS = Topic(
    "flashcall.commands",
    "service_id",
    ("VerificationAttempted", "TopUpCredit", "StepTimedOut", "NextChannelRequested"),
)
# CallAdmitted is no longer emitted (PlaceCall is the admission); its records stay readable.
CALL_DECISIONS = Topic(
    "flashcall.call-decisions",
    "service_id",
    ("CallAdmitted", "CallRejected", "CodeVerified", "CodeExpired", "StepStarted"),
)
# Answers the API waits for (a verdict, a top-up), also projected.
REPLIES = Topic("flashcall.replies", "service_id", ("VerificationJudged", "CreditToppedUp"))
# Keyed by call, so dials spread over every dialer worker whatever the service.
DIAL_COMMANDS = Topic("flashcall.dial-commands", "call_id", ("PlaceCall", "SendSms"))
DIAL_PROGRESS = Topic("flashcall.dial-progress", "service_id", ("DialStarted", "CallAnswered"))
DIAL_OUTCOMES = Topic("flashcall.dial-outcomes", "service_id", ("CallDelivered", "CallFailed"))
CREDIT = Topic("flashcall.credit", "service_id", ("CreditDebited",))
# Facts no processor acts on today (webhooks and notifications will).
NOTICES = Topic("flashcall.notices", "service_id", ("CreditReleased", "CreditLow"))

# For analysts: the latest full record of each call; compacted, so the last per key is kept.
CALL_REPORTS = Topic(
    "flashcall.call-reports",
    "call_id",
    ("CallReported",),
    config=(("cleanup.policy", "compact"),),
)

# Records a consumer could never apply, as they were (value and key), with headers saying who
# parked them, where they came from and why (docs/reliability.md). Not events of ours.
DEAD_LETTERS = Topic("flashcall.dead-letters", "", (), low_volume=True)

ALL_TOPICS: tuple[Topic, ...] = (
    ACCOUNTS,
    SERVICES,
    SERVICE_STATUS,
    ACCOUNT_STATUS,
    ACCESS_KEYS,
    TEST_NUMBERS,
    CALLER_RANGES,
    CALL_REQUESTS,
    COMMANDS,
    CALL_DECISIONS,
    REPLIES,
    DIAL_COMMANDS,
    DIAL_PROGRESS,
    DIAL_OUTCOMES,
    CREDIT,
    NOTICES,
    CALL_REPORTS,
    DEAD_LETTERS,
)

TOPIC_OF_EVENT: dict[str, Topic] = {event: t for t in ALL_TOPICS for event in t.events}

# Records of each streaming account's own topics, made when the operator enables streams
# (flashcall.ingress.<account_id>, flashcall.results.<account_id>; runtime/stream_topics.py).
ACCOUNT_STREAM_RECORDS = ("CallRequest", "CallResult")

# Event types that shared these topics before this layout (2026-11-29) and that some reader of
# the topic does not handle: their records in existing topics are recognised and have no
# effect for that reader (it reads them where they live now, or never needed them). Anything
# else a consumer does not handle stops it (runtime/batches.py).
RETIRED_ROUTES: dict[str, frozenset[str]] = {
    SERVICES.name: frozenset({"ServiceCutOff", "ServiceRestored"}),
    CALL_REQUESTS.name: frozenset({"VerificationAttempted", "TopUpCredit"}),
    CALL_DECISIONS.name: frozenset({"CallAdmitted", "VerificationJudged"}),
    DIAL_OUTCOMES.name: frozenset({"DialStarted"}),
    CREDIT.name: frozenset({"CreditReleased", "CreditLow", "CreditToppedUp"}),
}
