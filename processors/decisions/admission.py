"""Admission: each requested call admitted (its dial command sent) or rejected, by the rules of
core/admission.py (the service, its credit, the phone's window, the retry chain, pumped
prefixes), a run of requests at a time in a few set-based statements, in request order."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.admission import AdmissionRules, Request, refusal
from core.call_rules import PHONE_WINDOW_SECONDS, CallStatus, RejectReason, code_ttl_seconds
from core.fraud import prefix_of
from core.ids import derived_id
from core.workflow import Channel, StepAt, step_price, workflow_of
from processors.decisions.shared import ADMITTED, DecisionRules, code_expired, derived
from processors.decisions.steps import CallSteps, StepStatus, deadline, step_command
from processors.dial_records import outcome_event
from processors.fraud_book import FraudBook
from processors.service_book import ServiceBook
from runtime.outbox import Outbox
from schemas.codec import Event

Decided = list[tuple[Event, RejectReason | None]]
# Each call's service and the number prefix the fraud rules count it under.
Prefixes = dict[Any, tuple[Any, str]]


async def admit(
    rules: DecisionRules,
    admission: AdmissionRules,
    conn: psycopg.AsyncConnection,
    requests: list[Event],
    out: Outbox,
    book: ServiceBook,
) -> None:
    """Decide a run of CallRequested: record each call, then send its dial command or its
    rejection. What the rules need is asked at once, answered in one round trip; a request
    decided before (an idempotent retry) is then left out."""
    digits = rules.fraud.prefix_digits
    prefixes = {e["call_id"]: (e["service_id"], prefix_of(e["phone"], digits)) for e in requests}
    fraud = FraudBook(rules.fraud)
    known = await conn.execute(
        "SELECT id FROM proc_calls WHERE id = ANY(%b)", ([e["call_id"] for e in requests],)
    )
    parents = await _ask_parents(conn, requests)
    window = await _ask_window(conn, requests)
    prefix_counts = await fraud.ask(conn, set(prefixes.values()), requests[0]["occurred_at"])
    fresh = _fresh(requests, await known.fetchall())
    if not fresh:
        return
    await book.lock(conn, {e["service_id"] for e in fresh})
    roots = _chain_roots(fresh, await parents.fetchall() if parents else [])
    await fraud.read(prefix_counts)
    decided = _judge(admission, fresh, _window(await window.fetchall()), prefixes, fraud, out, book)
    await fraud.save(conn)
    # A call to a test number is delivered as it is admitted: its code is valid from now.
    expiries = {
        e["call_id"]: e["occurred_at"] + timedelta(seconds=_ttl(rules, e))
        for e, reason in decided
        if reason is None and e.get("test")
    }
    await _record(conn, rules, decided, roots, prefixes, expiries)
    await _announce(conn, rules, decided, roots, expiries, out)


async def _announce(
    conn: psycopg.AsyncConnection,
    rules: DecisionRules,
    decided: Decided,
    roots: dict[Any, Any],
    expiries: dict[Any, datetime],
    out: Outbox,
) -> None:
    """Each decision's events: a rejection; or a dial command (the admission), after a retry's
    earlier codes are superseded; or, to a test number, the delivery itself."""
    for e, reason in decided:
        ids = {"call_id": e["call_id"], "service_id": e["service_id"]}
        if reason is not None:
            out.emit(derived("CallRejected", e, reason=reason, **ids))
            continue
        if e["retry_of"] is not None:
            await _supersede_chain(conn, e, roots[e["call_id"]], out)
        if e["call_id"] in expiries:  # rings no one: its outcome is the dialer's, said here
            out.emit(
                outcome_event(
                    "CallDelivered",
                    occurred_at=e["occurred_at"],
                    expires_at=expiries[e["call_id"]],
                    dialed_at=e["occurred_at"],
                    step=0,
                    channel=workflow_of(e.get("workflow"))[0].channel.value,
                    **ids,
                )
            )
            continue
        # The first step's command is the admission (nobody reads a CallAdmitted besides it).
        call = CallSteps.requested(e, _ttl(rules, e))
        kind = "SendSms" if call.at.step.channel == Channel.SMS else "PlaceCall"
        out.emit(step_command(call, call.at, event_id=str(derived_id(e["event_id"], kind))))


def _first_price(e: Event) -> int:
    """What the call's first step reserves (and its delivery charges)."""
    first = workflow_of(e.get("workflow"))[0]
    return step_price(first.channel, e["price_per_call"], e.get("price_per_sms") or 0)


