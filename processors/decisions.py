"""The decisions processor: admits or rejects requested calls (limits, pumped number prefixes,
credit), follows each call's dial outcome (charging delivered calls), applies top-ups and judges
verification attempts. Its state lives in PostgreSQL (proc_* tables), changed in the same
transaction as its consumed offsets, with the rows of the account and of the service locked:
one writer per account and service, whatever the number of workers (the prefix counts of a
service are read under its lock too). The rules themselves are pure, in core/ (admission,
credit, fraud, verification); this module gathers their facts and writes their outcome."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from core.admission import AdmissionRules, Request, refusal
from core.call_rules import PHONE_WINDOW_SECONDS, CallStatus, RejectReason, code_ttl_seconds
from core.fraud import FraudRules, prefix_of
from core.ids import derived_id
from core.verification import CallForVerify, judge
from processors import fraud_book
from processors.fraud_book import FraudBook
from processors.service_book import ServiceBook, credit_event
from runtime.outbox import Outbox
from schemas.codec import Event, new_event

CONSUMER = "decisions"

# proc_calls.status adds "admitted" (decided, being dialled) to the public statuses; the
# projection alone tells queued from dialing.
ADMITTED = "admitted"


@dataclass(frozen=True)
class DecisionRules:
    phone_calls_per_hour: int
    retry_chain_max: int
    verify_max_attempts: int
    ttl_minute_seconds: float
    default_total_credit_limit: int  # for accounts whose operator set none
    fraud: FraudRules


def derived(event_type: str, source: Event, **fields: Any) -> Event:
    """An event caused by `source`, with an id fixed by it (so a replay re-creates the same id)."""
    return new_event(event_type, event_id=str(derived_id(source["event_id"], event_type)), **fields)


# Handles a run of consecutive events of its types, in the batch's transaction.
RunHandler = Callable[[psycopg.AsyncConnection, list[Event], Outbox, ServiceBook], Awaitable[None]]
EventHandler = Callable[[psycopg.AsyncConnection, Event, Outbox, ServiceBook], Awaitable[None]]


def each(handler: EventHandler) -> RunHandler:
    """A run handler applying `handler` to each event of the run in turn."""

    async def run(
        conn: psycopg.AsyncConnection, events: list[Event], out: Outbox, book: ServiceBook
    ) -> None:
        for event in events:
            await handler(conn, event, out, book)

    return run


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
            "CallRequested": self.admit,
            "VerificationAttempted": each(self.on_verification_attempted),
            "TopUpCredit": each(self.on_top_up),
            "CallDelivered": self.record_outcomes,
            "CallFailed": self.record_outcomes,
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

    async def on_top_up(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, book: ServiceBook
    ) -> None:
        done = await (
            await conn.execute(
                "SELECT amount, reference, balance_after, credit_seq, created_at FROM proc_topups"
                " WHERE id = %s",
                (e["topup_id"],),
            )
        ).fetchone()
        if done is not None:
            # Asked again (same Idempotency-Key): answer again with the same event.
            amount, reference, balance_after, seq, at = done
            out.emit(
                new_event(
                    "CreditToppedUp",
                    event_id=str(derived_id(e["topup_id"], "CreditToppedUp")),
                    occurred_at=at,
                    topup_id=e["topup_id"],
                    service_id=e["service_id"],
                    amount=amount,
                    reference=reference,
                    balance_after=balance_after,
                    credit_seq=seq,
                )
            )
            return
        await book.lock(conn, {e["service_id"]})
        state = book[e["service_id"]]
        state.credit.top_up(e["amount"])
        event = credit_event(
            "CreditToppedUp",
            e["topup_id"],
            state,
            topup_id=e["topup_id"],
            amount=e["amount"],
            reference=e["reference"],
            balance_after=state.credit.balance,
        )
        await conn.execute(
            "INSERT INTO proc_topups (id, service_id, amount, reference, balance_after,"
            " credit_seq, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                e["topup_id"],
                e["service_id"],
                e["amount"],
                e["reference"],
                state.credit.balance,
                event["credit_seq"],
                event["occurred_at"],
            ),
        )
        out.emit(event)

    async def admit(
        self, conn: psycopg.AsyncConnection, requests: list[Event], out: Outbox, book: ServiceBook
    ) -> None:
        """Decide a run of CallRequested in a few set-based statements, in request order."""
        known = await (
            await conn.execute(
                "SELECT id FROM proc_calls WHERE id = ANY(%b)", ([e["call_id"] for e in requests],)
            )
        ).fetchall()
        seen = {row[0] for row in known}  # a request made again (an idempotent retry) is a no-op
        fresh = []
        for e in requests:
            if e["call_id"] not in seen:
                seen.add(e["call_id"])
                fresh.append(e)
        if not fresh:
            return
        await book.lock(conn, {e["service_id"] for e in fresh})
        roots = await self._chain_roots(conn, fresh)
        window = await self._phone_window(conn, fresh)
        digits = self.rules.fraud.prefix_digits
        prefixes = {e["call_id"]: (e["service_id"], prefix_of(e["phone"], digits)) for e in fresh}
        fraud = FraudBook(self.rules.fraud)
        await fraud.load(conn, set(prefixes.values()), fresh[0]["occurred_at"])
        decided: list[tuple[Event, RejectReason | None]] = []
        for e in fresh:
            service = book[e["service_id"]]
            earlier = window.setdefault((e["service_id"], e["phone"]), [])
            request = Request(e["occurred_at"], e["attempt"], e["price_per_call"])
            prefix = prefixes[e["call_id"]]
            reason = refusal(
                self.admission,
                request,
                service.status,
                earlier,
                service.credit,
                functools.partial(fraud.blocked, prefix, e, out),
            )
            service.last_price = e["price_per_call"]
            service.account.last_price = e["price_per_call"]
            if reason is None:
                earlier.append(e["occurred_at"])
                fraud.admitted(prefix)
            decided.append((e, reason))
        await fraud.save(conn)
        await conn.execute(
            "INSERT INTO proc_calls (id, service_id, phone, chain_root, attempt, caller_number,"
            " code_length, status, requested_at, price, prefix) SELECT * FROM unnest(%b::uuid[],"
            " %b::uuid[], %b::text[], %b::uuid[], %b::int[], %b::text[], %b::int[], %b::text[],"
            " %b::timestamptz[], %b::bigint[], %b::text[]) ON CONFLICT (id) DO NOTHING",
            (
                [e["call_id"] for e, _ in decided],
                [e["service_id"] for e, _ in decided],
                [e["phone"] for e, _ in decided],
                [roots[e["call_id"]] for e, _ in decided],
                [e["attempt"] for e, _ in decided],
                [e["caller_number"] for e, _ in decided],
                [e["code_length"] for e, _ in decided],
                [ADMITTED if r is None else CallStatus.REJECTED for _, r in decided],
                [e["occurred_at"] for e, _ in decided],
                [e["price_per_call"] for e, _ in decided],
                [prefixes[e["call_id"]][1] for e, _ in decided],
            ),
        )
        for e, reason in decided:
            ids = {"call_id": e["call_id"], "service_id": e["service_id"]}
            if reason is not None:
                out.emit(derived("CallRejected", e, reason=reason, **ids))
                continue
            if e["retry_of"] is not None:
                await self._supersede_chain(conn, e, roots[e["call_id"]], out)
            # The dial command is the admission (nobody reads a CallAdmitted besides it).
            out.emit(
                derived(
                    "PlaceCall",
                    e,
                    phone=e["phone"],
                    caller_number=e["caller_number"],
                    code_ttl_seconds=code_ttl_seconds(
                        e["code_ttl_minutes"], self.rules.ttl_minute_seconds
                    ),
                    **ids,
                )
            )

    async def _chain_roots(
        self, conn: psycopg.AsyncConnection, requests: list[Event]
    ) -> dict[Any, Any]:
        """The first call of each request's retry chain (itself for a first call)."""
        parents = [e["retry_of"] for e in requests if e["retry_of"] is not None]
        rows = (
            await (
                await conn.execute(
                    "SELECT id, chain_root FROM proc_calls WHERE id = ANY(%b)", (parents,)
                )
            ).fetchall()
            if parents
            else []
        )
        roots: dict[Any, Any] = dict(rows)
        for e in requests:
            parent = e["retry_of"]
            roots[e["call_id"]] = e["call_id"] if parent is None else roots.get(parent, parent)
        return roots

    async def _phone_window(
        self, conn: psycopg.AsyncConnection, requests: list[Event]
    ) -> dict[tuple[Any, str], list[datetime]]:
        """When each requested (service, phone) was last called, within the hour before."""
        since = min(e["occurred_at"] for e in requests) - timedelta(seconds=PHONE_WINDOW_SECONDS)
        pairs = sorted({(e["service_id"], e["phone"]) for e in requests})
        rows = await (
            await conn.execute(
                "SELECT c.service_id, c.phone, c.requested_at FROM proc_calls c"
                " JOIN unnest(%b::uuid[], %b::text[]) AS w(service_id, phone)"
                "   ON c.service_id = w.service_id AND c.phone = w.phone"
                " WHERE c.requested_at > %s AND c.status <> %s",
                ([s for s, _ in pairs], [p for _, p in pairs], since, CallStatus.REJECTED),
            )
        ).fetchall()
        window: dict[tuple[Any, str], list[datetime]] = {}
        for service_id, phone, at in rows:
            window.setdefault((service_id, phone), []).append(at)
        return window

    async def _supersede_chain(
        self, conn: psycopg.AsyncConnection, e: Event, chain_root: Any, out: Outbox
    ) -> None:
        """A retry invalidates every earlier code of its chain."""
        rows = await (
            await conn.execute(
                "UPDATE proc_calls SET status = %s WHERE chain_root = %s AND id <> %s"
                " AND status = %s RETURNING id, service_id",
                (CallStatus.EXPIRED, chain_root, e["call_id"], CallStatus.DELIVERED),
            )
        ).fetchall()
        for call_id, service_id in rows:
            out.emit(code_expired(call_id, service_id))

    async def record_outcomes(
        self,
        conn: psycopg.AsyncConnection,
        outcomes: list[Event],
        out: Outbox,
        book: ServiceBook,
    ) -> None:
        """A run of dial outcomes: a delivered call is charged (exactly once: only the move
        out of "admitted" charges), a failed one gives its reservation back."""
        await book.lock(conn, {e["service_id"] for e in outcomes})
        rows = await (
            await conn.execute(
                "UPDATE proc_calls p SET status = o.status, expires_at = o.expires_at"
                " FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[])"
                " AS o(id, status, expires_at)"
                " WHERE p.id = o.id AND p.status = %s"
                " RETURNING p.id, p.service_id, p.status, p.price",
                (
                    [e["call_id"] for e in outcomes],
                    [
                        CallStatus.DELIVERED
                        if e["event_type"] == "CallDelivered"
                        else CallStatus.FAILED
                        for e in outcomes
                    ],
                    [e.get("expires_at") for e in outcomes],
                    ADMITTED,
                ),
            )
        ).fetchall()
        for call_id, service_id, status, price in sorted(rows, key=lambda r: str(r[0])):
            state = book[service_id]
            if status == CallStatus.DELIVERED:
                state.credit.debit(price)
                out.emit(
                    credit_event(
                        "CreditDebited",
                        call_id,
                        state,
                        call_id=call_id,
                        amount=price,
                        balance_after=state.credit.balance,
                    )
                )
            else:
                state.credit.release(price)
                out.emit(
                    new_event(
                        "CreditReleased",
                        event_id=str(derived_id(call_id, "CreditReleased")),
                        call_id=call_id,
                        service_id=service_id,
                        amount=price,
                    )
                )

    async def on_verification_attempted(
        self, conn: psycopg.AsyncConnection, e: Event, out: Outbox, _: ServiceBook
    ) -> None:
        row = await (
            await conn.execute(
                "SELECT c.status, c.caller_number, c.code_length, c.expires_at, c.verify_attempts,"
                " EXISTS (SELECT 1 FROM proc_calls later WHERE later.chain_root = c.chain_root"
                "   AND later.attempt > c.attempt AND later.status <> %s)"
                " FROM proc_calls c WHERE c.id = %s AND c.service_id = %s FOR UPDATE OF c",
                (CallStatus.REJECTED, e["call_id"], e["service_id"]),
            )
        ).fetchone()
        ids = {
            "attempt_id": e["attempt_id"],
            "call_id": e["call_id"],
            "service_id": e["service_id"],
        }
        if row is None:
            out.emit(
                derived(
                    "VerificationJudged",
                    e,
                    found=False,
                    verified=False,
                    reason=None,
                    attempts_left=0,
                    verify_attempts=0,
                    status="unknown",
                    **ids,
                )
            )
            return
        status = CallStatus.QUEUED if row[0] == ADMITTED else row[0]
        call = CallForVerify(status, row[1], row[2], row[3], row[4], superseded=row[5])
        verdict = judge(call, e["code"], e["occurred_at"], self.rules.verify_max_attempts)
        await conn.execute(
            "UPDATE proc_calls SET verify_attempts = %s,"
            " status = CASE WHEN %s THEN status ELSE %s END WHERE id = %s",
            (verdict.verify_attempts, verdict.status == status, verdict.status, e["call_id"]),
        )
        out.emit(
            derived(
                "VerificationJudged",
                e,
                found=True,
                verified=verdict.verified,
                reason=verdict.reason,
                attempts_left=verdict.attempts_left,
                verify_attempts=verdict.verify_attempts,
                status=verdict.status,
                **ids,
            )
        )
        # Only the attempt that verifies says so: an attempt after it ("already verified")
        # would announce the verification again (a second call.verified webhook).
        if verdict.status == CallStatus.VERIFIED and status != CallStatus.VERIFIED:
            out.emit(
                derived(
                    "CodeVerified",
                    e,
                    call_id=e["call_id"],
                    service_id=e["service_id"],
                    verify_attempts=verdict.verify_attempts,
                )
            )
        elif verdict.status == CallStatus.EXPIRED and status == CallStatus.DELIVERED:
            out.emit(code_expired(e["call_id"], e["service_id"]))


async def ignore(*_: Any) -> None:
    """Delivered with events this consumer needs, and nothing to it."""


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
    }
)


def code_expired(call_id: Any, service_id: Any) -> Event:
    """CodeExpired has one id per call, whoever notices the expiry first."""
    return new_event(
        "CodeExpired",
        event_id=str(derived_id(call_id, "CodeExpired")),
        call_id=call_id,
        service_id=service_id,
    )
