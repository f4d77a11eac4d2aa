"""The decisions, dialer and projection handlers fed batches of events directly, against the
real database and without the broker: in order, reversed, shuffled, duplicated under the same
and under new event ids (what a replay after the applied ids were pruned looks like). Each rule
is tested here, where it is enforced, with the API's guards out of the way."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus, RejectReason
from core.ids import derived_id
from processors import dial_records
from processors.carriers import Carrier, DialResult
from processors.decisions import DecisionRules, Decisions
from processors.dialer import Dialer
from projections.read_models import Projector
from runtime.batches import Consumer
from runtime.outbox import Outbox, Publisher
from schemas.codec import Event, decode, encode, new_event
from tests.unit.test_fraud import RULES as FRAUD_RULES

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
PRICE = 1000
RULES = DecisionRules(
    phone_calls_per_hour=5,
    retry_chain_max=4,
    verify_max_attempts=5,
    ttl_minute_seconds=60.0,
    default_total_credit_limit=5_000_000,
    fraud=FRAUD_RULES,
)


async def apply(
    pool: AsyncConnectionPool, consumer: Consumer, events: Sequence[Event]
) -> list[Event]:
    """One batch through the handler, in one transaction, as stored and read back from a
    topic; returns what it emitted."""
    out = Outbox()
    async with pool.connection() as conn, conn.transaction():
        await consumer.handle(conn, [decode(encode(e)) for e in events], out)
    return out.events


async def apply_each(
    pool: AsyncConnectionPool, consumer: Consumer, events: Sequence[Event]
) -> list[Event]:
    """Each event in a batch of its own."""
    emitted: list[Event] = []
    for event in events:
        emitted += await apply(pool, consumer, [event])
    return emitted


def copy(event: Event) -> Event:
    """The same event under a new id (published twice, or replayed after pruning)."""
    return {**event, "event_id": str(uuid.uuid4())}


def of_type(events: list[Event], event_type: str) -> list[Event]:
    return [e for e in events if e["event_type"] == event_type]


# ------------------------------------------------------------------------------- decisions
class Tenant:
    """An account with one service, known to the decisions."""

    def __init__(self, credit_limit: int = 1_000_000) -> None:
        self.account_id = uuid.uuid4()
        self.service_id = uuid.uuid4()
        self.key_id = uuid.uuid4()
        self.credit_limit = credit_limit

    def opening(self) -> list[Event]:
        return [
            new_event(
                "AccountCreated",
                occurred_at=T0 - timedelta(days=1),
                account_id=self.account_id,
                name="acme",
                token_hash="x",
                price_per_call=PRICE,
                credit_limit=self.credit_limit,
                total_credit_limit=10_000_000,
            ),
            new_event(
                "ServiceCreated",
                occurred_at=T0 - timedelta(days=1),
                service_id=self.service_id,
                account_id=self.account_id,
                name="login",
                code_length=5,
                code_ttl_minutes=2,
                return_code=False,
                credit_limit=self.credit_limit,
            ),
        ]

    def request(
        self,
        phone: str,
        at: datetime,
        attempt: int = 1,
        retry_of: uuid.UUID | None = None,
        call_id: uuid.UUID | None = None,
        test: bool = False,
    ) -> Event:
        return new_event(
            "CallRequested",
            test=test,
            occurred_at=at,
            call_id=call_id or uuid.uuid4(),
            service_id=self.service_id,
            account_id=self.account_id,
            key_id=self.key_id,
            phone=phone,
            caller_number=f"+9821{random.randrange(10**8):08d}",
            code_length=5,
            code_ttl_minutes=2,
            attempt=attempt,
            retry_of=retry_of,
            price_per_call=0 if test else PRICE,
        )


def phone() -> str:
    return f"+98912{random.randrange(10**7):07d}"


@pytest.fixture
async def decisions(pool: AsyncConnectionPool) -> Decisions:
    return Decisions(RULES)


@pytest.mark.parametrize("batching", ["one batch", "a batch each"])
async def test_the_processor_itself_admits_five_calls_per_phone_and_hour(
    pool: AsyncConnectionPool, decisions: Decisions, batching: str
) -> None:
    """With several API instances the processor is the only real limit: the sixth call to a
    phone within the hour is refused here, whatever the API let through."""
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    number = phone()
    requests = [tenant.request(number, T0 + timedelta(minutes=i)) for i in range(6)]
    other = tenant.request(phone(), T0 + timedelta(minutes=6))
    run = apply if batching == "one batch" else apply_each
    emitted = await run(pool, decisions, [*requests, other])
    placed = {e["call_id"] for e in of_type(emitted, "PlaceCall")}
    assert placed == {r["call_id"] for r in requests[:5]} | {other["call_id"]}
    place = of_type(emitted, "PlaceCall")[0]
    assert (place["phone"], place["caller_number"], place["service_id"]) == (
        requests[0]["phone"],
        requests[0]["caller_number"],
        tenant.service_id,
    )
    assert place["code_ttl_seconds"] == 2 * RULES.ttl_minute_seconds
    [rejected] = of_type(emitted, "CallRejected")
    assert rejected["call_id"] == requests[5]["call_id"]
    assert rejected["reason"] == RejectReason.RATE_LIMITED
    assert rejected["service_id"] == tenant.service_id
    # An hour after the first call, the phone has room again.
    later = tenant.request(number, T0 + timedelta(minutes=60, seconds=1))
    assert of_type(await apply(pool, decisions, [later]), "PlaceCall")


async def test_a_test_numbers_calls_are_delivered_at_once_uncharged_and_uncounted(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant(credit_limit=0)  # no room for a single real call
    await apply(pool, decisions, tenant.opening())
    number = phone()
    tests = [tenant.request(number, T0 + timedelta(minutes=i), test=True) for i in range(7)]
    emitted = await apply(pool, decisions, tests)
    assert of_type(emitted, "PlaceCall") == [] and of_type(emitted, "CallRejected") == []
    delivered = of_type(emitted, "CallDelivered")
    assert [d["call_id"] for d in delivered] == [t["call_id"] for t in tests]
    first = delivered[0]
    assert first["expires_at"] == T0 + timedelta(seconds=2 * RULES.ttl_minute_seconds)
    assert first["event_id"] == str(derived_id(tests[0]["call_id"], "outcome"))
    # The dial outcome coming back through its topic charges nothing.
    assert of_type(await apply(pool, decisions, delivered), "CreditDebited") == []
    # It verifies with the code its caller number carries.
    code = tests[0]["caller_number"][-5:]
    attempt = new_event(
        "VerificationAttempted",
        occurred_at=T0 + timedelta(seconds=30),
        attempt_id=uuid.uuid4(),
        call_id=tests[0]["call_id"],
        service_id=tenant.service_id,
        key_id=tenant.key_id,
        code=code,
    )
    [judged] = of_type(await apply(pool, decisions, [attempt]), "VerificationJudged")
    assert judged["verified"] is True
    # Seven test calls took none of the phone's five an hour (the real call is refused for
    # credit here, not for the phone's rate).
    real = tenant.request(number, T0 + timedelta(minutes=8))
    [rejected] = of_type(await apply(pool, decisions, [real]), "CallRejected")
    assert rejected["reason"] == RejectReason.CREDIT_LIMIT_REACHED


async def test_the_processor_itself_caps_a_retry_chain(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    rules = RULES.retry_chain_max
    first = tenant.request(phone(), T0)
    chain = [first]
    for attempt in range(2, rules + 2):  # one past the cap
        parent = chain[-1]
        chain.append(
            tenant.request(
                first["phone"] if attempt <= 5 else phone(),  # the phone limit out of the way
                T0 + timedelta(minutes=attempt),
                attempt=attempt,
                retry_of=parent["call_id"],
            )
        )
    emitted = await apply_each(pool, decisions, chain)
    assert len(of_type(emitted, "PlaceCall")) == rules
    [rejected] = of_type(emitted, "CallRejected")
    assert rejected["call_id"] == chain[-1]["call_id"]
    assert rejected["reason"] == "retry_limit_reached"  # the API's 409 code, not rate_limited


async def test_a_request_applied_again_under_any_id_is_decided_once(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    request = tenant.request(phone(), T0)
    first = await apply(pool, decisions, [request, copy(request)])  # twice in one batch
    again = await apply(pool, decisions, [request, copy(request)])
    again += await apply(pool, decisions, [copy(request)])
    assert len(of_type(first, "PlaceCall")) == 1 and again == []


async def test_a_delivery_applied_again_is_charged_once_and_a_late_failure_changes_nothing(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant, request = await an_admitted_call(pool, decisions)
    ids = {"call_id": request["call_id"], "service_id": tenant.service_id}
    delivered = new_event(
        "CallDelivered", occurred_at=T0, expires_at=T0 + timedelta(minutes=2), **ids
    )
    failed = new_event("CallFailed", occurred_at=T0, reason="busy", **ids)
    emitted = await apply(pool, decisions, [delivered, copy(delivered)])
    emitted += await apply_each(pool, decisions, [delivered, copy(delivered), failed])
    [debit] = of_type(emitted, "CreditDebited")
    assert debit["amount"] == PRICE and debit["balance_after"] == -PRICE
    assert (debit["call_id"], debit["service_id"]) == (ids["call_id"], ids["service_id"])
    assert debit["event_id"] == str(derived_id(ids["call_id"], "CreditDebited"))
    assert of_type(emitted, "CreditReleased") == []
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT status FROM proc_calls WHERE id = %s", (ids["call_id"],))
        ).fetchone()
    assert row == (CallStatus.DELIVERED,)


async def test_credit_stops_calls_at_the_limit_and_a_failure_gives_the_room_back(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant(credit_limit=2 * PRICE)
    await apply(pool, decisions, tenant.opening())
    calls = [tenant.request(phone(), T0 + timedelta(seconds=i)) for i in range(3)]
    emitted = await apply(pool, decisions, calls)
    assert len(of_type(emitted, "PlaceCall")) == 2
    [rejected] = of_type(emitted, "CallRejected")
    assert rejected["reason"] == RejectReason.CREDIT_LIMIT_REACHED
    ids = {"call_id": calls[0]["call_id"], "service_id": tenant.service_id}
    failed = await apply(pool, decisions, [new_event("CallFailed", reason="busy", **ids)])
    [released] = of_type(failed, "CreditReleased")
    assert {k: released[k] for k in ("call_id", "service_id", "amount")} == {**ids, "amount": PRICE}
    assert released["event_id"] == str(derived_id(ids["call_id"], "CreditReleased"))
    assert of_type(failed, "CreditDebited") == []
    again = tenant.request(phone(), T0 + timedelta(seconds=10))
    assert of_type(await apply(pool, decisions, [again]), "PlaceCall")


async def an_admitted_call(pool: AsyncConnectionPool, decisions: Decisions) -> tuple[Tenant, Event]:
    """A new tenant's call, requested at T0 and admitted (not rung yet)."""
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    request = tenant.request(phone(), T0)
    await apply(pool, decisions, [request])
    return tenant, request


