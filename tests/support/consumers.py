"""Consumers made of a function, for tests of the batch machinery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from runtime.outbox import Outbox
from schemas.codec import Event

Apply = Callable[[psycopg.AsyncConnection, list[Event], Outbox], Awaitable[None]]


@dataclass
class FunctionConsumer:
    apply: Apply
    handles: frozenset[str] = frozenset({"DialStarted"})
    deduplicated: frozenset[str] = frozenset({"DialStarted"})

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        await self.apply(conn, events, out)
