"""The platform's consumers: what each reads (its consumed offsets are stored under its name)
and what it does with a record it can never apply (docs/reliability.md).

The decisions stop at such a record, since every later decision about a service depends on the
ones before (credit, attempts, limits); the dialer and the projection park it and go on (each
dial stands alone; the read models are order-tolerant upserts, and a parked record re-driven
later lands where it belongs).
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.decisions import CONSUMER as DECISIONS
from processors.dialer import CONSUMER as DIALER
from processors.ingress import CONSUMER as INGRESS
from processors.webhooks import CONSUMER as WEBHOOKS
from projections.read_models import CONSUMER as PROJECTION
from projections.read_models import PROJECTED_TOPICS
from runtime.failures import Policy
from runtime.stream_topics import INGRESS_PATTERN
from schemas import topics


@dataclass(frozen=True)
class ConsumerSpec:
    topics: tuple[topics.Topic, ...]
    policy: Policy
    role: str  # the FLASHCALL_PROCESSOR_ROLES entry that runs it
    # On a call's path (request → ring → verdict): fetches wait FLASHCALL_KAFKA_FETCH_WAIT_MS;
    # the others FLASHCALL_KAFKA_BACKGROUND_FETCH_WAIT_MS (docs/benchmarks.md, idle).
    call_path: bool = True
    # Subscribed by this pattern instead of `topics` (topics made while it runs: the tenants'
    # ingress topics).
    pattern: str | None = None

    @property
    def subscription(self) -> tuple[str, ...]:
        return (self.pattern,) if self.pattern else tuple(t.name for t in self.topics)


CONSUMERS: dict[str, ConsumerSpec] = {
    DECISIONS: ConsumerSpec(
        (
            topics.ACCOUNTS,
            topics.SERVICES,
            topics.CALL_REQUESTS,
            topics.COMMANDS,
            topics.DIAL_OUTCOMES,
        ),
        Policy.STOP,
        "decisions",
    ),
    DIALER: ConsumerSpec((topics.DIAL_COMMANDS,), Policy.PARK, "dialer"),
    PROJECTION: ConsumerSpec(PROJECTED_TOPICS, Policy.PARK, "projections", call_path=False),
    # Each event's deliveries stand alone: one that cannot be made is parked.
    WEBHOOKS: ConsumerSpec(
        (
            topics.CALL_REPORTS,
            topics.NOTICES,
            topics.SERVICE_STATUS,
            topics.ACCOUNT_STATUS,
            topics.CALLER_RANGES,
        ),
        Policy.PARK,
        "webhooks",
        call_path=False,
    ),
    # Tenants' requests are independent of one another: one that cannot be applied is parked.
    INGRESS: ConsumerSpec((), Policy.PARK, "ingress", pattern=INGRESS_PATTERN),
}
SUBSCRIPTIONS: dict[str, tuple[topics.Topic, ...]] = {
    name: spec.topics for name, spec in CONSUMERS.items()
}