async def delivered_call(
    pool: AsyncConnectionPool, decisions: Decisions, tenant: Tenant, at: datetime = T0
) -> Event:
    """A call admitted and rung at `at`, its code valid for two minutes."""
    request = tenant.request(phone(), at)
    await apply(pool, decisions, [request])
    ring = new_event(
        "CallDelivered",
        occurred_at=at,
        call_id=request["call_id"],
        service_id=tenant.service_id,
        expires_at=at + timedelta(minutes=2),
    )
    await apply(pool, decisions, [ring])
    return request


def attempt(request: Event, code: str, at: datetime) -> Event:
    return new_event(
        "VerificationAttempted",
        occurred_at=at,
        attempt_id=uuid.uuid4(),
        call_id=request["call_id"],
        service_id=request["service_id"],
        key_id=request["key_id"],
        code=code,
    )


def verdicts(emitted: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (
            e["found"],
            e["verified"],
            e["reason"],
            e["attempts_left"],
            e["verify_attempts"],
            e["status"],
        )
        for e in of_type(emitted, "VerificationJudged")
    ]


async def a_rung_call(
    pool: AsyncConnectionPool, decisions: Decisions
) -> tuple[Tenant, Event, str, str]:
    """A new tenant's call that rang at T0; its code, and a code that is not it."""
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = await delivered_call(pool, decisions, tenant)
    code = call["caller_number"][-5:]
    return tenant, call, code, f"{(int(code) + 1) % 10**5:05d}"


