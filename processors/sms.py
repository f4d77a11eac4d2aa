"""SMS centres send the SMS of a workflow step (docs/workflows.md). The simulated one writes to
simulated handsets, with outcomes by the phone's last four digits (SIM_SMS_OUTCOMES);
processors/kannel.py sends through Kannel."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from core.call_rules import FailReason
from processors.carriers import DialResult, HandsetWrites
from schemas.codec import Event

# The simulated outcomes of an SMS by the phone's last four digits: as for calls, except that
# a busy line still receives messages (docs/workflows.md).
SIM_SMS_OUTCOMES: dict[str, FailReason] = {
    "0000": FailReason.UNREACHABLE,
    "2222": FailReason.INVALID_NUMBER,
    "3333": FailReason.CARRIER_ERROR,
}


class SmsCarrier(Protocol):
    async def send(self, command: Event, sender: str) -> DialResult:
        """Send the SendSms's text to its phone and say whether it was delivered."""
        ...


class SimSmsCentre:
    """Delivers after a realistic delay and keeps what each simulated handset received (the
    operator reads it: GET /v1/sim/handsets/{phone}/messages)."""

    def __init__(self, pool: AsyncConnectionPool, min_ms: int, max_ms: int) -> None:
        self._min_ms = min_ms
        self._max_ms = max_ms
        self._messages = HandsetWrites(
            pool,
            "INSERT INTO sim_handset_messages (call_id, phone, sender, text, received_at)"
            " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[],"
            " %b::timestamptz[])",
        )

    async def send(self, command: Event, sender: str) -> DialResult:
        await asyncio.sleep(random.uniform(self._min_ms, self._max_ms) / 1000)
        phone = command["phone"]
        failure = SIM_SMS_OUTCOMES.get(phone[-4:])
        now = datetime.now(UTC)
        if failure is None:
            await self._messages.write((command["call_id"], phone, sender, command["text"], now))
        return DialResult(failure, now)
