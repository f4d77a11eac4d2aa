"""Webhooks: which events go to which endpoints, and sending them (docs/webhooks.md).

The fan-out is a consumer of its own (`webhooks`, reading call reports, notices and service
status): each event an enabled endpoint subscribes to becomes a delivery row, keyed by
(endpoint, event) so it is made once, in the transaction that stores the consumer's offsets.
A call's record says where the call is now; each change it implies (a verified call was
delivered first) is an event of its own, and a call's events go out in that order.
The sender is a task beside it: it claims due deliveries, POSTs them signed (Standard Webhooks)
with a bounded timeout, records each attempt, and schedules retries with backoff and jitter for
the retry window. A slow endpoint holds only its own deliveries: calls never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psycopg
from aiohttp.resolver import ThreadedResolver
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.number_pool import code_of
from core.webhooks import (
    CALL_EVENTS,
    OPERATOR_ACCOUNT,
    delivery_id,
    is_public,
    retry_delay,
    signatures,
)
from runtime.outbox import Outbox
from schemas.codec import Event

log = logging.getLogger(__name__)

CONSUMER = "webhooks"
CHANNEL = "flashcall_webhooks"
CLAIM = 50
LEASE = timedelta(seconds=120)  # a claimed delivery a dead sender held is tried again after
IDLE_WAIT = 5.0  # seconds between looks at most (nothing due sooner, nothing notified)
CALL_FIELDS = (
    "service_id", "key_id", "phone", "status", "failure_reason", "attempt", "retry_of",
    "code_length", "caller_prefix", "expires_at", "created_at", "dialed_at", "verified_at", "cost",
    "reference", "test", "channel", "network",
)  # fmt: skip


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def call_data(e: Event, return_code: bool) -> dict[str, Any]:
    """The call as GET /v1/calls/{id} shows it (its code only if the service returns codes)."""
    data = {"id": str(e["call_id"]), **{k: plain(e.get(k)) for k in CALL_FIELDS}}
    data["steps"] = [{k: plain(v) for k, v in step.items()} for step in e.get("steps") or []]
    caller = e.get("caller_number")
    if return_code and caller:
        data["code"] = code_of(caller, e["code_length"])
    return data


ACCOUNT_EVENTS = {
    "AccountCutOff": "account.cut_off",
    "AccountRestored": "account.restored",
    "AccountCreditLow": "account.credit_low",
}


@dataclass(frozen=True)
class Fact:
    """An event an endpoint may want: its type, the account and service, its id, its data, and
    what it is about with its place among that subject's events (sent in that order)."""

    kind: str
    account_id: Any
    service_id: Any
    event_id: str
    at: datetime
    data: dict[str, Any]
    subject: str | None = None
    seq: int = 0


# The changes a call's status says it went through, in order: a verified or expired code was
# delivered first. Each is one webhook, however the call's records were batched or coalesced
# (a record says where the call is now, not every step it took to get there).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "verified": ("delivered", "verified"),
    "expired": ("delivered", "expired"),
    "failed": ("failed",),
    "rejected": ("rejected",),
}


