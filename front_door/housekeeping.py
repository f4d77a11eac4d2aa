"""What each API replica tidies every FLASHCALL_SWEEP_SECONDS: the limits' counts that left
their windows and the Idempotency-Keys past their 24 h. Every replica does it (each removal
is idempotent), so none waits for another; a sweep that fails is logged, and the next one
removes what it left (nothing counts or replays those meanwhile)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from front_door import idempotency
from front_door.context import Context

log = logging.getLogger(__name__)


async def sweep(ctx: Context) -> None:
    jobs: dict[str, Callable[[], Awaitable[object]]] = {
        "the limits' old counts": ctx.limits.sweep,
        "the old Idempotency-Keys": lambda: idempotency.forget(ctx.pool),
    }
    for what, job in jobs.items():
        try:
            await job()
        except Exception as exc:
            log.warning("housekeeping: could not remove %s: %r", what, exc)


async def sweep_forever(ctx: Context) -> None:
    while True:
        await asyncio.sleep(ctx.settings.sweep_seconds)
        await sweep(ctx)
