"""Carriers place the flash call and send the SMS of a workflow step. The simulated ones ring
and write to simulated handsets (processors/sms.py has the SMS centres)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from core.call_rules import FailReason
from core.faults import until_back
from core.networks import network_of

# Outcomes of the simulated carrier by the dialled number's last four digits (api-v1.md).
SIM_OUTCOMES: dict[str, FailReason] = {
    "0000": FailReason.UNREACHABLE,
    "1111": FailReason.BUSY,
    "2222": FailReason.INVALID_NUMBER,
    "3333": FailReason.CARRIER_ERROR,
}
# A number whose operator swallows flash calls: the call rings out as far as the network
# says, and the handset never shows it (an SMS to it is delivered).
SIM_SILENT = "4444"


@dataclass(frozen=True)
class DialResult:
    """`failure` is None when the handset rang, at `at`."""

    failure: FailReason | None
    at: datetime
    # Resolves once the call is over: whether someone picked up (answered seconds are billed).
    answered: asyncio.Future[bool] | None = None


class Carrier(Protocol):
    async def dial(
        self, call_id: uuid.UUID, phone: str, caller_number: str, trunk: str | None = None
    ) -> DialResult:
        """Ring `phone` once from `caller_number` (through `trunk` first, where the carrier has
        trunks and the caller range names one) and say what happened."""
        ...


def sim_outcome(phone: str) -> FailReason | None:
    return SIM_OUTCOMES.get(phone[-4:])


class HandsetWrites:
    """What simulated handsets show, written together: the rows of many dials or messages in
    one statement, as a network would not wait on a database. PostgreSQL holds the handsets,
    and a real network does not go away with our database, so neither does this: it waits for
    it; a row it refuses for good fails the dial or message waiting on it (carrier_error)."""

    def __init__(self, pool: AsyncConnectionPool, insert: str) -> None:
        self._pool = pool
        self._insert = insert  # INSERT ... SELECT * FROM unnest(...), one array per column
        self._rows: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, row: tuple[Any, ...]) -> None:
        """Once `row` is written (with the other rows of the moment)."""
        shown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rows.append((row, shown))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await shown

    async def _write_all(self) -> None:
        while self._rows:
            rows, self._rows = self._rows, []
            try:
                columns = [list(column) for column in zip(*(r for r, _ in rows), strict=True)]
                await until_back(partial(self._insert_rows, columns), cap=2.0)
            except Exception as exc:
                for _, shown in rows:
                    shown.set_exception(exc)
            for _, shown in rows:
                if not shown.done():
                    shown.set_result(None)

    async def _insert_rows(self, columns: list[list[Any]]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(self._insert, columns)


class SimCarrier:
    """Rings after a realistic delay and records what each simulated handset has seen."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        min_ms: int,
        max_ms: int,
        blocked: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self._min_ms = min_ms
        self._max_ms = max_ms
        # (caller prefix, network): FLASHCALL_SIM_BLOCKED_RANGES, a network blocking a range.
        self._blocked = blocked
        # Every ring is kept, even a second for the same call (a double dial must show).
        self._rings = HandsetWrites(
            pool,
            "INSERT INTO sim_handset_calls (call_id, phone, caller_number, rang_at)"
            " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::timestamptz[])",
        )

    async def dial(
        self, call_id: uuid.UUID, phone: str, caller_number: str, trunk: str | None = None
    ) -> DialResult:
        await asyncio.sleep(random.uniform(self._min_ms, self._max_ms) / 1000)
        failure = sim_outcome(phone)
        if failure is None and self._blocks(phone, caller_number):
            failure = FailReason.UNREACHABLE
        now = datetime.now(UTC)
        if failure is None and not phone.endswith(SIM_SILENT):
            await self._rings.write((call_id, phone, caller_number, now))
        return DialResult(failure, now)

    def _blocks(self, phone: str, caller_number: str) -> bool:
        if not self._blocked:
            return False
        network = network_of(phone)
        return any(
            caller_number.startswith(prefix) and network == blocked_network
            for prefix, blocked_network in self._blocked
        )