class WebhookFanout:
    """Turns events into delivery rows for the endpoints that subscribe to them."""

    deduplicated: frozenset[str] = frozenset()  # deliveries are keyed by (endpoint, event)

    def __init__(self, notify: Callable[[], None]) -> None:
        self.notify = notify
        self.table: dict[str, Callable[[Event], list[Fact]] | None] = {
            "CallReported": self.on_call,
            "CreditLow": self.on_credit_low,
            "CreditReleased": None,  # shares the notices topic; no webhook for it
            "ServiceCutOff": self.on_service_status,
            "ServiceRestored": self.on_service_status,
            "FraudSuspected": self.on_fraud_suspected,
            "AccountCutOff": self.on_account_credit,
            "AccountRestored": self.on_account_credit,
            "AccountCreditLow": self.on_account_credit,
            # The operator's: a range's quarantines (its additions and pauses send nothing).
            "RangeAdded": None,
            "RangeStatusChanged": None,
            "RangeQuarantined": self.on_range,
            "RangeReleased": self.on_range,
        }
        self.handles = frozenset(self.table)
        self._return_code: dict[Any, bool] = {}

    def on_call(self, e: Event) -> list[Fact]:
        """A webhook for each change the call went through: one delivery per call and kind,
        however often (and however late) the call's record is published."""
        call = str(e["call_id"])
        facts = []
        for seq, status in enumerate(TRANSITIONS.get(e["status"], ()), start=1):
            kind = CALL_EVENTS[status]
            key = f"{call}:{kind}"
            at = e["occurred_at"]
            facts.append(Fact(kind, e["account_id"], e["service_id"], key, at, dict(e), call, seq))
        return facts

    def on_credit_low(self, e: Event) -> list[Fact]:
        data = {
            "service_id": str(e["service_id"]),
            "balance": e["balance"],
            "credit_limit": e["credit_limit"],
        }
        return [Fact("credit.low", None, e["service_id"], e["event_id"], e["occurred_at"], data)]

    def on_service_status(self, e: Event) -> list[Fact]:
        kind = "service.cut_off" if e["event_type"] == "ServiceCutOff" else "service.restored"
        data = {
            "service_id": str(e["service_id"]),
            "balance": e["balance"],
            "credit_limit": e["credit_limit"],
        }
        return [Fact(kind, None, e["service_id"], e["event_id"], e["occurred_at"], data)]

    def on_fraud_suspected(self, e: Event) -> list[Fact]:
        data = {
            "service_id": str(e["service_id"]),
            "prefix": e["prefix"],
            "requests": e["requests"],
            "verified": e["verified"],
            "until": e["until"].isoformat(),
        }
        at = e["occurred_at"]
        return [Fact("fraud.suspected", None, e["service_id"], e["event_id"], at, data)]

    def on_account_credit(self, e: Event) -> list[Fact]:
        data = {
            "account_id": str(e["account_id"]),
            "balance": e["balance"],
            "total_credit_limit": e["total_credit_limit"],
        }
        kind = ACCOUNT_EVENTS[e["event_type"]]
        return [Fact(kind, e["account_id"], None, e["event_id"], e["occurred_at"], data)]

    def on_range(self, e: Event) -> list[Fact]:
        quarantined = e["event_type"] == "RangeQuarantined"
        data = {
            "range_id": str(e["range_id"]),
            "network": e["network"],
            "dialled": e["dialled"],
            "delivered": e["delivered"],
            "baseline_ratio": e["baseline_ratio"],
        }
        if quarantined:
            data |= {
                "until": e["until"].isoformat(),
                "strikes": e["strikes"],
                "last_for_network": e.get("last_for_network", False),
            }
        kind = "range.quarantined" if quarantined else "range.released"
        return [Fact(kind, OPERATOR_ACCOUNT, None, e["event_id"], e["occurred_at"], data)]

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        facts = [f for e in events if (read := self.table[e["event_type"]]) for f in read(e)]
        if not facts:
            return
        services = list({f.service_id for f in facts})
        rows = await (
            await conn.execute(
                "SELECT id, account_id, return_code FROM services WHERE id = ANY(%b)", (services,)
            )
        ).fetchall()
        account_of = {sid: aid for sid, aid, _ in rows}
        return_code = {sid: bool(rc) for sid, _, rc in rows}
        accounts = list({f.account_id or account_of.get(f.service_id) for f in facts} - {None})
        endpoints = await (
            await conn.execute(
                "SELECT id, account_id, service_id, events FROM webhook_endpoints"
                " WHERE status = 'enabled' AND account_id = ANY(%b)",
                (accounts,),
            )
        ).fetchall()
        ids, targets, kinds, payloads, subjects, seqs = [], [], [], [], [], []
        for fact in facts:
            account = fact.account_id or account_of.get(fact.service_id)
            for endpoint_id, endpoint_account, service_id, kinds_wanted in endpoints:
                if endpoint_account != account or fact.kind not in kinds_wanted:
                    continue
                if service_id not in (None, fact.service_id) and fact.service_id is not None:
                    continue
                data = fact.data
                if fact.kind.startswith("call."):
                    data = call_data(fact.data, return_code.get(fact.service_id, False))
                ids.append(delivery_id(endpoint_id, fact.event_id))
                targets.append(endpoint_id)
                kinds.append(fact.kind)
                payloads.append(
                    Jsonb({"type": fact.kind, "timestamp": fact.at.isoformat(), "data": data})
                )
                subjects.append(fact.subject)
                seqs.append(fact.seq)
        if not ids:
            return
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, status,"
            " subject, seq) SELECT i, t, k, p, 'pending', s, q FROM unnest(%s::uuid[],"
            " %s::uuid[], %s::text[], %s::jsonb[], %s::text[], %s::int[]) AS d(i, t, k, p, s, q)"
            " ON CONFLICT (id) DO NOTHING",
            (ids, targets, kinds, payloads, subjects, seqs),
        )
        self.notify()


