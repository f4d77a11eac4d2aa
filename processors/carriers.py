"""Carriers place the flash call and send the SMS of a workflow step. The simulated ones ring
and write to simulated handsets (processors/sms.py has the SMS centres)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from core.call_rules import FailReason
from core.faults import is_transient

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
    async def dial(self, call_id: uuid.UUID, phone: str, caller_number: str) -> DialResult:
        """Ring `phone` once from `caller_number` and say what happened."""
        ...


def sim_outcome(phone: str) -> FailReason | None:
    return SIM_OUTCOMES.get(phone[-4:])


class SimCarrier:
    """Rings after a realistic delay and records what each simulated handset has seen (the
    rings of many dials are written together, as a network would not wait on a database)."""

    def __init__(self, pool: AsyncConnectionPool, min_ms: int, max_ms: int) -> None:
        self._pool = pool
        self._min_ms = min_ms
        self._max_ms = max_ms
        self._rings: list[tuple[tuple[uuid.UUID, str, str, datetime], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def dial(self, call_id: uuid.UUID, phone: str, caller_number: str) -> DialResult:
        await asyncio.sleep(random.uniform(self._min_ms, self._max_ms) / 1000)
        failure = sim_outcome(phone)
        now = datetime.now(UTC)
        if failure is None and not phone.endswith(SIM_SILENT):
            await self._ring(call_id, phone, caller_number, now)
        return DialResult(failure, now)

    async def _ring(self, call_id: uuid.UUID, phone: str, caller_number: str, at: datetime) -> None:
        """What the handset shows, once it is written (with the other rings of the moment)."""
        shown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rings.append(((call_id, phone, caller_number, at), shown))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_rings())
        await shown

    async def _write_rings(self) -> None:
        """Write every ring waiting, a statement at a time; the handsets live in PostgreSQL,
        and a real network does not go away with our database, so neither does this one: it
        waits for it."""
        while self._rings:
            rings, self._rings = self._rings, []
            delay = 0.05
            while True:
                try:
                    async with self._pool.connection() as conn:
                        await conn.execute(
                            # Every ring is kept, even a second for the same call (a double
                            # dial must show).
                            "INSERT INTO sim_handset_calls (call_id, phone, caller_number,"
                            " rang_at) SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[],"
                            " %b::timestamptz[])",
                            [list(column) for column in zip(*(r for r, _ in rings), strict=True)],
                        )
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        # Each dial waiting on these rings fails (carrier_error) and says so.
                        for _, shown in rings:
                            shown.set_exception(exc)
                        break
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            for _, shown in rings:
                if not shown.done():
                    shown.set_result(None)
