"""The projection: builds the accounts, services, access-keys and calls read models.

Every write is an upsert keyed by the aggregate with absolute values (never an increment), so
applying an event twice changes nothing; the consumed offsets are stored in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.call_rules import STATUS_RANK, CallStatus
from core.ids import derived_id
from core.workflow import workflow_of
from projections import call_rollup, call_steps
from projections.call_report import report_event
from projections.read_model_metrics import observe_dial_latency
from runtime.outbox import Outbox
from runtime.stream_topics import call_result_of_report
from schemas import topics
from schemas.codec import Event

CONSUMER = "projection"
PROJECTED_TOPICS = (
    topics.ACCOUNTS,
    topics.SERVICES,
    topics.SERVICE_STATUS,
    topics.ACCOUNT_STATUS,
    topics.ACCESS_KEYS,
    topics.TEST_NUMBERS,
    topics.CALLER_RANGES,
    topics.CALL_REQUESTS,
    topics.CALL_DECISIONS,
    topics.REPLIES,
    topics.DIAL_PROGRESS,
    topics.DIAL_OUTCOMES,
    topics.CREDIT,
)


@dataclass
class Batch:
    """What a batch changes that is written set-based at its end: calls, ledger rows and
    each service's credit (the latest by credit_seq, whatever the topic it came by)."""

    calls: dict[Any, CallChange] = field(default_factory=dict)
    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    balances: dict[Any, tuple[int, int]] = field(default_factory=dict)  # -> (seq, balance)
    cut_offs: dict[Any, tuple[int, bool]] = field(default_factory=dict)  # -> (seq, cut off)

    def balance(self, service_id: Any, seq: int, balance: int) -> None:
        if seq > self.balances.get(service_id, (-1, 0))[0]:
            self.balances[service_id] = (seq, balance)

    def cut_off(self, service_id: Any, seq: int, cut_off: bool) -> None:
        if seq > self.cut_offs.get(service_id, (-1, False))[0]:
            self.cut_offs[service_id] = (seq, cut_off)