def _ttl(rules: DecisionRules, e: Event) -> float:
    return code_ttl_seconds(e["code_ttl_minutes"], rules.ttl_minute_seconds)


def _step_status(e: Event, reason: RejectReason | None) -> str | None:
    """A rejected call has no step; a test call's one step is delivered as it is admitted."""
    if reason is not None:
        return None
    return StepStatus.DELIVERED if e.get("test") else StepStatus.STARTED


def _first_deadline(e: Event, reason: RejectReason | None) -> datetime | None:
    if reason is not None or e.get("test"):
        return None
    return deadline(StepAt(0, workflow_of(e.get("workflow"))), e["occurred_at"])


def _status(e: Event, reason: RejectReason | None) -> str:
    if reason is not None:
        return CallStatus.REJECTED
    return CallStatus.DELIVERED if e.get("test") else ADMITTED


def _fresh(requests: list[Event], known: list[Any]) -> list[Event]:
    """The requests not decided yet (`known`: the rows of those that were), each once."""
    seen = {row[0] for row in known}
    fresh = []
    for e in requests:
        if e["call_id"] not in seen:
            seen.add(e["call_id"])
            fresh.append(e)
    return fresh


def _judge(
    admission: AdmissionRules,
    requests: list[Event],
    window: dict[tuple[Any, str], list[datetime]],
    prefixes: Prefixes,
    fraud: FraudBook,
    out: Outbox,
    book: ServiceBook,
) -> Decided:
    """Each request's refusal (None: admitted), in order: an admitted call counts in its
    phone's window and its prefix's count for the requests after it."""
    decided: Decided = []
    for e in requests:
        service = book[e["service_id"]]
        earlier = window.setdefault((e["service_id"], e["phone"]), [])
        test = bool(e.get("test"))
        request = Request(e["occurred_at"], e["attempt"], _first_price(e), test)
        prefix = prefixes[e["call_id"]]
        reason = refusal(
            admission,
            request,
            service.status,
            earlier,
            service.credit,
            functools.partial(fraud.blocked, prefix, e, out),
        )
        if test:  # counted by no limit, priced at nothing
            decided.append((e, reason))
            continue
        service.last_price = e["price_per_call"]
        service.account.last_price = e["price_per_call"]
        if reason is None:
            earlier.append(e["occurred_at"])
            fraud.admitted(prefix)
        decided.append((e, reason))
    return decided


