"""Which failures pass by themselves: one rule for the processors (retry until the dependency
is back) and the API (answer 503 with Retry-After)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from confluent_kafka import KafkaException
from psycopg_pool import PoolTimeout

# SQLSTATE classes that say "not now" rather than "never": connection exceptions (08),
# transaction rollbacks such as deadlocks and serialization failures (40), insufficient
# resources (53), operator intervention such as a shutdown or a cancelled query (57), system
# errors (58), internal errors (XX). Lock timeouts (55P03) too.
TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58", "XX"})
TRANSIENT_STATES = frozenset({"55P03"})

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` comes from a dependency that is away or busy (PostgreSQL restarting, the
    broker unreachable, a deadlock), so the same work can succeed later; data errors,
    violated constraints and bugs cannot."""
    if isinstance(exc, (PoolTimeout, psycopg.InterfaceError, KafkaException)):
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:  # the connection failed before the server said anything
            return isinstance(exc, psycopg.OperationalError)
        return state[:2] in TRANSIENT_CLASSES or state in TRANSIENT_STATES
    return False


async def until_back(
    attempt: Callable[[], Awaitable[T]],
    waiting: Callable[[Exception], None] | None = None,
    first: float = 0.05,
    cap: float = 5.0,
) -> T:
    """What `attempt()` gives once it succeeds. While a dependency is away (`is_transient`) it
    is tried again after a pause that doubles from `first` to `cap` seconds, `waiting` told of
    each failure; any other error is raised at once."""
    delay = first
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if waiting is not None:
                waiting(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)
