"""The SIP carrier: places each dial on the first healthy trunk, within that trunk's concurrency
and calls-per-second limits (dials wait for room; none is dropped), and moves to the next trunk
when one fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.call_rules import FailReason
from core.trunks import TrunkAddress
from processors.carriers import DialResult
from processors.sip.endpoint import Endpoint
from processors.sip.locate import Locator, Target
from processors.sip.pacing import Pacing, pacing
from processors.sip.slots import SharedSlots, Slots, slots
from processors.sip.uac import FlashCall, Outcome, Ping, Timers

log = logging.getLogger(__name__)

# A trunk that failed is tried again after this long (sooner when every trunk has failed).
COOLDOWN_SECONDS = 30.0


@dataclass
class Trunk:
    address: TrunkAddress
    pacer: Pacing
    slots: Slots
    # One endpoint per target the trunk was located at (an IP trunk has one), made on demand.
    endpoints: dict[Target, Endpoint] = field(default_factory=dict)
    target_down: dict[Target, float] = field(default_factory=dict)  # -> rested until
    down_until: float = 0.0
    dialogs: int = 0
    invites: deque[float] = field(default_factory=deque)  # when the last second's went out

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until

    def cps(self) -> float:
        """INVITEs sent over the last second."""
        now = time.monotonic()
        while self.invites and self.invites[0] <= now - 1.0:
            self.invites.popleft()
        return float(len(self.invites))

    def export(self) -> None:
        """The trunk's gauges, read when /metrics is scraped."""
        name = str(self.address)
        metrics.SIP_DIALOGS.labels(name).set_function(lambda: self.dialogs)
        metrics.SIP_TRUNK_UP.labels(name).set_function(lambda: float(self.healthy))
        metrics.SIP_CPS.labels(name).set_function(self.cps)


@dataclass
class SipStats:
    """What `make bench` reports: seconds from INVITE to the first 180/183, per call."""

    ring_delays: list[float] = field(default_factory=list)