async def test_verification_counts_judged_guesses_and_verifies_once(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant, call, code, wrong = await a_rung_call(pool, decisions)
    at = T0 + timedelta(seconds=10)
    guessed = await apply(pool, decisions, [attempt(call, wrong, at)])
    verifying = attempt(call, code, at)
    right = await apply(pool, decisions, [verifying])
    emitted = guessed + right + await apply(pool, decisions, [attempt(call, code, at)])
    assert of_type(guessed, "CodeExpired") == [] and of_type(guessed, "CodeVerified") == []
    [said] = of_type(right, "CodeVerified")  # by the attempt that verified
    assert said["event_id"] == str(derived_id(verifying["event_id"], "CodeVerified"))
    assert said["service_id"] == tenant.service_id
    assert verdicts(emitted) == [
        (True, False, "invalid_code", 4, 1, CallStatus.DELIVERED),
        (True, True, None, 3, 2, CallStatus.VERIFIED),
        (True, False, "already_verified", 3, 2, CallStatus.VERIFIED),
    ]
    [verified] = of_type(emitted, "CodeVerified")
    assert verified["call_id"] == call["call_id"] and verified["verify_attempts"] == 2


async def test_verification_stops_after_five_guesses(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    _, call, code, wrong = await a_rung_call(pool, decisions)
    at = T0 + timedelta(seconds=10)
    guesses = [attempt(call, wrong, at) for _ in range(RULES.verify_max_attempts)]
    emitted = await apply(pool, decisions, [*guesses, attempt(call, code, at)])
    judged = verdicts(emitted)
    assert [v[3] for v in judged] == [4, 3, 2, 1, 0, 0]
    assert judged[-1] == (True, False, "too_many_attempts", 0, 5, CallStatus.DELIVERED)
    assert of_type(emitted, "CodeVerified") == []


async def test_a_code_expires_at_its_time_and_a_retry_supersedes_it(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = await delivered_call(pool, decisions, tenant)
    code = call["caller_number"][-5:]
    expiry = T0 + timedelta(minutes=2)
    just_before = await apply(
        pool, decisions, [attempt(call, "00000", expiry - timedelta(seconds=1))]
    )
    at_expiry = await apply(pool, decisions, [attempt(call, code, expiry)])
    assert verdicts(just_before)[0][2] == "invalid_code"
    assert verdicts(at_expiry) == [(True, False, "expired", 4, 1, CallStatus.EXPIRED)]
    [expired] = of_type(at_expiry, "CodeExpired")
    assert (expired["call_id"], expired["service_id"]) == (call["call_id"], tenant.service_id)
    assert of_type(just_before, "CodeExpired") == []

    first = await delivered_call(pool, decisions, tenant, T0 + timedelta(minutes=5))
    retry = tenant.request(
        first["phone"], T0 + timedelta(minutes=6), attempt=2, retry_of=first["call_id"]
    )
    emitted = await apply(pool, decisions, [retry])
    assert [(e["call_id"], e["service_id"]) for e in of_type(emitted, "CodeExpired")] == [
        (first["call_id"], tenant.service_id)
    ]
    # A third call of the chain supersedes the second (the chain's root is the first call).
    ring = new_event(
        "CallDelivered",
        call_id=retry["call_id"],
        service_id=tenant.service_id,
        expires_at=T0 + timedelta(minutes=9),
    )
    await apply(pool, decisions, [ring])
    third = tenant.request(
        first["phone"], T0 + timedelta(minutes=7), attempt=3, retry_of=retry["call_id"]
    )
    emitted = await apply(pool, decisions, [third])
    assert [e["call_id"] for e in of_type(emitted, "CodeExpired")] == [retry["call_id"]]
    late = await apply(
        pool, decisions, [attempt(first, first["caller_number"][-5:], T0 + timedelta(minutes=6))]
    )
    assert verdicts(late)[0][1:3] == (False, "expired")


async def test_an_attempt_before_the_ring_or_for_no_call_costs_nothing(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant, request = await an_admitted_call(pool, decisions)
    early = await apply(pool, decisions, [attempt(request, request["caller_number"][-5:], T0)])
    assert verdicts(early) == [(True, False, "not_delivered", 5, 0, CallStatus.QUEUED)]
    unknown = tenant.request(phone(), T0)  # never requested
    missing = await apply(pool, decisions, [attempt(unknown, "12345", T0)])
    assert verdicts(missing) == [(False, False, None, 0, 0, "unknown")]
    [judged] = missing
    assert (judged["call_id"], judged["service_id"]) == (unknown["call_id"], tenant.service_id)
    assert judged["attempt_id"] is not None


# ---------------------------------------------------------------------------------- dialer
def place_call() -> Event:
    """A dial command for a new call of a new service."""
    return new_event(
        "PlaceCall",
        call_id=uuid.uuid4(),
        service_id=uuid.uuid4(),
        phone=phone(),
        caller_number="+982100012345",
        code_ttl_seconds=120,
    )


class NoCarrier:
    async def dial(self, *_: Any) -> Any:
        raise AssertionError("the handler only claims; dials start after the commit")


async def test_the_dialer_claims_a_call_once_under_any_event_id(pool: AsyncConnectionPool) -> None:
    dialer = Dialer(pool, cast(Publisher, None), cast(Carrier, NoCarrier()), concurrency=4)
    command = place_call()
    claimed = []
    for batch in ([command, copy(command)], [command], [copy(command)]):
        await apply(pool, dialer, batch)
        claimed.append([c["call_id"] for c in dialer._claimed])
        assert all(c["dialed_at"] is not None for c in dialer._claimed)
        dialer._claimed = []  # as start_claimed would take them
    assert claimed == [[command["call_id"]], [], []]


# ------------------------------------------------------------------------------ projection
def call_history(price: int = PRICE) -> tuple[uuid.UUID, list[Event]]:
    """Every event of one verified call, in the order they happen."""
    call_id, service_id = uuid.uuid4(), uuid.uuid4()
    ids = {"call_id": call_id, "service_id": service_id}
    ring = T0 + timedelta(seconds=2)
    return call_id, [
        new_event(
            "CallRequested",
            occurred_at=T0,
            account_id=uuid.uuid4(),
            key_id=uuid.uuid4(),
            phone=phone(),
            caller_number="+982100054321",
            code_length=5,
            code_ttl_minutes=2,
            attempt=1,
            retry_of=None,
            price_per_call=price,
            **ids,
        ),
        new_event("DialStarted", occurred_at=T0 + timedelta(seconds=1), **ids),
        new_event(
            "CallDelivered",
            occurred_at=ring,
            expires_at=ring + timedelta(minutes=2),
            dialed_at=T0 + timedelta(seconds=1),
            **ids,
        ),
        new_event(
            "VerificationJudged",
            occurred_at=ring + timedelta(seconds=5),
            attempt_id=uuid.uuid4(),
            found=True,
            verified=False,
            reason="invalid_code",
            attempts_left=4,
            verify_attempts=1,
            status=CallStatus.DELIVERED,
            **ids,
        ),
        new_event(
            "VerificationJudged",
            occurred_at=ring + timedelta(seconds=9),
            attempt_id=uuid.uuid4(),
            found=True,
            verified=True,
            reason=None,
            attempts_left=3,
            verify_attempts=2,
            status=CallStatus.VERIFIED,
            **ids,
        ),
        new_event(
            "CodeVerified", occurred_at=ring + timedelta(seconds=9), verify_attempts=2, **ids
        ),
    ]


CALL_FIELDS = (
    "status, status_rank, verify_attempts, cost, phone, caller_number, created_at, dialed_at,"
    " delivered_at, expires_at, verified_at, expired_at, failure_reason"
)


async def call_row(pool: AsyncConnectionPool, call_id: uuid.UUID) -> tuple[Any, ...] | None:
    async with pool.connection() as conn:
        return await (
            await conn.execute(f"SELECT {CALL_FIELDS} FROM calls WHERE id = %s", (call_id,))
        ).fetchone()


def orders(events: list[Event]) -> dict[str, list[list[Event]]]:
    """The same history cut into batches in every way a consumer may see it."""
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    twice = [e for event in events for e in (event, copy(event))]
    return {
        "one batch": [events],
        "reversed, one batch": [events[::-1]],
        "reversed, a batch each": [[e] for e in events[::-1]],
        "shuffled, a batch each": [[e] for e in shuffled],
        "each twice under new ids": [[e] for e in twice],
        "all again after it was applied": [events, events[::-1]],
    }


@pytest.mark.parametrize("order", list(orders([])))
async def test_a_calls_row_is_the_same_however_its_events_arrive(
    pool: AsyncConnectionPool, order: str
) -> None:
    projector = Projector(publish_reports=False)
    expected_id, expected_history = call_history()
    for batch in orders(expected_history)["one batch"]:
        await apply(pool, projector, batch)
    expected = await call_row(pool, expected_id)
    assert expected is not None and expected[0] == CallStatus.VERIFIED
    assert expected[2] == 2 and expected[3] == PRICE  # attempts, cost

    call_id, history = call_history()
    for batch in orders(history)[order]:
        await apply(pool, projector, batch)
    row = await call_row(pool, call_id)
    assert row is not None
    # The same row but for the phone (each history has its own; times are the same).
    assert row[:4] + row[5:] == expected[:4] + expected[5:]


async def test_a_late_event_never_moves_a_call_backwards(pool: AsyncConnectionPool) -> None:
    projector = Projector(publish_reports=False)
    call_id, history = call_history()
    requested, dial, delivered, _, _, verified = history
    for event in (requested, verified, delivered, dial):
        await apply(pool, projector, [event])
    row = await call_row(pool, call_id)
    assert row is not None and row[0] == CallStatus.VERIFIED and row[2] == 2
    expired = new_event("CodeExpired", call_id=call_id, service_id=requested["service_id"])
    await apply(pool, projector, [expired])
    row = await call_row(pool, call_id)
    assert row is not None and row[0] == CallStatus.VERIFIED


async def test_a_call_costs_its_price_once_delivered_whichever_came_first(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    call_id, history = call_history()
    requested, _, delivered, *_ = history
    await apply(pool, projector, [delivered])
    assert await call_row(pool, call_id) is not None  # a stub, hidden from the API
    await apply(pool, projector, [requested])
    row = await call_row(pool, call_id)
    assert row is not None and row[3] == PRICE
    failed_id, failed_history = call_history()
    ids = {"call_id": failed_id, "service_id": failed_history[0]["service_id"]}
    await apply(pool, projector, [failed_history[0], new_event("CallFailed", reason="busy", **ids)])
    row = await call_row(pool, failed_id)
    assert row is not None and row[0] == CallStatus.FAILED and row[3] == 0


async def test_the_highest_credit_sequence_wins_whatever_order_it_arrives_in(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    service_id = uuid.uuid4()
    debits = [
        new_event(
            "CreditDebited",
            call_id=uuid.uuid4(),
            service_id=service_id,
            amount=PRICE,
            balance_after=-PRICE * seq,
            credit_seq=seq,
        )
        for seq in range(1, 4)
    ]
    top_up = new_event(
        "CreditToppedUp",
        topup_id=uuid.uuid4(),
        service_id=service_id,
        amount=10 * PRICE,
        reference="INV-1",
        balance_after=7 * PRICE,
        credit_seq=4,
    )
    history = [*debits, top_up]

    async def credit() -> tuple[Any, ...]:
        async with pool.connection() as conn:
            balance = await (
                await conn.execute(
                    "SELECT balance, credit_seq FROM service_credit WHERE service_id = %s",
                    (service_id,),
                )
            ).fetchone()
            ledger = await (
                await conn.execute(
                    "SELECT count(*) FROM ledger WHERE service_id = %s", (service_id,)
                )
            ).fetchone()
        assert balance is not None and ledger is not None
        return (*balance, *ledger)

    # Newest first, one batch each: the older ones arrive late and change no balance.
    await apply_each(pool, projector, history[::-1])
    assert await credit() == (7 * PRICE, 4, 4)
    async with pool.connection() as conn:
        ledger = await (
            await conn.execute(
                "SELECT type, call_id, reference, credit_seq, amount, balance_after FROM ledger"
                " WHERE service_id = %s ORDER BY credit_seq",
                (service_id,),
            )
        ).fetchall()
    assert ledger == [
        *[
            ("debit", d["call_id"], None, d["credit_seq"], PRICE, d["balance_after"])
            for d in debits
        ],
        ("topup", None, "INV-1", 4, 10 * PRICE, 7 * PRICE),
    ]
    # All again, shuffled (credit events have ids derived from their call or top-up: a replay
    # brings the same ids, and the ledger is keyed by them).
    await apply_each(pool, projector, random.Random(3).sample(history, len(history)))
    assert await credit() == (7 * PRICE, 4, 4)
    # A stale balance in the same batch as the newest does not win either.
    other = uuid.uuid4()
    newest = {**top_up, "service_id": other, "event_id": str(uuid.uuid4())}
    stale = {**debits[0], "service_id": other, "event_id": str(uuid.uuid4())}
    await apply(pool, projector, [newest, stale])
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT balance FROM service_credit WHERE service_id = %s", (other,))
        ).fetchone()
    assert row == (7 * PRICE,)


class Published:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, outbox: Outbox) -> None:
        self.events += outbox.events


async def test_a_claim_abandoned_by_a_dead_worker_fails_once_as_a_carrier_error(
    pool: AsyncConnectionPool,
) -> None:
    published = Published()
    dialer = Dialer(pool, cast(Publisher, published), cast(Carrier, NoCarrier()), concurrency=1)
    commands = [place_call() for _ in range(3)]
    await apply(pool, dialer, commands)
    abandoned, recent, answered = (c["call_id"] for c in commands)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE dials SET claimed_at = now() - interval '1 hour' WHERE call_id = ANY(%s)",
            ([abandoned, answered],),
        )
        await conn.execute(
            "UPDATE dials SET outcome = 'CallDelivered' WHERE call_id = %s", (answered,)
        )
        [claimed_at] = (
            await (
                await conn.execute("SELECT claimed_at FROM dials WHERE call_id = %s", (abandoned,))
            ).fetchone()
            or ()
        )
    # Other tests' claims may be abandoned too: only this test's calls are looked at.
    await dialer.fail_abandoned(60)
    await dialer.fail_abandoned(60)
    mine = [e for e in published.events if e["call_id"] in {abandoned, recent, answered}]
    assert [(e["event_type"], e["call_id"], e["reason"]) for e in mine] == [
        ("CallFailed", abandoned, "carrier_error")
    ]
    assert mine[0]["dialed_at"] == claimed_at
    assert mine[0]["service_id"] == commands[0]["service_id"]


class HeldCarrier:
    """Rings once `ring` is set (as a dial that outlasted PostgreSQL's absence)."""

    def __init__(self) -> None:
        self.ring = asyncio.Event()
        self.dialing = asyncio.Event()

    async def dial(self, *_: Any) -> DialResult:
        self.dialing.set()
        await self.ring.wait()
        return DialResult(None, datetime.now(UTC))


async def test_a_ring_recorded_after_its_claim_was_failed_as_abandoned_changes_nothing(
    pool: AsyncConnectionPool,
) -> None:
    """PostgreSQL away for longer than the abandon time: the sweep fails the claim, then the
    ring is recorded. The call keeps its one outcome (the chaos run found it shown delivered
    and never charged: both outcomes share the event id)."""
    published = Published()
    carrier = HeldCarrier()
    dialer = Dialer(
        pool, cast(Publisher, published), cast(Carrier, carrier), concurrency=1, notice_after=60
    )
    command = place_call()
    await apply(pool, dialer, [command])
    await dialer.start_claimed()
    await asyncio.wait_for(carrier.dialing.wait(), 10)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE dials SET claimed_at = now() - interval '1 hour' WHERE call_id = %s",
            (command["call_id"],),
        )
    await dialer.fail_abandoned(60)
    carrier.ring.set()
    await dialer.drain()
    mine = [e for e in published.events if e["call_id"] == command["call_id"]]
    assert [e["event_type"] for e in mine] == ["CallFailed"]
    async with pool.connection() as conn:
        outcome = await (
            await conn.execute(
                "SELECT outcome FROM dials WHERE call_id = %s", (command["call_id"],)
            )
        ).fetchone()
    assert outcome == ("CallFailed",)


async def test_claims_a_live_worker_keeps_alive_are_not_failed_however_long_they_queue(
    pool: AsyncConnectionPool,
) -> None:
    """One slot, three claims of one batch: the first rings, two queue behind it. Claimed an
    hour ago (a long queue), kept alive by their worker: the abandon check fails none. Once
    their worker stops keeping them alive for longer than the bound, all three fail; once the
    outcomes are in, the worker holds none of them any more."""
    published = Published()
    carrier = HeldCarrier()
    dialer = Dialer(
        pool, cast(Publisher, published), cast(Carrier, carrier), concurrency=1, notice_after=60
    )
    commands = [place_call() for _ in range(3)]
    ids = [c["call_id"] for c in commands]
    await apply(pool, dialer, commands)
    starting = asyncio.create_task(dialer.start_claimed())  # waits for the slot
    await asyncio.wait_for(carrier.dialing.wait(), 10)

    async def backdate(column: str) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                f"UPDATE dials SET {column} = now() - interval '1 hour' WHERE call_id = ANY(%s)",
                (ids,),
            )

    async def alive_at() -> list[Any]:
        async with pool.connection() as conn:
            rows = await (
                await conn.execute("SELECT alive_at FROM dials WHERE call_id = ANY(%s)", (ids,))
            ).fetchall()
        return [r[0] for r in rows]

    def mine() -> list[tuple[str, str | None]]:
        return [(e["event_type"], e.get("reason")) for e in published.events if e["call_id"] in ids]

    await backdate("claimed_at")
    await dialer.keep_claims_alive()
    # Other tests' claims may be abandoned too: only this test's calls are looked at.
    await dialer.fail_abandoned(60)
    assert mine() == []

    await backdate("alive_at")  # as if their worker had died an hour ago
    assert await dialer.fail_abandoned(60) >= 3
    assert mine() == [("CallFailed", "carrier_error")] * 3
    carrier.ring.set()
    await starting
    await dialer.drain()
    assert mine() == [("CallFailed", "carrier_error")] * 3  # the rings came too late
    before = await alive_at()
    await dialer.keep_claims_alive()
    assert await alive_at() == before


async def test_a_dials_outcome_is_recorded_and_published_once(pool: AsyncConnectionPool) -> None:
    published = Published()
    carrier = HeldCarrier()
    carrier.ring.set()
    dialer = Dialer(
        pool, cast(Publisher, published), cast(Carrier, carrier), concurrency=2, notice_after=60
    )
    commands = [place_call(), place_call()]
    await apply(pool, dialer, commands)
    await dialer.start_claimed()
    await dialer.drain()
    ids = {c["call_id"] for c in commands}
    mine = [e for e in published.events if e["call_id"] in ids]
    assert sorted(e["event_type"] for e in mine) == ["CallDelivered", "CallDelivered"]
    assert {e["call_id"] for e in mine} == ids
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT call_id, outcome FROM dials WHERE call_id = ANY(%s)", (list(ids),)
            )
        ).fetchall()
        assert dict(rows) == {call_id: "CallDelivered" for call_id in ids}
        # Recorded again (a lost commit's retry): the call keeps its one outcome, told once.
        again = Outbox()
        async with conn.transaction():
            await dial_records.write_outcomes(conn, mine, again)
        assert again.events == []


