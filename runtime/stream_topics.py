"""The Kafka way in for an account: its topic names, and the records of its results topic.

A tenant produces CallRequest records to `flashcall.ingress.<account_id>`; what became of each
(accepted or refused) and then each change of the call is a CallResult on
`flashcall.results.<account_id>`, keyed by the request's reference, else by the call id, else
by the request's partition:offset (docs/streaming.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from core.ids import derived_id
from core.number_pool import caller_prefix
from producers.event_producer import Record
from schemas.codec import encode, new_event

INGRESS_PREFIX = "flashcall.ingress."
RESULTS_PREFIX = "flashcall.results."
INGRESS_PATTERN = r"^flashcall\.ingress\..+"
# The record header that carries the tenant's access key.
KEY_HEADER = "flashcall-key"


def ingress_topic(account_id: uuid.UUID) -> str:
    return f"{INGRESS_PREFIX}{account_id}"


def results_topic(account_id: uuid.UUID) -> str:
    return f"{RESULTS_PREFIX}{account_id}"


def account_of_ingress(topic: str) -> uuid.UUID | None:
    """The account whose ingress topic this is (None if the name is not one)."""
    if not topic.startswith(INGRESS_PREFIX):
        return None
    try:
        return uuid.UUID(topic[len(INGRESS_PREFIX) :])
    except ValueError:
        return None


def result_record(
    account_id: uuid.UUID, key: str, event_id: uuid.UUID | str | None = None, **fields: Any
) -> Record:
    """A CallResult for the account's results topic. A derived `event_id` lets a reader
    recognise a result published twice (an outbox row published again)."""
    event = new_event("CallResult", str(event_id) if event_id else None, **fields)
    return Record(
        topic=results_topic(account_id),
        key=key.encode(),
        value=encode(event),
        event_type="CallResult",
    )


def call_result_of_report(call: dict[str, Any]) -> Record:
    """The CallResult of a call's new state, as the projection reports it."""
    key = call.get("reference") or str(call["id"])
    caller, length = call.get("caller_number"), call.get("code_length")
    return result_record(
        call["account_id"],
        key,
        derived_id(call["id"], "CallResult", call["status"]),
        status=call["status"],
        call_id=call["id"],
        reference=call.get("reference"),
        service_id=call["service_id"],
        phone=call["phone"],
        caller_prefix=caller_prefix(caller, length) if caller and length else None,
        code_length=length,
        failure_reason=call.get("failure_reason"),
        cost=call.get("cost") or 0,
        channel=call.get("channel") or "flash_call",
    )
