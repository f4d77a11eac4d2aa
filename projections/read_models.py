"""The projection: builds the accounts, services, access-keys and calls read models.

Every write is an upsert keyed by the aggregate with absolute values (never an increment), so
applying an event twice changes nothing; the consumed offsets are stored in the same transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg

from core.call_rules import STATUS_RANK, CallStatus
from processors.outbox import Outbox
from schemas import topics
from schemas.codec import Event

CONSUMER = "projection"
PROJECTED_TOPICS = (
    topics.ACCOUNTS,
    topics.SERVICES,
    topics.ACCESS_KEYS,
    topics.CALL_REQUESTS,
    topics.CALL_DECISIONS,
    topics.DIAL_OUTCOMES,
)


class Projector:
    async def handle(self, conn: psycopg.AsyncConnection, event: Event, _: Outbox) -> None:
        handler = getattr(self, f"on_{event['event_type']}", None)
        if handler is not None:
            await handler(conn, event)

    # ------------------------------------------------------------------ accounts and services
    async def on_AccountCreated(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await conn.execute(
            "INSERT INTO accounts (id, name, token_hash, price_per_call, credit_limit,"
            " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                e["account_id"],
                e["name"],
                e["token_hash"],
                e["price_per_call"],
                e["credit_limit"],
                e["occurred_at"],
                e["occurred_at"],
            ),
        )

    async def on_AccountUpdated(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await conn.execute(
            "UPDATE accounts SET name = COALESCE(%s, name),"
            " price_per_call = COALESCE(%s, price_per_call),"
            " credit_limit = COALESCE(%s, credit_limit), updated_at = %s WHERE id = %s",
            (e["name"], e["price_per_call"], e["credit_limit"], e["occurred_at"], e["account_id"]),
        )

    async def on_ServiceCreated(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await conn.execute(
            "INSERT INTO services (id, account_id, name, code_length, code_ttl_minutes,"
            " return_code, status, credit_limit, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                e["service_id"],
                e["account_id"],
                e["name"],
                e["code_length"],
                e["code_ttl_minutes"],
                e["return_code"],
                e["credit_limit"],
                e["occurred_at"],
                e["occurred_at"],
            ),
        )

    async def on_ServiceUpdated(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await conn.execute(
            "UPDATE services SET name = COALESCE(%s, name),"
            " code_length = COALESCE(%s, code_length),"
            " code_ttl_minutes = COALESCE(%s, code_ttl_minutes),"
            " return_code = COALESCE(%s, return_code), status = COALESCE(%s, status),"
            " credit_limit = COALESCE(%s, credit_limit), updated_at = %s WHERE id = %s",
            (
                e["name"],
                e["code_length"],
                e["code_ttl_minutes"],
                e["return_code"],
                e["status"],
                e["credit_limit"],
                e["occurred_at"],
                e["service_id"],
            ),
        )

    async def on_AccessKeyIssued(self, conn: psycopg.AsyncConnection, e: Event) -> None:
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

    async def on_AccessKeyRevoked(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await conn.execute(
            "UPDATE access_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s",
            (e["occurred_at"], e["key_id"]),
        )

    # ------------------------------------------------------------------------------ calls
    async def _upsert_call(
        self, conn: psycopg.AsyncConnection, call_id: Any, status: str, **cols: Any
    ) -> None:
        """Set `cols` once (a replay cannot overwrite them) and raise the status if higher."""
        names = list(cols)
        rank = STATUS_RANK[status]
        assignments = [f"{n} = COALESCE(calls.{n}, EXCLUDED.{n})" for n in names]
        assignments.append(
            "status = CASE WHEN %(rank)s > calls.status_rank THEN %(status)s ELSE calls.status END"
        )
        assignments.append("status_rank = GREATEST(calls.status_rank, %(rank)s)")
        columns = ", ".join(["id", "status", "status_rank", *names])
        values = ", ".join(["%(id)s", "%(status)s", "%(rank)s", *(f"%({n})s" for n in names)])
        await conn.execute(
            f"INSERT INTO calls ({columns}) VALUES ({values})"
            f" ON CONFLICT (id) DO UPDATE SET {', '.join(assignments)}",
            {
                "id": call_id,
                "status": status,
                "rank": rank,
                **cols,
            },
        )

    async def on_CallRequested(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(
            conn,
            e["call_id"],
            CallStatus.QUEUED,
            service_id=e["service_id"],
            account_id=e["account_id"],
            key_id=e["key_id"],
            phone=e["phone"],
            caller_number=e["caller_number"],
            code_length=e["code_length"],
            attempt=e["attempt"],
            retry_of=e["retry_of"],
            price_per_call=e["price_per_call"],
            created_at=e["occurred_at"],
        )

    async def on_CallRejected(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(conn, e["call_id"], CallStatus.REJECTED, failure_reason=e["reason"])

    async def on_DialStarted(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(conn, e["call_id"], CallStatus.DIALING, dialed_at=e["occurred_at"])

    async def on_CallDelivered(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(
            conn,
            e["call_id"],
            CallStatus.DELIVERED,
            delivered_at=e["occurred_at"],
            expires_at=e["expires_at"],
        )

    async def on_CallFailed(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(conn, e["call_id"], CallStatus.FAILED, failure_reason=e["reason"])

    async def on_VerificationJudged(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        if e["found"]:
            await conn.execute(
                "UPDATE calls SET verify_attempts = GREATEST(verify_attempts, %s) WHERE id = %s",
                (e["verify_attempts"], e["call_id"]),
            )

    async def on_CodeVerified(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(
            conn, e["call_id"], CallStatus.VERIFIED, verified_at=e["occurred_at"]
        )

    async def on_CodeExpired(self, conn: psycopg.AsyncConnection, e: Event) -> None:
        await self._upsert_call(conn, e["call_id"], CallStatus.EXPIRED, expired_at=e["occurred_at"])