async def test_a_services_first_credit_event_alone_is_written(pool: AsyncConnectionPool) -> None:
    projector = Projector(publish_reports=False)
    service_id = uuid.uuid4()
    svc = {"service_id": service_id}
    await apply(
        pool,
        projector,
        [
            new_event(
                "ServiceCutOff", balance=-PRICE, reserved=0, credit_limit=PRICE, credit_seq=1, **svc
            )
        ],
    )
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT balance, credit_seq, cut_off, cut_off_seq FROM service_credit"
                " WHERE service_id = %s",
                (service_id,),
            )
        ).fetchone()
    assert row == (-PRICE, 1, True, 1)


async def test_a_call_rung_after_its_retry_was_admitted_cannot_be_verified(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    """The first call's ring arrives after its retry was admitted: its code is superseded
    although its own status says delivered."""
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    first = tenant.request(phone(), T0)
    await apply(pool, decisions, [first])
    retry = tenant.request(
        first["phone"], T0 + timedelta(seconds=5), attempt=2, retry_of=first["call_id"]
    )
    await apply(pool, decisions, [retry])
    late_ring = new_event(
        "CallDelivered",
        call_id=first["call_id"],
        service_id=tenant.service_id,
        expires_at=T0 + timedelta(minutes=2),
    )
    await apply(pool, decisions, [late_ring])
    judged = await apply(
        pool, decisions, [attempt(first, first["caller_number"][-5:], T0 + timedelta(seconds=9))]
    )
    assert verdicts(judged) == [(True, False, "expired", 5, 0, CallStatus.EXPIRED)]


async def test_an_account_without_its_own_total_limit_gets_the_platforms(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant()
    account, service = tenant.opening()
    await apply(pool, decisions, [{**account, "total_credit_limit": None}, service])
    assert of_type(await apply(pool, decisions, [tenant.request(phone(), T0)]), "PlaceCall")
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT total_limit FROM proc_accounts WHERE id = %s", (tenant.account_id,)
            )
        ).fetchone()
    assert row == (None,)  # the platform's default applies, and follows its setting