async def _record(
    conn: psycopg.AsyncConnection,
    rules: DecisionRules,
    decided: Decided,
    roots: dict[Any, Any],
    prefixes: Prefixes,
    expiries: dict[Any, datetime],
) -> None:
    """The decided calls in proc_calls: admitted (their first step started), rejected, or, to
    a test number, delivered at once (nothing to charge: a delivery recorded again changes
    nothing), with what their later steps need."""
    await conn.execute(
        "INSERT INTO proc_calls (id, service_id, phone, chain_root, attempt, caller_number,"
        " code_length, status, requested_at, price, prefix, expires_at, test, workflow,"
        " step_status, step_deadline, delivered_once, sms_text, price_per_call, price_per_sms,"
        " code_ttl_seconds, range_id, network, trunk) SELECT * FROM"
        " unnest(%b::uuid[], %b::uuid[], %b::text[], %b::uuid[], %b::int[], %b::text[],"
        " %b::int[], %b::text[], %b::timestamptz[], %b::bigint[], %b::text[],"
        " %b::timestamptz[], %b::boolean[], %b::jsonb[], %b::text[], %b::timestamptz[],"
        " %b::boolean[], %b::text[], %b::bigint[], %b::bigint[], %b::float8[], %b::uuid[],"
        " %b::text[], %b::text[])"
        " ON CONFLICT (id) DO NOTHING",
        (
            [e["call_id"] for e, _ in decided],
            [e["service_id"] for e, _ in decided],
            [e["phone"] for e, _ in decided],
            [roots[e["call_id"]] for e, _ in decided],
            [e["attempt"] for e, _ in decided],
            [e["caller_number"] for e, _ in decided],
            [e["code_length"] for e, _ in decided],
            [_status(e, r) for e, r in decided],
            [e["occurred_at"] for e, _ in decided],
            [_first_price(e) for e, _ in decided],
            [prefixes[e["call_id"]][1] for e, _ in decided],
            [expiries.get(e["call_id"]) for e, _ in decided],
            [bool(e.get("test")) for e, _ in decided],
            [Jsonb(e.get("workflow")) if e.get("workflow") else None for e, _ in decided],
            [_step_status(e, r) for e, r in decided],
            [_first_deadline(e, r) for e, r in decided],
            [bool(e.get("test")) for e, _ in decided],
            [e.get("sms_text") for e, _ in decided],
            [e["price_per_call"] for e, _ in decided],
            [e.get("price_per_sms") or 0 for e, _ in decided],
            [_ttl(rules, e) for e, _ in decided],
            [e.get("range_id") for e, _ in decided],
            [e.get("network") for e, _ in decided],
            [e.get("trunk") for e, _ in decided],
        ),
    )


async def _ask_parents(
    conn: psycopg.AsyncConnection, requests: list[Event]
) -> psycopg.AsyncCursor[Any] | None:
    """Send the query of the retried calls' chains (None: no retry among the requests)."""
    parents = [e["retry_of"] for e in requests if e["retry_of"] is not None]
    if not parents:
        return None
    return await conn.execute(
        "SELECT id, chain_root FROM proc_calls WHERE id = ANY(%b)", (parents,)
    )


def _chain_roots(requests: list[Event], parents: list[Any]) -> dict[Any, Any]:
    """The first call of each request's retry chain (itself for a first call); `parents`:
    the retried calls' rows (id, chain root)."""
    roots: dict[Any, Any] = dict(parents)
    for e in requests:
        parent = e["retry_of"]
        roots[e["call_id"]] = e["call_id"] if parent is None else roots.get(parent, parent)
    return roots


async def _ask_window(
    conn: psycopg.AsyncConnection, requests: list[Event]
) -> psycopg.AsyncCursor[Any]:
    """Send the query of when each requested (service, phone) was last called, within the
    hour before."""
    since = min(e["occurred_at"] for e in requests) - timedelta(seconds=PHONE_WINDOW_SECONDS)
    pairs = sorted({(e["service_id"], e["phone"]) for e in requests})
    return await conn.execute(
        "SELECT c.service_id, c.phone, c.requested_at FROM proc_calls c"
        " JOIN unnest(%b::uuid[], %b::text[]) AS w(service_id, phone)"
        "   ON c.service_id = w.service_id AND c.phone = w.phone"
        " WHERE c.requested_at > %s AND c.status <> %s AND NOT c.test",
        ([s for s, _ in pairs], [p for _, p in pairs], since, CallStatus.REJECTED),
    )


def _window(rows: list[Any]) -> dict[tuple[Any, str], list[datetime]]:
    window: dict[tuple[Any, str], list[datetime]] = {}
    for service_id, phone, at in rows:
        window.setdefault((service_id, phone), []).append(at)
    return window


async def _supersede_chain(
    conn: psycopg.AsyncConnection, e: Event, chain_root: Any, out: Outbox
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