class PublicResolver(ThreadedResolver):
    """Resolves as usual, but refuses a host with any private, loopback or link-local
    address (checked when connecting, so a DNS answer that changed cannot get around it)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        found: list[Any] = await super().resolve(host, port, family)
        if any(not is_public(str(info["host"])) for info in found):
            raise OSError(f"{host} resolves to a private address: refused")
        return found


@dataclass(frozen=True)
class SenderRules:
    allow_private: bool
    retry_base_seconds: float
    retry_window: timedelta
    disable_after: timedelta
    timeout_seconds: float


class WebhookSender:
    """Sends due deliveries until cancelled."""

    def __init__(self, pool: AsyncConnectionPool, database_url: str, rules: SenderRules) -> None:
        self.pool = pool
        self.database_url = database_url
        self.rules = rules
        self.wake = asyncio.Event()

    def notify(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=None if self.rules.allow_private else PublicResolver(), limit=100
        )
        timeout = aiohttp.ClientTimeout(total=self.rules.timeout_seconds)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            listening = asyncio.create_task(self._listen())
            try:
                while True:
                    # Cleared before the look: a notice that comes during it wakes the next one.
                    self.wake.clear()
                    idle = IDLE_WAIT
                    try:
                        claimed = await self._claim()
                        if claimed:
                            await asyncio.gather(*(self._deliver(session, d) for d in claimed))
                            continue
                        idle = await self._until_due()
                    except Exception as exc:
                        # PostgreSQL away, a pool exhausted, a bug: the claimed rows come due
                        # again after their lease; the sender goes on.
                        log.warning("webhooks: sending failed, trying again: %r", exc)
                        await asyncio.sleep(1.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), idle)
            finally:
                listening.cancel()

    async def _listen(self) -> None:
        """Wake on NOTIFY (a test event, a re-send: the API's; or another worker's fan-out)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for _ in conn.notifies():
                        self.wake.set()
            except psycopg.Error as exc:
                log.warning("webhooks: listening again after %r", exc)
                await asyncio.sleep(1.0)

    async def _until_due(self) -> float:
        """Seconds until the next pending delivery comes due (a retry, or a lease a dead
        sender held), IDLE_WAIT at most: a retry goes out at its moment, not at a later look.
        Deliveries due now but waiting behind an earlier one of their call are not counted:
        that one's own moment is."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8"
                " FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > now()"
            )
            row = await cur.fetchone()
        seconds = row[0] if row is not None else None
        return IDLE_WAIT if seconds is None else min(float(seconds), IDLE_WAIT)

    async def _claim(self) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            await cur.execute(
                "UPDATE webhook_deliveries d SET next_attempt_at = now() + %s"
                " FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND d.id IN ("
                "   SELECT id FROM webhook_deliveries w WHERE status = 'pending'"
                "   AND next_attempt_at <= now()"
                # A call's events go out in order: one waits while an earlier one to the same
                # endpoint is pending (sent again until delivered or given up).
                "   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
                "     WHERE p.endpoint_id = w.endpoint_id AND p.subject = w.subject"
                "     AND p.seq < w.seq AND p.status = 'pending')"
                "   ORDER BY next_attempt_at, seq LIMIT %s"
                "   FOR UPDATE SKIP LOCKED)"
                " RETURNING d.id, d.endpoint_id, d.event_type, d.payload, d.attempts,"
                " d.created_at, e.url, e.status AS endpoint_status, e.secret, e.previous_secret,"
                " e.previous_until",
                (LEASE, CLAIM),
            )
            return await cur.fetchall()

    async def _deliver(self, session: aiohttp.ClientSession, d: dict[str, Any]) -> None:
        if d["endpoint_status"] != "enabled":
            await self._record(d, None, 0, "the endpoint is disabled", final=True)
            return
        body = json.dumps(d["payload"], ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        keys = [d["secret"]]
        if d["previous_secret"] and d["previous_until"] and d["previous_until"] > now:
            keys.append(d["previous_secret"])
        headers = {
            "content-type": "application/json",
            "webhook-id": str(d["id"]),
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures(keys, str(d["id"]), now, body),
            "user-agent": "flashcall-webhooks",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            host = urlsplit(d["url"]).hostname or ""
            if not self.rules.allow_private and _literal_private(host):
                raise OSError(f"{host} is a private address: refused")
            async with session.post(
                d["url"], data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = int((time.monotonic() - started) * 1000)
        ok = status is not None and 200 <= status < 300
        metrics.WEBHOOK_DELIVERIES.labels("delivered" if ok else "failed_attempt").inc()
        await self._record(d, status, latency, None if ok else (error or f"HTTP {status}"))

    async def _record(
        self,
        d: dict[str, Any],
        status: int | None,
        latency_ms: int,
        error: str | None,
        final: bool = False,
    ) -> None:
        now = datetime.now(UTC)
        attempts = d["attempts"] + (0 if final else 1)
        async with self.pool.connection() as conn, conn.transaction():
            if error is None:
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = %s,"
                    " response_status = %s, latency_ms = %s, last_error = NULL,"
                    " delivered_at = %s WHERE id = %s",
                    (attempts, status, latency_ms, now, d["id"]),
                )
                await conn.execute(
                    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = %s"
                    " AND failing_since IS NOT NULL",
                    (d["endpoint_id"],),
                )
                return
            expired = final or now - d["created_at"] > self.rules.retry_window
            await conn.execute(
                "UPDATE webhook_deliveries SET status = %s, attempts = %s, response_status = %s,"
                " latency_ms = %s, last_error = %s, next_attempt_at = %s WHERE id = %s",
                (
                    "failed" if expired else "pending",
                    attempts,
                    status,
                    latency_ms,
                    error,
                    now + retry_delay(attempts, self.rules.retry_base_seconds),
                    d["id"],
                ),
            )
            if final:
                return
            row = await (
                await conn.execute(
                    "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, %s)"
                    " WHERE id = %s RETURNING failing_since",
                    (now, d["endpoint_id"]),
                )
            ).fetchone()
            if row is not None and row[0] is not None and now - row[0] > self.rules.disable_after:
                await conn.execute(
                    "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = %s,"
                    " updated_at = now() WHERE id = %s AND status = 'enabled'",
                    (f"failing since {row[0].isoformat()}: {error}", d["endpoint_id"]),
                )
                log.warning(
                    "webhook endpoint %s disabled: failing since %s (%s)",
                    d["endpoint_id"],
                    row[0].isoformat(),
                    error,
                )


def _literal_private(host: str) -> bool:
    try:
        return not is_public(host)
    except ValueError:
        return False  # a name: the resolver checks its addresses