async def test_a_service_created_with_no_credit_is_cut_off_at_once(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    tenant = Tenant(credit_limit=0)
    emitted = await apply(pool, decisions, tenant.opening())
    assert [e["service_id"] for e in of_type(emitted, "ServiceCutOff")] == [tenant.service_id]


async def test_a_pumped_prefix_is_blocked_in_the_processor(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    """Thirty unverified calls to one range with no history: the next is refused and the block
    announced, for that range only."""
    tenant = Tenant(credit_limit=10**9)
    await apply(pool, decisions, tenant.opening())
    prefix = f"+98912{random.randrange(10**4):04d}"
    calls = [
        tenant.request(f"{prefix}{i:03d}", T0 + timedelta(seconds=i))
        for i in range(RULES.fraud.min_unverified + 1)
    ]
    emitted = await apply(pool, decisions, calls)
    assert len(of_type(emitted, "PlaceCall")) == RULES.fraud.min_unverified
    [rejected] = of_type(emitted, "CallRejected")
    assert rejected["reason"] == RejectReason.FRAUD_SUSPECTED
    [suspected] = of_type(emitted, "FraudSuspected")
    assert (suspected["service_id"], suspected["prefix"]) == (tenant.service_id, prefix)
    elsewhere = tenant.request(phone(), T0 + timedelta(minutes=1))
    assert of_type(await apply(pool, decisions, [elsewhere]), "PlaceCall")


async def test_a_prefix_is_counted_from_earlier_batches_and_again_from_its_lift(
    pool: AsyncConnectionPool, decisions: Decisions
) -> None:
    """The counts a batch judges by are read from what earlier batches recorded; once the block
    is lifted, the prefix is counted from the lift on (the calls before it count no more)."""
    tenant = Tenant(credit_limit=10**9)
    await apply(pool, decisions, tenant.opening())
    prefix = f"+98912{random.randrange(10**4):04d}"
    calls = [
        tenant.request(f"{prefix}{i:03d}", T0 + timedelta(seconds=i))
        for i in range(RULES.fraud.min_unverified)
    ]
    assert len(of_type(await apply(pool, decisions, calls), "PlaceCall")) == len(calls)
    late = tenant.request(f"{prefix}900", T0 + timedelta(minutes=1))
    emitted = await apply(pool, decisions, [late])
    assert [e["reason"] for e in of_type(emitted, "CallRejected")] == [RejectReason.FRAUD_SUSPECTED]
    assert [e["prefix"] for e in of_type(emitted, "FraudSuspected")] == [prefix]
    lifted = new_event(
        "FraudBlockLifted",
        occurred_at=T0 + timedelta(minutes=2),
        service_id=tenant.service_id,
        account_id=tenant.account_id,
        prefix=prefix,
    )
    await apply(pool, decisions, [lifted])
    after = tenant.request(f"{prefix}901", T0 + timedelta(minutes=3))
    emitted = await apply(pool, decisions, [after])
    assert len(of_type(emitted, "PlaceCall")) == 1 and not of_type(emitted, "CallRejected")
