"""The decisions processor: admits or rejects requested calls (limits, pumped number prefixes,
credit), follows each call's steps and their outcomes (charging delivered ones, starting the
next step of a workflow), applies top-ups and judges verification attempts. Its state lives in
PostgreSQL (proc_* tables), changed in the same transaction as its consumed offsets, with the
rows of the account and of the service locked: one writer per account and service, whatever
the number of workers (the prefix counts of a service are read under its lock too). The rules
themselves are pure, in core/ (admission, credit, fraud, verification, workflow); each module
here gathers one kind of decision's facts and writes its outcome (admission, outcomes, steps,
verification, credit), and this one routes each event to it."""

from __future__ import annotations

import functools
import itertools

import psycopg

from core.admission import AdmissionRules
from processors import fraud_book, range_health
from processors.decisions import admission, credit, outcomes, steps, verification
from processors.decisions.shared import DecisionRules, RunHandler, each, ignore
from processors.service_book import ServiceBook
from runtime.outbox import Outbox
from schemas.codec import Event

__all__ = ["CONSUMER", "DecisionRules", "Decisions"]

CONSUMER = "decisions"


class Decisions:
    def __init__(self, rules: DecisionRules) -> None:
        self.rules = rules
        self.admission = AdmissionRules(rules.phone_calls_per_hour, rules.retry_chain_max)
        # Every event type this consumer is delivered, and what applies it. Requests and dial
        # outcomes are decided a run at a time, in a few set-based statements.
        self.table: dict[str, RunHandler] = {
            "AccountCreated": each(self.on_account_limit),
            "AccountUpdated": each(self.on_account_limit),
            # On the accounts' topic, and nothing to do with credit.
            "AccountTokenRotated": ignore,
            "AccountStreamsEnabled": ignore,
            "ServiceCreated": each(self.on_service_created),
            "FraudBlockLifted": each(self.on_fraud_lifted),
            "FraudPrefixAllowed": each(self.on_fraud_allowed),
            "ServiceUpdated": each(self.on_service_updated),
            "CallRequested": functools.partial(admission.admit, rules, self.admission),
            "VerificationAttempted": each(
                functools.partial(verification.on_verification_attempted, rules)
            ),
            "TopUpCredit": each(credit.on_top_up),
            "CallDelivered": outcomes.record_outcomes,
            "CallFailed": outcomes.record_outcomes,
            "StepTimedOut": steps.on_step_timed_out,
            "NextChannelRequested": steps.on_next_channel,
        }
        self.handles = frozenset(self.table)
        # An attempt applied twice would count twice; an old service or account update applied
        # again after a newer one would undo it. The rest is idempotent by the call or top-up id.
        self.deduplicated = frozenset(
            {
                "VerificationAttempted",
                "ServiceUpdated",
                "AccountCreated",
                "AccountUpdated",
                "FraudBlockLifted",
            }
        )

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        """Apply a batch in order, a run of events of one handler at a time."""
        book = ServiceBook(self.rules.default_total_credit_limit)
        # Every account and service whose credit the batch may change is locked at once, in id
        # order (accounts first): locking them handler by handler could take two batches' locks
        # in opposite orders, and a deadlock costs a second before PostgreSQL detects it.
        await book.lock(
            conn,
            {e["service_id"] for e in events if e["event_type"] in CREDIT_EVENTS},
            missing_ok=True,
            account_ids=frozenset(
                e["account_id"] for e in events if e["event_type"] in ACCOUNT_EVENTS
            ),
        )
        for handler, run in itertools.groupby(events, key=lambda e: self.table[e["event_type"]]):
            await handler(conn, list(run), out, book)
        await range_health.count_outcomes(conn, book.range_dials)
        await book.save(conn, out)

    async def on_account_limit(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        """The account's own limit, when the event sets one (older AccountCreated do not)."""
        await book.lock_accounts(conn, {e["account_id"]})
        if e.get("total_credit_limit") is not None:
            book.set_total_limit(e["account_id"], e["total_credit_limit"])

    async def on_fraud_lifted(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        await fraud_book.lift(conn, e)

    async def on_fraud_allowed(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        await fraud_book.allow(conn, e)

    async def on_service_created(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        inserted = await (
            await conn.execute(
                "INSERT INTO proc_services (id, account_id, status, credit_limit)"
                " VALUES (%s, %s, 'active', %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (e["service_id"], e["account_id"], e["credit_limit"]),
            )
        ).fetchone()
        if inserted is not None:  # loaded, so that a zero limit is cut off at once
            await book.lock(conn, {e["service_id"]})

    async def on_service_updated(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        await book.lock(conn, {e["service_id"]})
        state = book[e["service_id"]]
        state.status = e["status"] or state.status
        if e["credit_limit"] is not None:
            state.credit.limit = e["credit_limit"]


# Events that may change an account's credit state (and so lock its row).
ACCOUNT_EVENTS = frozenset({"AccountCreated", "AccountUpdated", "ServiceCreated"})
# Events that may change a service's credit (and so lock its row and its account's).
CREDIT_EVENTS = frozenset(
    {
        "ServiceCreated",
        "ServiceUpdated",
        "TopUpCredit",
        "CallRequested",
        "CallDelivered",
        "CallFailed",
        "StepTimedOut",
        "NextChannelRequested",
    }
)
