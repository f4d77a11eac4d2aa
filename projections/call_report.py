"""The call report: a call with its key's label, as the API lists and exports it and as the
report topic carries it; its filters and summary buckets.

List, CSV, Excel and the report topic all read through REPORT, so they always agree; the
summary reads the rollup of the same rows (projections/call_rollup.py) and REPORT for what the
rollup does not keep.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.call_rules import FINISHED
from core.number_pool import caller_prefix
from core.workflow import Channel
from projections import call_steps
from schemas.codec import Event, new_event

# The caller number carries the code: shown only once the call is finished.
REPORT = (
    "(SELECT c.id, c.account_id, c.service_id, c.key_id, k.label AS key_label, c.phone,"
    " c.status, c.failure_reason, c.attempt, c.retry_of, c.code_length,"
    # The caller number without the code (core.number_pool.caller_prefix): shown at once.
    " left(c.caller_number, -c.code_length) AS caller_prefix,"
    " CASE WHEN c.status = ANY('{" + ",".join(sorted(FINISHED)) + "}') THEN c.caller_number"
    " END AS caller_number, c.created_at, c.dialed_at, c.delivered_at, c.expires_at,"
    " c.verified_at, c.expired_at, c.verify_attempts, c.cost, c.reference,"
    " COALESCE(c.answered, false) AS answered, COALESCE(c.test, false) AS test,"
    " COALESCE(c.channel, 'flash_call') AS channel, c.steps, c.network"
    " FROM calls c LEFT JOIN access_keys k ON k.id = c.key_id"
    " WHERE c.service_id IS NOT NULL) AS report"
)

COLUMNS = (
    "id",
    "service_id",
    "key_id",
    "key_label",
    "phone",
    "status",
    "failure_reason",
    "attempt",
    "retry_of",
    "code_length",
    "caller_prefix",
    "caller_number",
    "created_at",
    "dialed_at",
    "delivered_at",
    "expires_at",
    "verified_at",
    "expired_at",
    "verify_attempts",
    "cost",
    "reference",
    "answered",
    "test",
    "channel",
    "network",
)


def report_event(call: dict[str, Any], key_label: str | None) -> Event:
    """The CallReported of a row of the calls table: what REPORT shows of it."""
    shown = {name: call[name] for name in COLUMNS if name in call and name != "id"}
    caller, length = call.get("caller_number"), call.get("code_length")
    shown["caller_prefix"] = caller_prefix(caller, length) if caller and length else None
    if call["status"] not in FINISHED:
        shown["caller_number"] = None
    shown["answered"] = bool(call.get("answered"))
    shown["test"] = bool(call.get("test"))
    shown["channel"] = call.get("channel") or Channel.FLASH_CALL.value
    shown["steps"] = call_steps.timed(call.get("steps"))
    return new_event(
        "CallReported",
        call_id=call["id"],
        account_id=call["account_id"],
        key_label=key_label,
        **shown,
    )


@dataclass(frozen=True)
class ReportFilter:
    account_id: uuid.UUID
    service_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    status: str | None = None
    phone: str | None = None
    reference: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions on REPORT (starting with WHERE) and their parameters."""
        clauses: list[str] = ["account_id = %s"]
        params: list[Any] = [self.account_id]
        for column, value in (
            ("service_id", self.service_id),
            ("key_id", self.key_id),
            ("status", self.status),
            ("phone", self.phone),
            ("reference", self.reference),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if self.start is not None:
            clauses.append("created_at >= %s")
            params.append(utc(self.start))
        if self.end is not None:
            clauses.append("created_at < %s")
            params.append(utc(self.end))
        return " WHERE " + " AND ".join(clauses), params


def utc(moment: datetime) -> datetime:
    """RFC 3339 times carry an offset (up to ±23:59; PostgreSQL reads offsets below 16 hours
    only, and COPY binds parameters as text): in UTC. A bare one is read as UTC."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
