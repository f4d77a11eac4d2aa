"""Every event type in the projection's and the decisions' tables, fed to the handler against
the real database: what each writes and emits, and what a copy of an update applied after a
newer one would undo (the event ids apply_batch remembers for those types)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus, RejectReason
from processors.decisions import Decisions
from projections.read_models import Projector
from runtime.batches import Consumed, apply_batch
from runtime.outbox import Outbox, Publisher
from runtime.stream_topics import results_topic
from schemas.codec import Event, decode, encode, new_event
from tests.integration.test_handlers import (
    PRICE,
    RULES,
    T0,
    Published,
    Tenant,
    apply,
    call_history,
    copy,
    of_type,
    phone,
)


async def row(pool: AsyncConnectionPool, sql: str, *params: Any) -> tuple[Any, ...] | None:
    async with pool.connection() as conn:
        return await (await conn.execute(sql, params)).fetchone()


def at(minutes: float) -> Any:
    return T0 + timedelta(minutes=minutes)


async def test_the_projection_writes_accounts_services_keys_credit_and_fraud(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    account_id, service_id, key_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    acc = {"account_id": account_id}
    svc = {"service_id": service_id}
    history = [
        new_event(
            "AccountCreated",
            occurred_at=at(0),
            name="acme",
            token_hash="h1",
            price_per_call=PRICE,
            credit_limit=5000,
            total_credit_limit=9000,
            time_zone="Asia/Tehran",
            **acc,
        ),
        new_event(
            "AccountUpdated",
            occurred_at=at(1),
            name=None,
            price_per_call=1200,
            credit_limit=None,
            time_zone="UTC",
            total_credit_limit=9500,
            **acc,
        ),
        new_event("AccountTokenRotated", occurred_at=at(2), token_hash="h2", **acc),
        new_event(
            "AccountStreamsEnabled", occurred_at=at(2), ingress_topic="i", results_topic="r", **acc
        ),
        new_event(
            "ServiceCreated",
            occurred_at=at(3),
            name="login",
            code_length=5,
            code_ttl_minutes=2,
            return_code=False,
            credit_limit=5000,
            allowed_regions=["IR"],
            blocked_number_types=["premium_rate"],
            **acc,
            **svc,
        ),
        new_event(
            "ServiceUpdated",
            occurred_at=at(4),
            name="sign-in",
            code_length=None,
            code_ttl_minutes=3,
            return_code=True,
            status="disabled",
            credit_limit=None,
            allowed_regions=["IR", "AE"],
            blocked_number_types=["unknown"],
            **acc,
            **svc,
        ),
        new_event(
            "AccessKeyIssued",
            occurred_at=at(5),
            key_id=key_id,
            label="web",
            prefix="fck_ab",
            key_hash="kh",
            **acc,
            **svc,
        ),
        new_event("AccessKeyRevoked", occurred_at=at(6), key_id=key_id, **acc, **svc),
        new_event("AccessKeyRevoked", occurred_at=at(7), key_id=key_id, **acc, **svc),
        new_event(
            "ServiceCutOff",
            occurred_at=at(8),
            balance=-5000,
            reserved=0,
            credit_limit=5000,
            credit_seq=5,
            **svc,
        ),
        new_event(
            "ServiceRestored",
            occurred_at=at(9),
            balance=0,
            reserved=0,
            credit_limit=5000,
            credit_seq=4,  # older than the cut-off: changes nothing
            **svc,
        ),
        new_event(
            "AccountCutOff",
            occurred_at=at(8),
            balance=-9000,
            reserved=0,
            total_credit_limit=9000,
            credit_seq=3,
            **acc,
        ),
        new_event(
            "AccountRestored",
            occurred_at=at(9),
            balance=0,
            reserved=0,
            total_credit_limit=9000,
            credit_seq=2,  # older
            **acc,
        ),
        new_event(
            "AccountCreditLow", occurred_at=at(9), balance=-8000, total_credit_limit=9000, **acc
        ),
        new_event(
            "FraudSuspected",
            occurred_at=at(10),
            prefix="+989125553",
            requests=40,
            verified=0,
            until=at(70),
            **svc,
        ),
        new_event("FraudBlockLifted", occurred_at=at(11), prefix="+989125553", **svc),
        new_event("FraudPrefixAllowed", occurred_at=at(12), prefix="+989125554", **svc),
    ]
    # Created first, alone: what the creations set.
    await apply(pool, projector, [history[0], history[4]])
    assert await row(
        pool, "SELECT time_zone, total_credit_limit FROM accounts WHERE id = %s", account_id
    ) == ("Asia/Tehran", 9000)
    assert await row(
        pool, "SELECT allowed_regions, blocked_number_types FROM services WHERE id = %s", service_id
    ) == (["IR"], ["premium_rate"])
    await apply(pool, projector, history)
    await apply(pool, projector, history)  # and again: nothing moves

    assert await row(
        pool,
        "SELECT name, token_hash, price_per_call, credit_limit, total_credit_limit, time_zone,"
        " streams_enabled, created_at, updated_at FROM accounts WHERE id = %s",
        account_id,
    ) == ("acme", "h2", 1200, 5000, 9500, "UTC", True, at(0), at(2))
    assert await row(
        pool,
        "SELECT account_id, name, code_length, code_ttl_minutes, return_code, status,"
        " credit_limit, allowed_regions, blocked_number_types, created_at, updated_at"
        " FROM services WHERE id = %s",
        service_id,
    ) == (
        account_id,
        "sign-in",
        5,
        3,
        True,
        "disabled",
        5000,
        ["IR", "AE"],
        ["unknown"],
        at(3),
        at(4),
    )
    assert await row(
        pool,
        "SELECT service_id, account_id, label, prefix, key_hash, created_at, revoked_at"
        " FROM access_keys WHERE id = %s",
        key_id,
    ) == (service_id, account_id, "web", "fck_ab", "kh", at(5), at(6))
    assert await row(
        pool,
        "SELECT cut_off, cut_off_seq, balance, credit_seq FROM service_credit"
        " WHERE service_id = %s",
        service_id,
    ) == (True, 5, -5000, 5)
    assert await row(
        pool, "SELECT cut_off, cut_off_seq FROM account_credit WHERE account_id = %s", account_id
    ) == (True, 3)
    assert await row(
        pool,
        "SELECT blocked_at, until, requests, verified, lifted_at FROM fraud_blocks"
        " WHERE service_id = %s AND prefix = %s",
        service_id,
        "+989125553",
    ) == (at(10), at(70), 40, 0, at(11))
    assert await row(
        pool,
        "SELECT allowed_at FROM fraud_allowed WHERE service_id = %s AND prefix = %s",
        service_id,
        "+989125554",
    ) == (at(12),)
    assert await row(
        pool,
        "SELECT count(*) FROM fraud_lifts WHERE service_id = %s",
        service_id,
    ) == (2,)


async def test_a_lifting_projected_before_its_block_still_lifts_it(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    svc = {"service_id": uuid.uuid4(), "prefix": "+989125555"}
    lifted = new_event("FraudBlockLifted", occurred_at=at(11), **svc)
    block = new_event(
        "FraudSuspected", occurred_at=at(10), requests=40, verified=1, until=at(70), **svc
    )
    later = new_event(
        "FraudSuspected", occurred_at=at(20), requests=50, verified=0, until=at(80), **svc
    )
    await apply(pool, projector, [lifted])
    await apply(pool, projector, [block, later])
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT blocked_at, lifted_at FROM fraud_blocks WHERE service_id = %s"
                " ORDER BY blocked_at",
                (svc["service_id"],),
            )
        ).fetchall()
    assert rows == [(at(10), at(11)), (at(20), None)]  # a block after the lifting stands


def consumed(events: list[Event], start: int) -> list[Consumed]:
    return [Consumed("t", 0, start + i, encode(e)) for i, e in enumerate(events)]


async def test_an_old_update_delivered_again_does_not_undo_a_newer_one(
    pool: AsyncConnectionPool,
) -> None:
    """The projection remembers the ids of updates: the same update under a later offset (a
    republished outbox row) is not applied again after a newer one."""
    projector = Projector(publish_reports=False)
    name = f"projection-{uuid.uuid4()}"
    account_id, service_id, key_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    acc, svc = {"account_id": account_id}, {"service_id": service_id}
    created = [
        new_event(
            "AccountCreated",
            name="a",
            token_hash="h0",
            price_per_call=PRICE,
            credit_limit=1,
            **acc,
        ),
        new_event(
            "ServiceCreated",
            name="s0",
            code_length=5,
            code_ttl_minutes=2,
            return_code=False,
            credit_limit=1,
            **acc,
            **svc,
        ),
    ]

    def account_update(price: int) -> Event:
        return new_event(
            "AccountUpdated",
            name=None,
            price_per_call=price,
            credit_limit=None,
            **acc,
        )

    def service_update(label: str) -> Event:
        return new_event(
            "ServiceUpdated",
            name=label,
            code_length=None,
            code_ttl_minutes=None,
            return_code=None,
            status=None,
            credit_limit=None,
            **acc,
            **svc,
        )

    old = [
        account_update(1),
        new_event("AccountTokenRotated", token_hash="old", **acc),
        service_update("old"),
    ]
    new = [
        account_update(2),
        new_event("AccountTokenRotated", token_hash="new", **acc),
        service_update("new"),
    ]
    await apply_batch(pool, None, name, consumed(created + old + new, 0), projector)
    await apply_batch(pool, None, name, consumed(old, 100), projector)
    assert await row(
        pool, "SELECT price_per_call, token_hash FROM accounts WHERE id = %s", account_id
    ) == (2, "new")
    assert await row(pool, "SELECT name FROM services WHERE id = %s", service_id) == ("new",)
    assert "AccessKeyRevoked" in projector.deduplicated  # its time: the first revocation's
    del key_id


async def test_the_projection_reports_a_call_once_it_rang_and_streams_it_to_its_account(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=True)
    call_id, history = call_history()
    requested = history[0]
    account = {"account_id": requested["account_id"]}
    await apply(
        pool,
        projector,
        [
            new_event(
                "AccountCreated",
                name="a",
                token_hash="h",
                price_per_call=PRICE,
                credit_limit=1,
                **account,
            ),
            new_event("AccountStreamsEnabled", ingress_topic="i", results_topic="r", **account),
            new_event(
                "AccessKeyIssued",
                key_id=requested["key_id"],
                service_id=requested["service_id"],
                label="web",
                prefix="fck_x",
                key_hash="k",
                **account,
            ),
        ],
    )
    out_queued = await apply(pool, projector, history[:2])  # requested, dialling
    assert of_type(out_queued, "CallReported") == []
    outbox = Outbox()
    async with pool.connection() as conn, conn.transaction():
        await projector.handle(conn, [decode(encode(history[2]))], outbox)  # rang
    out = outbox.events
    [result] = outbox.raw  # the same change, for the account's results topic
    assert result.topic == results_topic(requested["account_id"])
    assert result.key == str(call_id).encode() and result.event_type == "CallResult"
    [report] = of_type(out, "CallReported")
    assert report["call_id"] == call_id and report["status"] == CallStatus.DELIVERED
    assert report["key_label"] == "web" and report["cost"] == PRICE
    # The same change published for the account's results topic.
    assert await apply(pool, projector, [history[2]]) == []  # nothing changed: nothing said


async def test_decisions_apply_every_type_of_their_table(pool: AsyncConnectionPool) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant(credit_limit=2 * PRICE)
    acc = {"account_id": tenant.account_id}
    events = [
        *tenant.opening(),
        new_event("AccountTokenRotated", token_hash="h", **acc),
        new_event("AccountStreamsEnabled", ingress_topic="i", results_topic="r", **acc),
    ]
    assert await apply(pool, decisions, events) == []
    assert set(decisions.table) == decisions.handles


async def test_a_top_up_credits_once_and_answers_again_with_the_same_event(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant(credit_limit=PRICE)
    await apply(pool, decisions, tenant.opening())
    first = tenant.request(phone(), T0)
    await apply(pool, decisions, [first])
    ids = {"call_id": first["call_id"], "service_id": tenant.service_id}
    await apply(
        pool,
        decisions,
        [new_event("CallDelivered", occurred_at=T0, expires_at=at(2), **ids)],
    )
    # Owed PRICE, at the limit: the next call is refused.
    refused = await apply(pool, decisions, [tenant.request(phone(), at(1))])
    assert [e["reason"] for e in of_type(refused, "CallRejected")] == [
        RejectReason.CREDIT_LIMIT_REACHED
    ]
    top_up = new_event(
        "TopUpCredit",
        occurred_at=at(2),
        topup_id=uuid.uuid4(),
        service_id=tenant.service_id,
        amount=3 * PRICE,
        reference="INV-1",
    )
    [credited] = of_type(await apply(pool, decisions, [top_up]), "CreditToppedUp")
    assert (credited["amount"], credited["reference"], credited["balance_after"]) == (
        3 * PRICE,
        "INV-1",
        2 * PRICE,
    )
    assert credited["topup_id"] == top_up["topup_id"]
    assert credited["service_id"] == tenant.service_id
    # Asked again (the same top-up id): answered with the same event, credited once.
    [again] = of_type(await apply(pool, decisions, [copy(top_up)]), "CreditToppedUp")
    assert again == credited
    assert await row(
        pool, "SELECT balance FROM proc_services WHERE id = %s", tenant.service_id
    ) == (2 * PRICE,)
    admitted = await apply(pool, decisions, [tenant.request(phone(), at(3))])
    assert of_type(admitted, "PlaceCall")


async def test_a_service_update_disables_changes_the_limit_and_the_codes_validity(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant(credit_limit=5 * PRICE)
    await apply(pool, decisions, tenant.opening())

    def update(**fields: Any) -> Event:
        values = {
            "name": None,
            "code_length": None,
            "code_ttl_minutes": None,
            "return_code": None,
            "status": None,
            "credit_limit": None,
        }
        return new_event(
            "ServiceUpdated",
            service_id=tenant.service_id,
            account_id=tenant.account_id,
            **{**values, **fields},
        )

    [place] = of_type(
        await apply(pool, decisions, [update(code_ttl_minutes=7), tenant.request(phone(), T0)]),
        "PlaceCall",
    )
    # The dial uses the validity the request was made with; the service's new one is kept.
    assert place["code_ttl_seconds"] == 2 * RULES.ttl_minute_seconds
    emitted = await apply(
        pool, decisions, [update(status="disabled"), tenant.request(phone(), at(1))]
    )
    assert [e["reason"] for e in of_type(emitted, "CallRejected")] == [
        RejectReason.SERVICE_DISABLED
    ]
    emitted = await apply(
        pool,
        decisions,
        [update(status="active", credit_limit=0), tenant.request(phone(), at(2))],
    )
    assert [e["reason"] for e in of_type(emitted, "CallRejected")] == [
        RejectReason.CREDIT_LIMIT_REACHED
    ]
    assert await row(
        pool,
        "SELECT status, credit_limit, code_ttl_minutes FROM proc_services WHERE id = %s",
        tenant.service_id,
    ) == ("active", 0, None)  # the validity travels with each request; the column goes in 0.3.0


# ------------------------------------------------------ what each call event sets, absolutely
async def test_each_call_event_sets_what_it_says_on_the_calls_row(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    call_id, history = call_history()
    requested, dial, delivered, wrong, right, verified = history
    ids = {"call_id": call_id, "service_id": requested["service_id"]}
    answered = new_event("CallAnswered", occurred_at=at(1), **ids)
    await apply(pool, projector, [requested])
    assert await row(
        pool,
        "SELECT status, phone, caller_number, code_length, attempt, price_per_call, created_at,"
        " account_id, key_id FROM calls WHERE id = %s",
        call_id,
    ) == (
        CallStatus.QUEUED,
        requested["phone"],
        requested["caller_number"],
        5,
        1,
        PRICE,
        T0,
        requested["account_id"],
        requested["key_id"],
    )
    assert await row(pool, "SELECT verify_attempts FROM calls WHERE id = %s", call_id) == (0,)
    await apply(pool, projector, [dial])
    assert await row(pool, "SELECT status, dialed_at FROM calls WHERE id = %s", call_id) == (
        CallStatus.DIALING,
        dial["occurred_at"],
    )
    await apply(pool, projector, [delivered, answered])
    assert await row(
        pool,
        "SELECT status, delivered_at, expires_at, answered, cost FROM calls WHERE id = %s",
        call_id,
    ) == (
        CallStatus.DELIVERED,
        delivered["occurred_at"],
        delivered["expires_at"],
        True,
        PRICE,
    )
    not_found = {**wrong, "found": False, "verify_attempts": 9, "event_id": str(uuid.uuid4())}
    await apply(pool, projector, [not_found, wrong])
    assert await row(pool, "SELECT verify_attempts FROM calls WHERE id = %s", call_id) == (1,)
    await apply(pool, projector, [right, verified])
    assert await row(
        pool, "SELECT status, verified_at, verify_attempts FROM calls WHERE id = %s", call_id
    ) == (CallStatus.VERIFIED, verified["occurred_at"], 2)

    # A rejected call, a failed one, an expired one.
    for event_type, fields, status, column, value in (
        (
            "CallRejected",
            {"reason": "rate_limited"},
            CallStatus.REJECTED,
            "failure_reason",
            "rate_limited",
        ),
        (
            "CallFailed",
            {"reason": "busy", "dialed_at": at(1)},
            CallStatus.FAILED,
            "failure_reason",
            "busy",
        ),
        ("CodeExpired", {}, CallStatus.EXPIRED, "expired_at", at(3)),
    ):
        other_id, other = call_history()
        ids = {"call_id": other_id, "service_id": other[0]["service_id"]}
        await apply(
            pool, projector, [other[0], new_event(event_type, occurred_at=at(3), **fields, **ids)]
        )
        assert await row(
            pool, f"SELECT status, {column}, cost FROM calls WHERE id = %s", other_id
        ) == (status, value, 0), event_type
        if event_type == "CallFailed":
            assert await row(pool, "SELECT dialed_at FROM calls WHERE id = %s", other_id) == (
                at(1),
            )


async def test_decisions_lift_and_allow_a_prefix_and_remember_attempts_and_updates(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant()
    name = f"decisions-{uuid.uuid4()}"
    svc = {"service_id": tenant.service_id}
    lifted = new_event("FraudBlockLifted", occurred_at=at(1), prefix="+989125556", **svc)
    allowed = new_event("FraudPrefixAllowed", occurred_at=at(2), prefix="+989125557", **svc)
    opening = tenant.opening()
    await apply(pool, decisions, [*opening, lifted, allowed])
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT prefix, counted_since, allowed, blocked_until FROM proc_fraud_prefixes"
                " WHERE service_id = %s ORDER BY prefix",
                (tenant.service_id,),
            )
        ).fetchall()
    assert rows == [("+989125556", at(1), False, None), ("+989125557", None, True, None)]

    # An attempt delivered again under a later offset is judged once; an old limit delivered
    # again does not undo a newer one.
    call = tenant.request(phone(), T0)
    await apply(pool, decisions, [call])
    ids = {"call_id": call["call_id"], "service_id": tenant.service_id}
    await apply(pool, decisions, [new_event("CallDelivered", expires_at=at(2), **ids)])
    guess = new_event(
        "VerificationAttempted",
        occurred_at=at(1),
        attempt_id=uuid.uuid4(),
        key_id=tenant.key_id,
        code="00000" if call["caller_number"][-5:] != "00000" else "11111",
        **ids,
    )

    def update(limit: int) -> Event:
        return new_event(
            "AccountUpdated",
            account_id=tenant.account_id,
            name=None,
            price_per_call=None,
            credit_limit=None,
            total_credit_limit=limit,
        )

    def status(value: str) -> Event:
        return new_event(
            "ServiceUpdated",
            service_id=tenant.service_id,
            account_id=tenant.account_id,
            name=None,
            code_length=None,
            code_ttl_minutes=None,
            return_code=None,
            status=value,
            credit_limit=None,
        )

    old, new = update(1), update(7_000_000)
    disabled, enabled = status("disabled"), status("active")
    publisher = cast(Publisher, Published())
    first = [opening[0], lifted, guess, old, new, disabled, enabled]
    await apply_batch(pool, publisher, name, consumed(first, 0), decisions)
    # The lifted prefix is blocked again since; the lifting delivered again must not free it.
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE proc_fraud_prefixes SET blocked_until = %s WHERE service_id = %s"
            " AND prefix = %s",
            (at(100), tenant.service_id, "+989125556"),
        )
    again = [guess, old, disabled, opening[0], lifted]
    await apply_batch(pool, publisher, name, consumed(again, 10), decisions)
    assert await row(
        pool, "SELECT verify_attempts FROM proc_calls WHERE id = %s", call["call_id"]
    ) == (1,)
    assert await row(
        pool, "SELECT total_limit FROM proc_accounts WHERE id = %s", tenant.account_id
    ) == (7_000_000,)
    assert await row(pool, "SELECT status FROM proc_services WHERE id = %s", tenant.service_id) == (
        "active",
    )
    assert await row(
        pool,
        "SELECT blocked_until FROM proc_fraud_prefixes WHERE service_id = %s AND prefix = %s",
        tenant.service_id,
        "+989125556",
    ) == (at(100),)


async def test_a_delivery_says_when_the_dial_began_when_no_dial_start_was_seen(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    call_id, history = call_history()
    requested, _, delivered, *_ = history
    await apply(pool, projector, [requested, delivered])
    assert await row(pool, "SELECT dialed_at FROM calls WHERE id = %s", call_id) == (
        delivered["dialed_at"],
    )