class SipCarrier:
    def __init__(
        self,
        trunks: list[TrunkAddress],
        ring_seconds: float,
        max_concurrent: int,
        cps: float,
        t1: float = 0.5,
        hangup_seconds: float = 0.0,
        public: tuple[str, int | None] | None = None,
        options_interval: float = 0.0,
        tls: ssl.SSLContext | None = None,
        locator: Locator | None = None,
        pool: AsyncConnectionPool | None = None,
    ) -> None:
        """`pool`: where the trunks' pacing and dialogs are shared with the other dialer
        workers (without one, this carrier counts only its own calls)."""
        if not trunks:
            raise ValueError("FLASHCALL_SIP_TRUNKS names no trunk")
        self.timers = Timers(t1, ring_seconds, hangup_seconds)
        self.trunks = [
            Trunk(t, pacing(pool, f"sip:{t}", cps), slots(pool, f"sip:{t}", max_concurrent))
            for t in trunks
        ]
        self._t1 = t1
        self._public = public
        self._tls = tls
        self.locator = locator or Locator()
        self._options_interval = options_interval
        self._keepalive: asyncio.Task[None] | None = None
        self.stats = SipStats()
        self._dialogs: set[asyncio.Task[None]] = set()
        for trunk in self.trunks:
            trunk.export()

    async def dial(
        self, call_id: uuid.UUID, phone: str, caller_number: str, trunk: str | None = None
    ) -> DialResult:
        """Ring `phone` from `caller_number`, through `trunk` first (the caller range's, as
        FLASHCALL_SIP_TRUNKS names it); returns as soon as the outcome is known (the first
        ring), while the dialog (the CANCEL after the ring time) goes on in the background."""
        self._start_keepalive()
        outcome: Outcome | None = None
        answered: asyncio.Future[bool] | None = None
        trunks = self._in_order(trunk)
        for i, on in enumerate(trunks):
            outcome, answered = await self._on_trunk(call_id, on, phone, caller_number)
            if not outcome.trunk_fault:
                break
            rest = outcome.rest_seconds if outcome.rest_seconds is not None else COOLDOWN_SECONDS
            on.down_until = time.monotonic() + rest
            if i < len(trunks) - 1:
                log.warning(
                    "trunk %s failed on call %s; trying the next trunk", on.address, call_id
                )
        assert outcome is not None
        return DialResult(outcome.failure, outcome.at, answered)

    async def _on_trunk(
        self, call_id: uuid.UUID, trunk: Trunk, phone: str, caller: str
    ) -> tuple[Outcome, asyncio.Future[bool] | None]:
        """Try the trunk's targets in order (healthy ones first) until one answers for the
        call; a target that fails rests, and the next one takes the dial."""
        try:
            targets = await self.locator.targets(trunk.address)
        except Exception as exc:  # no DNS answer: the trunk cannot be reached now
            log.warning("trunk %s cannot be located: %r", trunk.address, exc)
            return Outcome(FailReason.CARRIER_ERROR, datetime.now(UTC), trunk_fault=True), None
        now = time.monotonic()
        ordered = sorted(targets, key=lambda t: trunk.target_down.get(t, 0.0) > now)
        outcome: Outcome | None = None
        answered: asyncio.Future[bool] | None = None
        for target in ordered:
            outcome, answered = await self._attempt(
                trunk, self._endpoint(trunk, target), phone, caller
            )
            if not outcome.trunk_fault:
                if outcome.failure is not None:
                    log.info(
                        "call %s via %s (%s:%s): %s %s (%s)",
                        call_id, trunk.address, target.host, target.port,
                        outcome.status, outcome.phrase, outcome.failure,
                    )  # fmt: skip
                return outcome, answered
            rest = outcome.rest_seconds if outcome.rest_seconds is not None else COOLDOWN_SECONDS
            trunk.target_down[target] = time.monotonic() + rest
            log.warning(
                "trunk %s at %s:%s (%s) failed on call %s: %s %s; resting it %.0f s",
                trunk.address, target.host, target.port, target.transport, call_id,
                outcome.status if outcome.status is not None else "no answer",
                outcome.phrase, rest,
            )  # fmt: skip
        assert outcome is not None
        return outcome, answered

    def _endpoint(self, trunk: Trunk, target: Target) -> Endpoint:
        endpoint = trunk.endpoints.get(target)
        if endpoint is None:
            endpoint = Endpoint(trunk.address, self._t1, self._public, target, self._tls)
            trunk.endpoints[target] = endpoint
        return endpoint

    def _start_keepalive(self) -> None:
        if self._options_interval > 0 and self._keepalive is None:
            self._keepalive = asyncio.create_task(self._ping_trunks())

    async def _ping_trunks(self) -> None:
        """OPTIONS to each trunk every interval: one that does not answer leaves the rotation
        until it answers again (its flashcall_sip_trunk_up says which)."""
        while True:
            for trunk in self.trunks:
                answered = await self._ping(trunk)
                if answered and trunk.down_until == float("inf"):
                    trunk.down_until = 0.0
                    log.info("trunk %s answers OPTIONS again: back in rotation", trunk.address)
                elif not answered and trunk.down_until != float("inf"):
                    trunk.down_until = float("inf")
                    log.warning("trunk %s does not answer OPTIONS: out of rotation", trunk.address)
            await asyncio.sleep(self._options_interval)

    async def _ping(self, trunk: Trunk) -> bool:
        """Whether any target of the trunk answers an OPTIONS."""
        try:
            targets = await self.locator.targets(trunk.address)
        except Exception:
            return False
        for target in targets:
            if await Ping(self._endpoint(trunk, target), self.timers).run():
                return True
        return False

    def _in_order(self, preferred: str | None = None) -> list[Trunk]:
        """Healthy trunks first, the preferred one (the caller range's) ahead of the others in
        their configured order; failed ones last, as a last resort."""
        return sorted(self.trunks, key=lambda t: (not t.healthy, str(t.address) != preferred))

    async def _attempt(
        self, trunk: Trunk, endpoint: Endpoint, phone: str, caller: str
    ) -> tuple[Outcome, asyncio.Future[bool]]:
        await trunk.slots.acquire()
        try:
            await trunk.pacer.wait()
            call = FlashCall(endpoint, self.timers, phone, caller)
        except BaseException:
            trunk.slots.release()
            raise
        trunk.dialogs += 1
        trunk.invites.append(time.monotonic())
        task = asyncio.create_task(call.run())
        self._dialogs.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._dialogs.discard(done)
            trunk.dialogs -= 1
            trunk.slots.release()  # the slot is held for the whole dialog, CANCEL included
            if not done.cancelled() and done.exception() is not None:
                log.error("SIP dialog failed", exc_info=done.exception())
            if call.rang_after is not None:
                self.stats.ring_delays.append(call.rang_after)

        task.add_done_callback(finished)
        return await asyncio.shield(call.outcome), call.answered

    async def close(self, within: float = 10.0) -> None:
        """Let dialogs in progress finish (their CANCELs go out), then close the trunks."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        if self._dialogs:
            _, pending = await asyncio.wait(set(self._dialogs), timeout=within)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for trunk in self.trunks:
            if isinstance(trunk.slots, SharedSlots):
                await trunk.slots.close()
            for endpoint in trunk.endpoints.values():
                await endpoint.close()
