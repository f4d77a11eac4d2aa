"""The shared limits' answers kept in memory, for unit tests of what the API does with them
(the limits themselves are PostgreSQL's: tests/integration/test_shared_limits.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psycopg_pool import PoolTimeout

from front_door.limits import PerSecond, PerWindow
from front_door.shared_limits import CallTakes


class MemoryLimits:
    def __init__(self, key_rate: int = 100, phone_limit: int = 5) -> None:
        self.key = PerSecond(key_rate)
        self.phone = PerWindow(phone_limit, 3600)
        self.taken: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}

    async def take_calls(
        self, key_id: uuid.UUID, service_id: uuid.UUID, calls: Sequence[tuple[str, uuid.UUID]]
    ) -> CallTakes:
        granted, key_wait = 0, 0.0
        for _ in calls:
            key_wait = self.key.take(key_id)
            if key_wait:
                break
            granted += 1
        waits = []
        for phone, call_id in calls[:granted]:
            wait = self.phone.take((service_id, phone))
            waits.append(wait)
            if not wait:
                self.taken[call_id] = (service_id, phone)
        return CallTakes(granted, key_wait, waits)

    async def give_back_calls(self, call_ids: Sequence[uuid.UUID]) -> None:
        for call_id in call_ids:
            taken = self.taken.pop(call_id, None)
            if taken is not None:
                self.phone.give_back(taken)


class AwayPool:
    """A connection pool whose PostgreSQL is away: every connection times out."""

    def connection(self, timeout: float | None = None) -> AwayPool:
        return self

    async def __aenter__(self) -> None:
        raise PoolTimeout("PostgreSQL is away (a test's pool)")

    async def __aexit__(self, *_: object) -> None:
        return None
