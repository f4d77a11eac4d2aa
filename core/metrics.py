"""Every Prometheus metric the platform exports, in one place (docs/operations.md lists them).

The API serves them at `/metrics`; each worker at `/metrics` on FLASHCALL_METRICS_PORT. A
process exports the metrics of what it runs (the dialer's dial outcomes, the projection's
latencies, the API's requests); a metric with no samples yet is exported all the same.
"""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram, Info

from core.version import VERSION

# Seconds: from a fraction of a millisecond (a batch) to minutes (a queued SIP dial).
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180)

# Which build answers: during an upgrade, two versions side by side (docs/operations.md).
BUILD = Info("flashcall_build", "The running build: flashcall's version and Python's.")
BUILD.info({"version": VERSION, "python": platform.python_version()})

HTTP_REQUESTS = Counter(
    "flashcall_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "flashcall_http_request_duration_seconds",
    "Time to answer an HTTP request (to its first byte for streamed answers).",
    ["route", "method"],
    buckets=SECONDS,
)

EVENTS_APPLIED = Counter(
    "flashcall_events_applied_total",
    "Events a consumer applied, by event type.",
    ["consumer", "event_type"],
)
BATCH_SIZE = Histogram(
    "flashcall_batch_records",
    "Records in a batch a consumer applied in one transaction.",
    ["consumer"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
BATCH_DURATION = Histogram(
    "flashcall_batch_duration_seconds",
    "Time to apply a batch (its transaction and the outbox's publication).",
    ["consumer"],
    buckets=SECONDS,
)
RECORDS_PARKED = Counter(
    "flashcall_records_parked_total",
    "Records a consumer set aside in flashcall.dead-letters.",
    ["consumer"],
)
PARTITIONS_STOPPED = Gauge(
    "flashcall_partitions_stopped",
    "Partitions a consumer holds at a record it cannot apply.",
    ["consumer"],
)
CONSUMER_LAG = Gauge(
    "flashcall_consumer_lag_records",
    "Records not applied yet: the partition's high watermark minus the offset PostgreSQL"
    " stored for the consumer.",
    ["consumer", "topic", "partition"],
)
CONSUMER_GROUP_MOVES = Counter(
    "flashcall_consumer_group_moves_total",
    "Times a consumer found its Kafka consumer group stuck (no partitions for"
    " FLASHCALL_KAFKA_GROUP_STUCK_SECONDS) and moved to a new one.",
    ["consumer"],
)
CONSUMER_POLL_AGE = Gauge(
    "flashcall_consumer_last_poll_age_seconds",
    "Seconds since the consumer last asked the broker for records (readiness uses it).",
    ["consumer"],
)
OUTBOX_BACKLOG = Gauge(
    "flashcall_outbox_backlog_records",
    "Records committed to the outbox and not yet published.",
)

DIAL_OUTCOMES = Counter(
    "flashcall_dial_outcomes_total",
    "Dials by outcome (delivered, failed) and failure reason.",
    ["outcome", "reason"],
)
DIAL_OUTCOMES_UNRECORDED = Counter(
    "flashcall_dial_outcomes_unrecorded_total",
    "Dial outcomes PostgreSQL refused for good (not for being away): each is logged with its"
    " call, whose claim fail_abandoned ends as carrier_error.",
)
CALLS_ANSWERED = Counter(
    "flashcall_calls_answered_total",
    "Flash calls someone picked up (hung up at once; carriers bill answered seconds).",
)
REQUEST_TO_DIAL = Histogram(
    "flashcall_request_to_dial_seconds",
    "From a call's request to the start of its dial.",
    buckets=SECONDS,
)
DIAL_TO_OUTCOME = Histogram(
    "flashcall_dial_to_outcome_seconds",
    "From the start of a dial to its outcome, by outcome.",
    ["outcome"],
    buckets=SECONDS,
)
CALLS_DECIDED = Counter(
    "flashcall_calls_decided_total",
    "Requested calls the decisions admitted or rejected (with the reason).",
    ["decision", "reason"],
)
CREDIT_EVENTS = Counter(
    "flashcall_credit_events_total",
    "Services and accounts (account_*) cut off, restored, and crossing into the last 20 % of"
    " their limit (low).",
    ["event"],
)
STREAM_REQUESTS = Counter(
    "flashcall_stream_requests_total",
    "Requests taken in by the batch, stream and Kafka ingress ways in, by outcome.",
    ["way", "outcome"],
)

WEBHOOK_DELIVERIES = Counter(
    "flashcall_webhook_attempts_total",
    "Webhook delivery attempts, by result (delivered, failed_attempt).",
    ["result"],
)

SIP_DIALOGS = Gauge(
    "flashcall_sip_dialogs_in_progress",
    "SIP dialogs in progress per trunk.",
    ["trunk"],
)
SMS_GATEWAY_UP = Gauge(
    "flashcall_sms_gateway_up",
    "1 while the SMS gateway (Kannel) answers, 0 while it does not (sends wait and retry).",
)
SMS_PARTS = Counter(
    "flashcall_sms_parts_total",
    "SMS parts handed to the gateway (a long or Persian text takes several).",
)
SIP_TRUNK_UP = Gauge(
    "flashcall_sip_trunk_up",
    "1 while the trunk answers, 0 while it is skipped after failing.",
    ["trunk"],
)
SIP_CPS = Gauge(
    "flashcall_sip_calls_per_second",
    "INVITEs sent per second per trunk over the last second (its CPS in use).",
    ["trunk"],
)
PACE_WAIT = Histogram(
    "flashcall_carrier_pace_wait_seconds",
    "How long a call (or SMS) waited for its trunk's (or gateway's) calls per second, the"
    " platform's schedule shared by every dialer worker.",
    ["pacer"],
    buckets=SECONDS,
)

FRAUD_BLOCKS = Counter(
    "flashcall_fraud_blocks_total",
    "Number prefixes blocked as pumped (FraudSuspected; docs/fraud.md).",
)
RANGE_QUARANTINES = Counter(
    "flashcall_range_quarantines_total",
    "Caller ranges quarantined for a network (RangeQuarantined; docs/ranges.md).",
    ["network"],
)
RANGE_RELEASES = Counter(
    "flashcall_range_releases_total",
    "Caller ranges released for a network after their probes delivered (RangeReleased).",
    ["network"],
)
RANGES_QUARANTINED = Gauge(
    "flashcall_ranges_quarantined",
    "Caller ranges in quarantine per network, as the API's directory has them.",
    ["network"],
)
RANGE_FALLBACKS = Counter(
    "flashcall_range_fallback_calls_total",
    "Calls drawn from a quarantined range because every range serving the network is"
    " quarantined (the operator is told by RangeQuarantined's last_for_network).",
    ["network"],
)