class Projector:
    def __init__(self, publish_reports: bool = True) -> None:
        # A rebuild replays history into a scratch schema: it must not publish it again.
        self.publish_reports = publish_reports
        # Key labels (they never change) for the reports, read once each.
        self._labels: dict[Any, str] = {}
        # Every event type this consumer is delivered, and what applies it: accounts, services
        # and keys at once, in order; calls, the ledger and credit into the batch's set-based
        # writes at its end (they do not depend on the order of their events).
        self.table: dict[str, Applier] = {
            "AccountCreated": self.on_account_created,
            "AccountUpdated": self.on_account_updated,
            "AccountTokenRotated": self.on_account_token_rotated,
            "AccountStreamsEnabled": self.on_account_streams_enabled,
            "ServiceCreated": self.on_service_created,
            "ServiceUpdated": self.on_service_updated,
            "ServiceCutOff": self.on_cut_off,
            "ServiceRestored": self.on_cut_off,
            "FraudSuspected": self.on_fraud_suspected,
            "FraudBlockLifted": self.on_fraud_lifted,
            "FraudPrefixAllowed": self.on_fraud_allowed,
            "AccountCutOff": self.on_account_cut_off,
            "AccountRestored": self.on_account_cut_off,
            # A warning for the webhooks and the metrics; the balance shows where it stands.
            "AccountCreditLow": self.ignore,
            "AccessKeyIssued": self.on_access_key_issued,
            "AccessKeyRevoked": self.on_access_key_revoked,
            "TestNumberAdded": self.on_test_number_added,
            "TestNumberRemoved": self.on_test_number_removed,
            "RangeAdded": self.on_range_added,
            "RangeStatusChanged": self.on_range_status,
            "RangeQuarantined": self.on_range_quarantined,
            "RangeReleased": self.on_range_released,
            "CallRequested": self.on_call,
            "CallRejected": self.on_call,
            "DialStarted": self.on_call,
            "CallAnswered": self.on_call,
            "CallDelivered": self.on_call,
            "CallFailed": self.on_call,
            "VerificationJudged": self.on_call,
            "CodeVerified": self.on_call,
            "CodeExpired": self.on_call,
            "StepStarted": self.on_call,
            "CreditDebited": self.on_debit,
            "CreditToppedUp": self.on_top_up,
        }
        self.handles = frozenset(self.table)
        # Updates of accounts and services set values: an old one applied again after a newer
        # one would undo it. Calls, the ledger and credit are upserts that copies cannot move.
        self.deduplicated = frozenset(
            {
                "AccountUpdated",
                "AccountTokenRotated",
                "ServiceUpdated",
                "AccessKeyRevoked",
                "TestNumberAdded",
                "TestNumberRemoved",
                "RangeStatusChanged",
            }
        )

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        """Apply a batch, then every call it touched in one upsert and the credit in a few,
        then publish the new record of each changed call to the report topic."""
        batch = Batch()
        for event in events:
            await self.table[event["event_type"]](conn, event, batch)
        await write_credit(conn, batch)
        changed = await upsert_calls(conn, batch.calls)
        observe_dial_latency(events, changed)
        if self.publish_reports:
            await self.report(conn, changed, out)

    async def report(
        self, conn: psycopg.AsyncConnection, calls: list[dict[str, Any]], out: Outbox
    ) -> None:
        """Publish the full, current record of these changed calls, as the reports show it,
        once they are delivered or finished (and at every change after that): the passing
        states of a call in flight (queued, dialling) are not published."""
        calls = [
            c
            for c in calls
            if c["service_id"] is not None and c["status_rank"] >= STATUS_RANK["delivered"]
        ]
        missing = [c["key_id"] for c in calls if c["key_id"] not in self._labels]
        if missing:
            rows = await (
                await conn.execute(
                    "SELECT id, label FROM access_keys WHERE id = ANY(%b)", (list(set(missing)),)
                )
            ).fetchall()
            self._labels.update(dict(rows))
        for call in calls:
            out.emit(report_event(call, self._labels.get(call["key_id"])))
        await self.stream_results(conn, calls, out)

    async def stream_results(
        self, conn: psycopg.AsyncConnection, calls: list[dict[str, Any]], out: Outbox
    ) -> None:
        """The same changes for the results topic of accounts that stream (docs/streaming.md)."""
        accounts = list({c["account_id"] for c in calls})
        if not accounts:
            return
        rows = await (
            await conn.execute(
                "SELECT id FROM accounts WHERE id = ANY(%b) AND streams_enabled", (accounts,)
            )
        ).fetchall()
        streaming = {row[0] for row in rows}
        for call in calls:
            if call["account_id"] in streaming:
                out.emit_record(call_result_of_report(call))

    async def on_call(self, _: psycopg.AsyncConnection, e: Event, batch: Batch) -> None:
        change = call_change(e)
        if change is not None:
            batch.calls.setdefault(e["call_id"], CallChange()).add(**change)

    # ------------------------------------------------------------------ accounts and services
    async def on_account_created(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO accounts (id, name, token_hash, price_per_call, price_per_sms,"
            " credit_limit, total_credit_limit, time_zone, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                e["account_id"],
                e["name"],
                e["token_hash"],
                e["price_per_call"],
                e.get("price_per_sms"),
                e["credit_limit"],
                e.get("total_credit_limit"),
                e.get("time_zone"),
                e["occurred_at"],
                e["occurred_at"],
            ),
        )

    async def on_account_updated(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "UPDATE accounts SET name = COALESCE(%s, name),"
            " price_per_call = COALESCE(%s, price_per_call),"
            " price_per_sms = COALESCE(%s, price_per_sms),"
            " credit_limit = COALESCE(%s, credit_limit), time_zone = COALESCE(%s, time_zone),"
            " total_credit_limit = COALESCE(%s, total_credit_limit),"
            " updated_at = %s WHERE id = %s",
            (
                e["name"],
                e["price_per_call"],
                e.get("price_per_sms"),
                e["credit_limit"],
                e.get("time_zone"),
                e.get("total_credit_limit"),
                e["occurred_at"],
                e["account_id"],
            ),
        )

    async def on_account_token_rotated(
        self, conn: psycopg.AsyncConnection, e: Event, _: Batch
    ) -> None:
        await conn.execute(
            "UPDATE accounts SET token_hash = %s, updated_at = %s WHERE id = %s",
            (e["token_hash"], e["occurred_at"], e["account_id"]),
        )

    async def on_account_streams_enabled(
        self, conn: psycopg.AsyncConnection, e: Event, _: Batch
    ) -> None:
        await conn.execute(
            "UPDATE accounts SET streams_enabled = true WHERE id = %s", (e["account_id"],)
        )

    async def on_service_created(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO services (id, account_id, name, code_length, code_ttl_minutes,"
            " return_code, status, credit_limit, allowed_regions, blocked_number_types,"
            " workflow, sms_template, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                e["service_id"],
                e["account_id"],
                e["name"],
                e["code_length"],
                e["code_ttl_minutes"],
                e["return_code"],
                e["credit_limit"],
                e.get("allowed_regions"),
                e.get("blocked_number_types"),
                _json(e.get("workflow")),
                e.get("sms_template"),
                e["occurred_at"],
                e["occurred_at"],
            ),
        )

    async def on_service_updated(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "UPDATE services SET name = COALESCE(%s, name),"
            " code_length = COALESCE(%s, code_length),"
            " code_ttl_minutes = COALESCE(%s, code_ttl_minutes),"
            " return_code = COALESCE(%s, return_code), status = COALESCE(%s, status),"
            " credit_limit = COALESCE(%s, credit_limit),"
            " allowed_regions = COALESCE(%s, allowed_regions),"
            " blocked_number_types = COALESCE(%s, blocked_number_types),"
            " workflow = COALESCE(%s, workflow), sms_template = COALESCE(%s, sms_template),"
            " updated_at = %s WHERE id = %s",
            (
                e["name"],
                e["code_length"],
                e["code_ttl_minutes"],
                e["return_code"],
                e["status"],
                e["credit_limit"],
                e.get("allowed_regions"),
                e.get("blocked_number_types"),
                _json(e.get("workflow")),
                e.get("sms_template"),
                e["occurred_at"],
                e["service_id"],
            ),
        )

    async def on_access_key_issued(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO access_keys (id, service_id, account_id, label, prefix, key_hash,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                e["key_id"],
                e["service_id"],
                e["account_id"],
                e["label"],
                e["prefix"],
                e["key_hash"],
                e["occurred_at"],
            ),
        )

    async def on_test_number_added(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO test_numbers (id, service_id, phone, code, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (service_id, phone) DO UPDATE"
            " SET code = EXCLUDED.code, created_at = EXCLUDED.created_at",
            (
                derived_id(e["service_id"], "test-number", e["phone"]),
                e["service_id"],
                e["phone"],
                e["code"],
                e["occurred_at"],
            ),
        )

    async def on_test_number_removed(
        self, conn: psycopg.AsyncConnection, e: Event, _: Batch
    ) -> None:
        await conn.execute(
            "DELETE FROM test_numbers WHERE service_id = %s AND phone = %s",
            (e["service_id"], e["phone"]),
        )

    async def on_range_added(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO caller_ranges (id, pattern, trunk, destinations, status, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, 'active', %s, %s) ON CONFLICT DO NOTHING",
            (
                e["range_id"],
                e["pattern"],
                e.get("trunk"),
                e.get("destinations") or [],
                e["occurred_at"],
                e["occurred_at"],
            ),
        )

    async def on_range_status(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "UPDATE caller_ranges SET status = %s, updated_at = %s WHERE id = %s",
            (e["status"], e["occurred_at"], e["range_id"]),
        )

    async def on_range_quarantined(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        # A quarantine in a row with one still open closes it (it was never released).
        await conn.execute(
            "UPDATE caller_range_quarantines SET released_at = %s WHERE range_id = %s"
            " AND network = %s AND released_at IS NULL AND since < %s",
            (e["occurred_at"], e["range_id"], e["network"], e["occurred_at"]),
        )
        await conn.execute(
            "INSERT INTO caller_range_quarantines (range_id, network, since, until, strikes,"
            " dialled, delivered, baseline_ratio, last_for_network)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                e["range_id"],
                e["network"],
                e["occurred_at"],
                e["until"],
                e["strikes"],
                e["dialled"],
                e["delivered"],
                e["baseline_ratio"],
                e.get("last_for_network", False),
            ),
        )

    async def on_range_released(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "UPDATE caller_range_quarantines SET released_at = %s WHERE range_id = %s"
            " AND network = %s AND released_at IS NULL",
            (e["occurred_at"], e["range_id"], e["network"]),
        )

    async def on_cut_off(self, _: psycopg.AsyncConnection, e: Event, batch: Batch) -> None:
        batch.cut_off(e["service_id"], e["credit_seq"], e["event_type"] == "ServiceCutOff")
        batch.balance(e["service_id"], e["credit_seq"], e["balance"])

    async def on_account_cut_off(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        await conn.execute(
            "INSERT INTO account_credit (account_id, cut_off, cut_off_seq) VALUES (%s, %s, %s)"
            " ON CONFLICT (account_id) DO UPDATE SET cut_off = EXCLUDED.cut_off,"
            " cut_off_seq = EXCLUDED.cut_off_seq"
            " WHERE account_credit.cut_off_seq < EXCLUDED.cut_off_seq",
            (e["account_id"], e["event_type"] == "AccountCutOff", e["credit_seq"]),
        )

    async def on_fraud_suspected(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        # Lifted already if a lifting at or after it was projected first (another topic).
        await conn.execute(
            "INSERT INTO fraud_blocks (service_id, prefix, blocked_at, until, requests, verified,"
            " lifted_at) SELECT %s, %s, %s, %s, %s, %s, (SELECT min(lifted_at) FROM fraud_lifts"
            "   WHERE service_id = %s AND prefix = %s AND lifted_at >= %s)"
            " ON CONFLICT DO NOTHING",
            (
                e["service_id"],
                e["prefix"],
                e["occurred_at"],
                e["until"],
                e["requests"],
                e["verified"],
                e["service_id"],
                e["prefix"],
                e["occurred_at"],
            ),
        )

    async def on_fraud_lifted(self, conn: psycopg.AsyncConnection, e: Event, _: Batch) -> None:
        """A lifting ends every block of the prefix made before it (the first lifting wins)."""
        ids = (e["service_id"], e["prefix"], e["occurred_at"])
        await conn.execute(
            "INSERT INTO fraud_lifts (service_id, prefix, lifted_at) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            ids,
        )
        await conn.execute(
            "UPDATE fraud_blocks SET lifted_at = %s WHERE service_id = %s AND prefix = %s"
            " AND blocked_at <= %s AND (lifted_at IS NULL OR lifted_at > %s)",
            (e["occurred_at"], *ids, e["occurred_at"]),
        )

    async def on_fraud_allowed(self, conn: psycopg.AsyncConnection, e: Event, b: Batch) -> None:
        await self.on_fraud_lifted(conn, e, b)
        await conn.execute(
            "INSERT INTO fraud_allowed (service_id, prefix, allowed_at) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (e["service_id"], e["prefix"], e["occurred_at"]),
        )

    async def ignore(self, *_: Any) -> None:
        """Delivered with events this consumer needs, and nothing to it."""

    async def on_debit(self, _: psycopg.AsyncConnection, e: Event, batch: Batch) -> None:
        # The call's cost is its price from its delivery on (the rule the debit follows):
        # the debit itself changes only the ledger and the balance.
        self._ledger(e, batch, "debit", call_id=e["call_id"])

    async def on_top_up(self, _: psycopg.AsyncConnection, e: Event, batch: Batch) -> None:
        self._ledger(e, batch, "topup", reference=e["reference"])

    def _ledger(
        self, e: Event, batch: Batch, kind: str, call_id: Any = None, reference: str | None = None
    ) -> None:
        batch.ledger.append(
            (
                e["event_id"],
                e["service_id"],
                kind,
                e["amount"],
                e["balance_after"],
                call_id,
                reference,
                e["credit_seq"],
                e["occurred_at"],
            )
        )
        batch.balance(e["service_id"], e["credit_seq"], e["balance_after"])

    async def on_access_key_revoked(
        self, conn: psycopg.AsyncConnection, e: Event, _: Batch
    ) -> None:
        await conn.execute(
            "UPDATE access_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s",
            (e["occurred_at"], e["key_id"]),
        )


Applier = Callable[[psycopg.AsyncConnection, Event, Batch], Awaitable[None]]


async def write_credit(conn: psycopg.AsyncConnection, batch: Batch) -> None:
    """The batch's ledger rows and the latest balance and cut-off flag of each service (a
    service's credit events reach us from several topics: the highest credit_seq wins)."""
    if batch.ledger:
        await conn.execute(
            "INSERT INTO ledger (id, service_id, type, amount, balance_after, call_id, reference,"
            " credit_seq, created_at) SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::text[],"
            " %b::bigint[], %b::bigint[], %b::uuid[], %b::text[], %b::bigint[],"
            " %b::timestamptz[]) ORDER BY 1 ON CONFLICT (id) DO NOTHING",
            [list(column) for column in zip(*batch.ledger, strict=True)],
        )
    if batch.balances:
        ids = sorted(batch.balances)
        await conn.execute(
            "INSERT INTO service_credit (service_id, credit_seq, balance)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[]) ORDER BY 1"
            " ON CONFLICT (service_id) DO UPDATE SET balance = EXCLUDED.balance,"
            " credit_seq = EXCLUDED.credit_seq"
            " WHERE service_credit.credit_seq < EXCLUDED.credit_seq",
            (ids, [batch.balances[i][0] for i in ids], [batch.balances[i][1] for i in ids]),
        )
    if batch.cut_offs:
        ids = sorted(batch.cut_offs)
        await conn.execute(
            "INSERT INTO service_credit (service_id, cut_off_seq, cut_off)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::boolean[]) ORDER BY 1"
            " ON CONFLICT (service_id) DO UPDATE SET cut_off = EXCLUDED.cut_off,"
            " cut_off_seq = EXCLUDED.cut_off_seq"
            " WHERE service_credit.cut_off_seq < EXCLUDED.cut_off_seq",
            (ids, [batch.cut_offs[i][0] for i in ids], [batch.cut_offs[i][1] for i in ids]),
        )


# ---------------------------------------------------------------------------------- calls
# Columns an event may set on a call (set once: the first value wins), with their SQL types.
CALL_COLUMNS: dict[str, str] = {
    "service_id": "uuid",
    "account_id": "uuid",
    "key_id": "uuid",
    "phone": "text",
    "caller_number": "text",
    "code_length": "int",
    "attempt": "int",
    "retry_of": "uuid",
    "price_per_call": "bigint",
    "created_at": "timestamptz",
    "failure_reason": "text",
    "dialed_at": "timestamptz",
    "delivered_at": "timestamptz",
    "expires_at": "timestamptz",
    "verified_at": "timestamptz",
    "expired_at": "timestamptz",
    "reference": "text",
    "network": "text",
    "answered": "boolean",
    "test": "boolean",
    "price_per_sms": "bigint",
    "step_count": "int",
}
# Merged otherwise than first value wins: a later step's delivery extends the code's validity.
LATEST_COLUMNS = frozenset({"expires_at"})


@dataclass
class CallChange:
    """What the events of one batch say about one call, merged."""

    status: str = CallStatus.QUEUED
    columns: dict[str, Any] = field(default_factory=dict)
    verify_attempts: int = 0
    steps: dict[str, Any] = field(default_factory=dict)  # projections/call_steps.py
    step: int | None = None  # the latest step the batch speaks of
    channel: str | None = None  # its channel

    def add(
        self,
        status: str | None = None,
        columns: dict[str, Any] | None = None,
        verify_attempts: int = 0,
        step: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        if status is not None and STATUS_RANK[status] > STATUS_RANK[self.status]:
            self.status = status
        for name, value in (columns or {}).items():
            if name in LATEST_COLUMNS and value is not None:
                old = self.columns.get(name)
                self.columns[name] = value if old is None else max(old, value)
            elif self.columns.get(name) is None:
                self.columns[name] = value
        self.verify_attempts = max(self.verify_attempts, verify_attempts)
        if step is not None:
            index, keys = step
            for key, value in keys.items():
                self.steps.setdefault(key, value)
            if self.step is None or index > self.step:
                self.step, self.channel = index, keys[f"{index}.channel"]

    @property
    def cost(self) -> int:
        """A call costs each delivered step's price (billing rules), as far as this batch
        says."""
        if not self.steps:
            delivered = self.columns.get("delivered_at") is not None
            return int(self.columns.get("price_per_call") or 0) if delivered else 0
        return call_steps.cost(
            self.steps, self.columns.get("price_per_call"), self.columns.get("price_per_sms")
        )


def call_change(e: Event) -> dict[str, Any] | None:
    """What an event sets on its call (CallChange.add arguments); None if nothing."""
    change = _call_change(e)
    step = call_steps.step_keys(e)
    if step is not None:
        change = {**(change or {}), "step": step}
    return change


def _call_change(e: Event) -> dict[str, Any] | None:
    kind, at = e["event_type"], e["occurred_at"]
    if kind == "CallRequested":
        columns = {name: e[name] for name in CALL_COLUMNS if name in e}
        columns["step_count"] = len(workflow_of(e.get("workflow")))
        return {"status": CallStatus.QUEUED, "columns": {**columns, "created_at": at}}
    if kind == "CallRejected":
        return {"status": CallStatus.REJECTED, "columns": {"failure_reason": e["reason"]}}
    if kind == "DialStarted":
        return {"status": CallStatus.DIALING, "columns": {"dialed_at": at}}
    if kind == "CallAnswered":  # after its delivery; the status stays what it is
        return {"status": CallStatus.DELIVERED, "columns": {"answered": True}}
    if kind == "CallDelivered":
        columns = {
            "delivered_at": at,
            "expires_at": e["expires_at"],
            "dialed_at": e.get("dialed_at"),
        }
        return {"status": CallStatus.DELIVERED, "columns": columns}
    if kind == "CallFailed":
        if not e.get("fails_call", True):  # only the step failed: its record says so
            return {"columns": {"dialed_at": e.get("dialed_at")}}
        columns = {"failure_reason": e["reason"], "dialed_at": e.get("dialed_at")}
        return {"status": CallStatus.FAILED, "columns": columns}
    if kind == "VerificationJudged" and e["found"]:
        return {"verify_attempts": e["verify_attempts"]}
    if kind == "CodeVerified":
        columns = {"verified_at": at}
        return {
            "status": CallStatus.VERIFIED,
            "columns": columns,
            "verify_attempts": e["verify_attempts"],
        }
    if kind == "CodeExpired":
        return {"status": CallStatus.EXPIRED, "columns": {"expired_at": at}}
    return None


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _merged(name: str) -> str:
    if name in LATEST_COLUMNS:
        return f"{name} = GREATEST(calls.{name}, EXCLUDED.{name})"
    return f"{name} = COALESCE(calls.{name}, EXCLUDED.{name})"


def _changes(name: str) -> str:
    newer = f" OR EXCLUDED.{name} > calls.{name}" if name in LATEST_COLUMNS else ""
    return f"(calls.{name} IS NULL AND EXCLUDED.{name} IS NOT NULL{newer})"


MERGED_STEPS = "(COALESCE(EXCLUDED.steps, '{}') || COALESCE(calls.steps, '{}'))"
UPSERT_CALLS = (
    "INSERT INTO calls (id, status, status_rank, verify_attempts, cost, steps, step, channel,"
    f" {', '.join(CALL_COLUMNS)})"
    " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::int[], %b::int[], %b::bigint[],"
    " %b::jsonb[], %b::int[], %b::text[], "
    + ", ".join(f"%b::{sql_type}[]" for sql_type in CALL_COLUMNS.values())
    # Rows in id order: agents of other topics upsert the same calls, and rows locked in one
    # order everywhere cannot deadlock.
    + ") ORDER BY 1 ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(_merged(name) for name in CALL_COLUMNS)
    # A call's steps: each key keeps its first value (projections/call_steps.py).
    + f", steps = CASE WHEN EXCLUDED.steps IS NULL THEN calls.steps ELSE {MERGED_STEPS} END"
    ", channel = CASE WHEN calls.step IS NULL OR EXCLUDED.step > calls.step"
    " THEN COALESCE(EXCLUDED.channel, calls.channel) ELSE calls.channel END"
    ", step = GREATEST(calls.step, EXCLUDED.step)"
    + ", status = CASE WHEN EXCLUDED.status_rank > calls.status_rank"
    " THEN EXCLUDED.status ELSE calls.status END"
    ", status_rank = GREATEST(calls.status_rank, EXCLUDED.status_rank)"
    ", verify_attempts = GREATEST(calls.verify_attempts, EXCLUDED.verify_attempts)"
    # Each delivered step's price, whichever of the request and the outcomes came first;
    # calls projected before workflows (no steps): its price from the delivery on.
    ", cost = CASE WHEN COALESCE(EXCLUDED.steps, calls.steps) IS NOT NULL"
    f" THEN flashcall_call_cost({MERGED_STEPS},"
    " COALESCE(calls.price_per_call, EXCLUDED.price_per_call),"
    " COALESCE(calls.price_per_sms, EXCLUDED.price_per_sms))"
    " WHEN COALESCE(calls.delivered_at, EXCLUDED.delivered_at) IS NOT NULL"
    " THEN COALESCE(calls.price_per_call, EXCLUDED.price_per_call, 0) ELSE 0 END"
    # Only rows the batch really changes are written (and returned, to be reported).
    " WHERE EXCLUDED.status_rank > calls.status_rank"
    " OR EXCLUDED.verify_attempts > calls.verify_attempts"
    " OR (EXCLUDED.steps IS NOT NULL AND NOT COALESCE(calls.steps, '{}') @> EXCLUDED.steps)"
    " OR "
    + " OR ".join(_changes(n) for n in CALL_COLUMNS)
    # xmax is 0 on a row version this statement inserted (not on one it updated).
    + " RETURNING calls.*, calls.xmax = 0 AS inserted"
)


async def upsert_calls(
    conn: psycopg.AsyncConnection, changes: dict[Any, CallChange]
) -> list[dict[str, Any]]:
    """One statement for every call a batch touched, and the calls it changed moved in the
    rollup; returns the rows it changed."""
    if not changes:
        return []
    before = await call_rollup.lock_calls(conn, list(changes))
    rows = list(changes.items())
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        UPSERT_CALLS,
        (
            [call_id for call_id, _ in rows],
            [c.status for _, c in rows],
            [STATUS_RANK[c.status] for _, c in rows],
            [c.verify_attempts for _, c in rows],
            [c.cost for _, c in rows],
            [Jsonb(c.steps) if c.steps else None for _, c in rows],
            [c.step for _, c in rows],
            [c.channel for _, c in rows],
            *([c.columns.get(name) for _, c in rows] for name in CALL_COLUMNS),
        ),
    )
    changed = await cur.fetchall()
    call_rollup.check_inserted(before, changed)
    await call_rollup.roll_up(conn, call_rollup.moves(before, changed))
    for row in changed:
        del row["inserted"]
    return changed
