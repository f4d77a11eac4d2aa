"""The decisions processor's view of the number prefixes one batch of requests goes to: each
prefix's counts in the sliding window, its block or allow-listing; a prefix found pumped is
blocked here (core/fraud.py has the rule; docs/fraud.md the why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from core.call_rules import CallStatus
from core.fraud import FraudRules, PrefixCounts, pumped
from core.ids import derived_id
from runtime.outbox import Outbox
from schemas.codec import Event, new_event

Key = tuple[Any, str]  # (service id, prefix)


@dataclass
class PrefixState:
    blocked_until: datetime | None = None
    allowed: bool = False
    counted_since: datetime | None = None
    requests: int = 0
    verified: int = 0
    earlier: int = 0
    changed: bool = False


@dataclass
class FraudBook:
    rules: FraudRules
    prefixes: dict[Key, PrefixState] = field(default_factory=dict)

    async def ask(
        self, conn: psycopg.AsyncConnection, keys: set[Key], at: datetime
    ) -> psycopg.AsyncCursor[Any] | None:
        """Send the query of each prefix's state and its counts in the window ending at `at`
        (the batch's first request: a window a little longer for the later ones errs on the
        side of counting), from when it is counted (after a lifted block); `read` takes the
        answer. None: nothing to ask."""
        wanted = sorted(keys - set(self.prefixes))
        if not wanted:
            return None
        window = at - timedelta(seconds=self.rules.window_seconds)
        return await conn.execute(
            "SELECT w.s, w.p, f.blocked_until, f.allowed, f.counted_since,"
            " count(c.id) FILTER (WHERE c.requested_at > greatest(%s, f.counted_since)),"
            " count(c.id) FILTER (WHERE c.requested_at > greatest(%s, f.counted_since)"
            "   AND c.status = %s),"
            " count(c.id) FILTER (WHERE c.requested_at <= greatest(%s, f.counted_since))"
            " FROM unnest(%b::uuid[], %b::text[]) AS w(s, p)"
            " LEFT JOIN proc_fraud_prefixes f ON f.service_id = w.s AND f.prefix = w.p"
            " LEFT JOIN proc_calls c ON c.service_id = w.s AND c.prefix = w.p"
            "   AND c.requested_at > %s AND c.status <> %s"
            " GROUP BY w.s, w.p, f.blocked_until, f.allowed, f.counted_since",
            (
                window,
                window,
                CallStatus.VERIFIED,
                window,
                [k[0] for k in wanted],
                [k[1] for k in wanted],
                at - timedelta(seconds=self.rules.baseline_seconds),
                CallStatus.REJECTED,
            ),
        )

    async def read(self, asked: psycopg.AsyncCursor[Any] | None) -> None:
        if asked is None:
            return
        for (
            sid,
            prefix,
            until,
            allowed,
            since,
            requests,
            verified,
            earlier,
        ) in await asked.fetchall():
            self.prefixes[(sid, prefix)] = PrefixState(
                until, bool(allowed), since, requests, verified, earlier
            )

    def blocked(self, key: Key, request: Event, out: Outbox) -> bool:
        """Whether a request to this prefix is refused: blocked already, or found pumped now
        (then blocked, and told by a FraudSuspected)."""
        state = self.prefixes[key]
        at = request["occurred_at"]
        if state.allowed:
            return False
        if state.blocked_until is not None and at < state.blocked_until:
            return True
        if not pumped(PrefixCounts(state.requests, state.verified, state.earlier), self.rules):
            return False
        state.blocked_until = at + timedelta(seconds=self.rules.cool_off_seconds)
        state.changed = True
        out.emit(
            new_event(
                "FraudSuspected",
                event_id=str(derived_id(request["event_id"], "FraudSuspected")),
                occurred_at=at,
                service_id=key[0],
                prefix=key[1],
                requests=state.requests,
                verified=state.verified,
                until=state.blocked_until,
            )
        )
        return True

    def admitted(self, key: Key) -> None:
        self.prefixes[key].requests += 1

    async def save(self, conn: psycopg.AsyncConnection) -> None:
        """Write the blocks made in this batch."""
        changed = sorted(k for k, s in self.prefixes.items() if s.changed)
        if not changed:
            return
        await conn.execute(
            "INSERT INTO proc_fraud_prefixes (service_id, prefix, blocked_until)"
            " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[])"
            " ON CONFLICT (service_id, prefix)"
            " DO UPDATE SET blocked_until = EXCLUDED.blocked_until",
            (
                [k[0] for k in changed],
                [k[1] for k in changed],
                [self.prefixes[k].blocked_until for k in changed],
            ),
        )


async def lift(conn: psycopg.AsyncConnection, e: Event) -> None:
    """FraudBlockLifted: unblocked, and counted again from now (or it would block again at once)."""
    await conn.execute(
        "INSERT INTO proc_fraud_prefixes (service_id, prefix, counted_since) VALUES (%s, %s, %s)"
        " ON CONFLICT (service_id, prefix) DO UPDATE SET blocked_until = NULL,"
        " counted_since = EXCLUDED.counted_since",
        (e["service_id"], e["prefix"], e["occurred_at"]),
    )


async def allow(conn: psycopg.AsyncConnection, e: Event) -> None:
    """FraudPrefixAllowed: never blocked for this service."""
    await conn.execute(
        "INSERT INTO proc_fraud_prefixes (service_id, prefix, allowed) VALUES (%s, %s, true)"
        " ON CONFLICT (service_id, prefix) DO UPDATE SET allowed = true, blocked_until = NULL",
        (e["service_id"], e["prefix"]),
    )
