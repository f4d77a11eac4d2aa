"""The Kannel SMS carrier (FLASHCALL_SMS_CARRIER=kannel, docs/workflows.md): each SMS step is
submitted to Kannel's HTTP `sendsms` interface (its POST form: the text as the body, the
parameters in X-Kannel headers), and its fate comes back as a delivery report
(Kannel calls the `dlr-url` we give it, on the worker's metrics port: DLR_PATH).

- Text: the GSM 7-bit alphabet when it fits, else UCS-2 (`coding=2`; the body is UTF-8 and
  says so in its Content-Type); Persian is UCS-2. Kannel splits a long text into the parts
  core/sms_encoding.py counts (its sendsms-user needs `max-messages` of at least 4).
- Pace: at most FLASHCALL_KANNEL_CPS submissions a second from the platform, every dialer
  worker's together, queued in the order they come (the SIP carrier's pacing, shared through
  PostgreSQL: processors/sip/pacing.py).
- Transient failures (Kannel unreachable, 5xx, "queued for later" is a success) are retried with
  backoff for FLASHCALL_KANNEL_SEND_TIMEOUT_SECONDS; a refusal (4xx) fails the step at once. A
  request sent and never answered (Kannel went down with it) may have been taken: it is sent
  again only if no delivery report comes within KANNEL_CONFIRM_SECONDS (Kannel reports within
  seconds of a delivery, across its own restart), so a restart neither loses nor repeats it.
- The outcome: a delivery report "delivered to phone" (1) delivers the step; "not delivered"
  (2) or "SMSC rejected" (16) fails it; none within FLASHCALL_KANNEL_DLR_TIMEOUT_SECONDS fails
  it as `expired`. A report for a step this worker no longer waits for (it restarted) is
  recorded all the same, from what the dlr-url carries; the claim takes one outcome only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.call_rules import FailReason
from core.settings import KANNEL_CONFIRM_SECONDS
from core.sms_encoding import CODING_UCS2, encoded
from processors.carriers import DialResult
from processors.dial_records import claim_id
from processors.sip.pacing import pacing
from schemas.codec import Event

log = logging.getLogger(__name__)

DLR_PATH = "/kannel/dlr"
# Kannel's report types: delivered to the phone, not delivered to it, rejected by the SMSC.
DLR_DELIVERED = 1
DLR_UNDELIVERED = 2
DLR_SMSC_REJECTED = 16
DLR_MASK = DLR_DELIVERED | DLR_UNDELIVERED | DLR_SMSC_REJECTED
FAILURES = {
    DLR_UNDELIVERED: FailReason.UNREACHABLE,
    DLR_SMSC_REJECTED: FailReason.CARRIER_ERROR,
}
HEALTH_SECONDS = 5.0

# Records a report whose step no worker waits for (the command rebuilt from the dlr-url).
LateOutcome = Callable[[Event, DialResult], Awaitable[None]]


class Refused(Exception):
    """Kannel refused the message for good (a 4xx: bad parameters, authentication)."""


class Away(Exception):
    """Kannel did not take the message within the send timeout (down, or answering 5xx)."""


@dataclass(frozen=True)
class KannelConfig:
    sendsms_url: str
    username: str
    password: str
    dlr_url: str  # the base URL Kannel reaches this worker at
    cps: float
    send_timeout: float
    dlr_timeout: float


class KannelSms:
    def __init__(self, config: KannelConfig, pool: AsyncConnectionPool | None = None) -> None:
        """`pool`: where the gateway's pacing is shared with the other dialer workers."""
        self._config = config
        self._pacer = pacing(pool, f"kannel:{config.sendsms_url}", config.cps)
        self._waiting: dict[str, asyncio.Future[DialResult]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._late: LateOutcome | None = None
        self.up = False
        metrics.SMS_GATEWAY_UP.set_function(lambda: float(self.up))

    def on_late(self, late: LateOutcome) -> None:
        self._late = late

    async def send(self, command: Event, sender: str) -> DialResult:
        claim = str(claim_id(command["call_id"], command.get("step", 0)))
        waiting: asyncio.Future[DialResult] = asyncio.get_running_loop().create_future()
        self._waiting[claim] = waiting
        try:
            await self._pacer.wait()
            if not await self._submit(command, sender, claim):
                # Sent and not answered: Kannel may have taken it. Its report says so soon if
                # it did; if none comes, it did not, and it is sent again.
                done, _ = await asyncio.wait({waiting}, timeout=KANNEL_CONFIRM_SECONDS)
                if not done:
                    log.warning("kannel: no report for call %s: sending again", command["call_id"])
                    await self._submit(command, sender, claim)
            return await asyncio.wait_for(waiting, self._config.dlr_timeout)
        except (Refused, Away) as exc:
            log.error("kannel did not take the SMS of call %s: %s", command["call_id"], exc)
            return DialResult(FailReason.CARRIER_ERROR, datetime.now(UTC))
        except TimeoutError:  # taken, and no delivery report in time
            return DialResult(FailReason.EXPIRED, datetime.now(UTC))
        finally:
            self._waiting.pop(claim, None)

    async def _submit(self, command: Event, sender: str, claim: str) -> bool:
        """Hand the message to Kannel, retrying what is transient until the send timeout:
        True once Kannel took it, False when it was sent and not answered."""
        text = command["text"]
        coding = encoded(text)
        # Kannel's POST form of sendsms: the text as the body, the rest in X-Kannel headers.
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-Kannel-Username": self._config.username,
            "X-Kannel-Password": self._config.password,
            "X-Kannel-From": sender,
            "X-Kannel-To": command["phone"],
            "X-Kannel-DLR-Mask": str(DLR_MASK),
            "X-Kannel-DLR-Url": self._report_url(command, claim),
        }
        if coding.coding == CODING_UCS2:
            headers["X-Kannel-Coding"] = str(CODING_UCS2)
        metrics.SMS_PARTS.inc(coding.parts)
        deadline = time.monotonic() + self._config.send_timeout
        delay = 0.1
        while True:
            try:
                status, body = await self._post(headers, text)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                status, body = 0, repr(exc)  # not sent: safe to send again
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # Sent, and no answer (Kannel went down meanwhile): it may have taken it.
                log.warning("kannel: no answer to the SMS of call %s: %r", command["call_id"], exc)
                return False
            if status in (200, 202):
                self.up = True
                return True
            if 400 <= status < 500:
                raise Refused(f"{status} {body.strip()}")
            self.up = False
            if time.monotonic() + delay > deadline:
                raise Away(f"{status} {body.strip()}")
            log.warning("kannel: %s; trying again in %.1f s", body.strip() or status, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _post(self, headers: dict[str, str], text: str) -> tuple[int, str]:
        """One submission. A POST: aiohttp sends a GET (idempotent) again by itself when the
        server drops the connection, and Kannel going down after reading a request would then
        get it twice; a refused connection must mean "not sent"."""
        async with self._client().post(
            self._config.sendsms_url, data=text.encode(), headers=headers
        ) as response:
            return response.status, await response.text()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    def _report_url(self, command: Event, claim: str) -> str:
        """Where Kannel reports: what recording the outcome needs, should this worker be
        gone by then (%d is Kannel's placeholder for the report's type)."""
        query = urlencode(
            {
                "claim": claim,
                "call": str(command["call_id"]),
                "service": str(command["service_id"]),
                "step": str(command.get("step", 0)),
                "ttl": str(command["code_ttl_seconds"]),
                "fails": "1" if command.get("fails_call", True) else "0",
            }
        )
        return f"{self._config.dlr_url.rstrip('/')}{DLR_PATH}?{query}&type=%d"

    async def on_report(self, request: web.Request) -> web.Response:
        """A delivery report from Kannel (answered 200 whatever it says: Kannel need not
        send it again)."""
        query = request.query
        try:
            kind = int(query["type"])
            claim = str(uuid.UUID(query["claim"]))
            command = _command_of(query)
        except (KeyError, ValueError):
            return web.Response(status=400, text="not a report of ours")
        result = _result_of(kind)
        if result is None:  # buffered, or accepted by the SMSC: not the end
            return web.Response(text="ok")
        waiting = self._waiting.get(claim)
        if waiting is not None and not waiting.done():
            waiting.set_result(result)
        elif waiting is None and self._late is not None:
            await self._late(command, result)
        return web.Response(text="ok")

    async def check(self) -> None:
        """Whether Kannel answers (its sendsms port answers any request)."""
        try:
            async with self._client().get(
                self._config.sendsms_url, timeout=aiohttp.ClientTimeout(total=HEALTH_SECONDS)
            ) as response:
                self.up = response.status < 500
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.up = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _result_of(kind: int) -> DialResult | None:
    now = datetime.now(UTC)
    if kind & DLR_DELIVERED:
        return DialResult(None, now)
    for bit, reason in FAILURES.items():
        if kind & bit:
            return DialResult(reason, now)
    return None


def _command_of(query: Any) -> Event:
    """The SendSms a late report is about, as far as recording its outcome needs."""
    return {
        "event_type": "SendSms",
        "call_id": uuid.UUID(query["call"]),
        "service_id": uuid.UUID(query["service"]),
        "step": int(query["step"]),
        "code_ttl_seconds": float(query["ttl"]),
        "fails_call": query.get("fails") == "1",
        "dialed_at": None,
    }
