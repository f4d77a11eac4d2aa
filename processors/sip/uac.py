"""One flash call as a SIP user agent client: INVITE, ring, CANCEL (RFC 3261 sections 9, 13,
17.1). Over UDP the INVITE and CANCEL are retransmitted (Timer A, E) until answered; Timer B
(64·T1) ends an INVITE nobody answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from core.call_rules import FailReason
from processors.sip.digest import authorization
from processors.sip.endpoint import Endpoint
from processors.sip.message import Message, new_branch, new_tag, render, uri_of, values

log = logging.getLogger(__name__)

T2 = 4.0  # RFC 3261: the cap of non-INVITE retransmission intervals


@dataclass(frozen=True)
class Outcome:
    """`failure` None: the handset rang (or answered) at `at`. `trunk_fault`: the
    trunk itself failed (no answer at all, a server error, refused credentials), so another
    trunk may take the call; it rests `rest_seconds` (a 503's Retry-After) if given. `status`
    and `phrase` are the final response's, for the log."""

    failure: FailReason | None
    at: datetime
    trunk_fault: bool = False
    status: int | None = None
    phrase: str = ""
    rest_seconds: float | None = None


def failure_for(status: int) -> FailReason:
    """What a final non-2xx response to the INVITE means for the call (docs/telephony.md)."""
    if status in (486, 600):
        return FailReason.BUSY
    if status == 603:
        return FailReason.DECLINED
    if status in (404, 484, 604):
        return FailReason.INVALID_NUMBER
    if status in (408, 480):
        return FailReason.UNREACHABLE
    # 3xx (not followed), 403, 488, 606 and the rest: this call failed, not the trunk.
    return FailReason.CARRIER_ERROR


def is_trunk_fault(status: int) -> bool:
    """A failure of the trunk rather than of the called number: a server error, or
    credentials it refused (401/407 after we answered its challenge)."""
    return (status >= 500 and status not in (600, 603, 604, 606)) or status in (401, 407)


def retry_after(message: Message) -> float | None:
    """A 503's Retry-After in seconds, if it gave one."""
    value = (message.header("retry-after") or "").split(";")[0].split("(")[0].strip()
    return float(value) if value.isdigit() else None


@dataclass(frozen=True)
class Dialog:
    """What requests within an answered call need (RFC 3261 12.1.2, 12.2.1.1): the
    Request-URI, the Route headers and the remote tag."""

    request_uri: str
    routes: tuple[str, ...]
    to_tag: str | None


def loose(uri: str) -> bool:
    return any(p.strip().lower().split("=")[0] == "lr" for p in uri.split(";")[1:])


def dialog_of(ok: Message, fallback_uri: str) -> Dialog:
    """The dialog a 2xx to our INVITE made: the route set is its Record-Route reversed, the
    remote target its Contact. A strict router first in the set takes the Request-URI, and
    the remote target goes last in the Route headers."""
    route_set = list(reversed(values(ok.all("record-route"))))
    contact = ok.header("contact")
    target = uri_of(contact) if contact else fallback_uri
    if route_set and not loose(uri_of(route_set[0])):
        return Dialog(uri_of(route_set[0]), (*route_set[1:], f"<{target}>"), ok.to_tag)
    return Dialog(target, tuple(route_set), ok.to_tag)


@dataclass(frozen=True)
class Timers:
    t1: float
    ring_seconds: float
    hangup_seconds: float = 0.0  # how long an answered call stays up before our BYE


def request_uri(endpoint: Endpoint, user: str | None) -> str:
    """The Request-URI for the trunk: its host (a domain stays a domain: the carrier routes on
    it), its port if it names one, and the transport unless UDP."""
    trunk, transport = endpoint.trunk, endpoint.transport
    port = f":{trunk.port}" if trunk.port else ""
    at = f"{user}@" if user else ""
    suffix = "" if transport == "udp" else f";transport={transport}"
    return f"sip:{at}{trunk.host}{port}{suffix}"


def via(endpoint: Endpoint, branch: str) -> str:
    host, port = endpoint.advertised
    return f"SIP/2.0/{endpoint.transport.upper()} {host}:{port};branch={branch};rport"


class FlashCall:
    """Rings `phone` from `caller` through one endpoint. `outcome` resolves as soon as the call's
    fate is known (the first 180/183 is `delivered`); `run` goes on until the dialog is over."""

    def __init__(self, endpoint: Endpoint, timers: Timers, phone: str, caller: str) -> None:
        self.endpoint = endpoint
        self.timers = timers
        self.uri = request_uri(endpoint, phone)
        self.caller = caller
        self.call_id = f"{new_tag()}{new_tag()}@flashcall"
        self.from_tag = new_tag()
        self.cseq = 1
        self.outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # Whether someone picked up, once the call is over (answered seconds are billed).
        self.answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.invite_sent_at: float | None = None
        self.rang_after: float | None = None  # seconds from the INVITE to the first 180/183

    # ------------------------------------------------------------------ messages
    def _host(self) -> str:
        return str(self.endpoint.advertised[0])

    def _via(self, branch: str) -> str:
        return via(self.endpoint, branch)

    def _contact(self) -> str:
        host, port = self.endpoint.advertised
        transport = self.endpoint.transport
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{self.caller}@{host}:{port}{suffix}>"

    def _from(self) -> str:
        return f"<sip:{self.caller}@{self._host()}>;tag={self.from_tag}"

    def _to(self, tag: str | None = None) -> str:
        return f"<{self.uri.split(';')[0]}>" + (f";tag={tag}" if tag else "")

    def _request(
        self,
        method: str,
        branch: str,
        cseq: int,
        to_tag: str | None = None,
        uri: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        routes: tuple[str, ...] = (),
    ) -> bytes:
        headers = [
            ("Via", self._via(branch)),
            ("Max-Forwards", "70"),
            *(("Route", route) for route in routes),
            ("From", self._from()),
            ("To", self._to(to_tag)),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
            *(extra or []),
        ]
        return render(f"{method} {uri or self.uri} SIP/2.0", headers, body)

    def _invite(self, branch: str, auth: tuple[str, str] | None) -> bytes:
        host, _ = self.endpoint.advertised
        sdp = (
            f"v=0\r\no=flashcall 0 0 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            "m=audio 9 RTP/AVP 8 0\r\na=inactive\r\n"
        ).encode()
        extra = [
            ("Contact", self._contact()),
            # The caller number is the code: asserted so the network shows it as sent.
            ("P-Asserted-Identity", f"<sip:{self.caller}@{host}>"),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
            ("User-Agent", "flashcall"),
            ("Content-Type", "application/sdp"),
        ]
        if auth is not None:
            extra.append(auth)
        return self._request("INVITE", branch, self.cseq, extra=extra, body=sdp)

    # ------------------------------------------------------------------ the dialog
    def _settle(
        self,
        failure: FailReason | None,
        trunk_fault: bool = False,
        final: Message | None = None,
    ) -> None:
        if self.outcome.done():
            return
        self.outcome.set_result(
            Outcome(
                failure,
                datetime.now(UTC),
                trunk_fault,
                final.status if final is not None else None,
                final.phrase if final is not None else "",
                retry_after(final) if final is not None and final.status == 503 else None,
            )
        )

    async def run(self) -> None:
        try:
            await self._run()
        except OSError as exc:  # the trunk refused the connection, or it broke
            log.warning("SIP transport to %s failed: %s", self.endpoint.trunk, exc)
        finally:
            self._settle(FailReason.CARRIER_ERROR, trunk_fault=True)
            if not self.answered.done():
                self.answered.set_result(False)

    async def _run(self) -> None:
        await self.endpoint.open()  # Via and Contact need the local address
        auth: tuple[str, str] | None = None
        while True:
            branch = new_branch()
            invite = self._invite(branch, auth)
            queue = self.endpoint.expect(branch, "INVITE", "CANCEL")
            try:
                final = await self._invite_transaction(queue, branch, invite)
            finally:
                self.endpoint.forget(branch, "INVITE", "CANCEL")
            if final is None:
                return
            status = final.status
            if 200 <= status < 300:
                await self._answered(final)
                return
            await self.endpoint.send(self._request("ACK", branch, self.cseq, final.to_tag))
            trunk = self.endpoint.trunk
            if status in (401, 407) and auth is None and trunk.username:
                challenge = final.header(
                    "www-authenticate" if status == 401 else "proxy-authenticate"
                )
                if challenge:
                    self.cseq += 1
                    name = "Authorization" if status == 401 else "Proxy-Authorization"
                    value = authorization(
                        challenge, "INVITE", self.uri, trunk.username, trunk.password or ""
                    )
                    auth = (name, value)
                    continue
            self._settle(failure_for(status), is_trunk_fault(status), final)
            return

    async def _invite_transaction(
        self, queue: asyncio.Queue[Message], branch: str, invite: bytes
    ) -> Message | None:
        """Send the INVITE and wait for its final response, ringing and cancelling on the way;
        None when nothing came back in time."""
        t1 = self.timers.t1
        start = time.monotonic()
        await self.endpoint.send(invite)
        self.invite_sent_at = self.invite_sent_at or start
        resend_at, interval = start + t1, t1
        give_up_at = start + 64 * t1  # Timer B while nothing came back, then the ring wait
        proceeding = False
        cancel_at: float | None = None
        cancel: bytes | None = None
        cancel_answered = False
        cancel_resend_at, cancel_interval = 0.0, t1
        while True:
            now = time.monotonic()
            due = [give_up_at]
            if not proceeding and not self.endpoint.reliable:
                due.append(resend_at)
            if cancel_at is not None and cancel is None:
                due.append(cancel_at)
            if cancel is not None and not cancel_answered and not self.endpoint.reliable:
                due.append(cancel_resend_at)
            try:
                message = await asyncio.wait_for(queue.get(), max(0.0, min(due) - now))
            except TimeoutError:
                now = time.monotonic()
                if now >= give_up_at:
                    if not proceeding:
                        self._settle(FailReason.UNREACHABLE, trunk_fault=True)
                        return None
                    if cancel is None:  # it never rang: stop trying
                        self._settle(FailReason.UNREACHABLE)
                        cancel_at = now
                    else:
                        return None  # no 487 after our CANCEL; the call is over for us
                if not proceeding and not self.endpoint.reliable and now >= resend_at:
                    await self.endpoint.send(invite)
                    interval *= 2
                    resend_at = now + interval
                if cancel_at is not None and cancel is None and now >= cancel_at:
                    cancel = self._request("CANCEL", branch, self.cseq)
                    await self.endpoint.send(cancel)
                    cancel_resend_at = now + cancel_interval
                    give_up_at = now + 64 * t1
                elif cancel is not None and not cancel_answered and now >= cancel_resend_at:
                    await self.endpoint.send(cancel)
                    cancel_interval = min(cancel_interval * 2, T2)
                    cancel_resend_at = now + cancel_interval
                continue
            number, method = message.cseq
            if method == "CANCEL":
                cancel_answered = cancel_answered or message.status >= 200
                continue
            if number != self.cseq:
                continue  # a late answer to an earlier (challenged) INVITE
            if message.status < 200:
                if not proceeding:
                    proceeding = True
                    give_up_at = time.monotonic() + 64 * t1  # the wait for a ring
                if message.status in (180, 183) and self.rang_after is None:
                    self.rang_after = time.monotonic() - start
                    self._settle(None)
                    cancel_at = time.monotonic() + self.timers.ring_seconds
                    give_up_at = cancel_at + 64 * t1
                continue
            if message.status == 487 and cancel is not None:
                self._settle(FailReason.UNREACHABLE)  # cancelled before it rang
            return message

    async def _answered(self, ok: Message) -> None:
        """Someone picked up: the handset rang, so `delivered` (and `answered`, which costs
        money). Acknowledge, then hang up after `hangup_seconds` (at once by default), both
        through the dialog's route set; a BYE from the callee first ends it."""
        self._settle(None, final=ok)
        if not self.answered.done():
            self.answered.set_result(True)
        self.rang_after = self.rang_after or time.monotonic() - (self.invite_sent_at or 0)
        dialog = dialog_of(ok, self.uri)
        ack = self._request(
            "ACK", new_branch(), self.cseq, dialog.to_tag, dialog.request_uri, routes=dialog.routes
        )
        self.endpoint.remember_ack(self.call_id, ack)
        ended = self.endpoint.dialog_ends(self.call_id)
        try:
            await self.endpoint.send(ack)
            if self.timers.hangup_seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), self.timers.hangup_seconds)
            if ended.is_set():
                return  # the callee hung up first
            bye_branch = new_branch()
            self.cseq += 1
            bye = self._request(
                "BYE",
                bye_branch,
                self.cseq,
                dialog.to_tag,
                dialog.request_uri,
                routes=dialog.routes,
            )
            queue = self.endpoint.expect(bye_branch, "BYE")
            try:
                await self._non_invite(queue, bye)
            finally:
                self.endpoint.forget(bye_branch, "BYE")
        finally:
            self.endpoint.dialog_over(self.call_id)

    async def _non_invite(self, queue: asyncio.Queue[Message], request: bytes) -> None:
        """A non-INVITE transaction: Timer E retransmits (over UDP), Timer F gives up."""
        t1 = self.timers.t1
        await self.endpoint.send(request)
        give_up_at = time.monotonic() + 64 * t1
        interval = t1
        while True:
            wait = give_up_at - time.monotonic()
            if not self.endpoint.reliable:
                wait = min(wait, interval)
            if wait <= 0:
                return
            try:
                message = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                if time.monotonic() >= give_up_at:
                    return
                await self.endpoint.send(request)
                interval = min(interval * 2, T2)
                continue
            if message.status >= 200:
                return


class Ping:
    """An OPTIONS to the trunk (a keep-alive): whether it answered at all before Timer F."""

    def __init__(self, endpoint: Endpoint, timers: Timers) -> None:
        self.endpoint = endpoint
        self.timers = timers

    async def run(self) -> bool:
        try:
            await self.endpoint.open()
        except OSError:
            return False
        host, _ = self.endpoint.advertised
        branch = new_branch()
        uri = request_uri(self.endpoint, None)
        request = render(
            f"OPTIONS {uri} SIP/2.0",
            [
                ("Via", via(self.endpoint, branch)),
                ("Max-Forwards", "70"),
                ("From", f"<sip:flashcall@{host}>;tag={new_tag()}"),
                ("To", f"<{uri}>"),
                ("Call-ID", f"{new_tag()}{new_tag()}@flashcall"),
                ("CSeq", "1 OPTIONS"),
                ("User-Agent", "flashcall"),
            ],
        )
        queue = self.endpoint.expect(branch, "OPTIONS")
        t1, interval = self.timers.t1, self.timers.t1
        give_up_at = time.monotonic() + 64 * t1
        try:
            await self.endpoint.send(request)
            while (wait := give_up_at - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(
                        queue.get(), wait if self.endpoint.reliable else min(wait, interval)
                    )
                except TimeoutError:
                    if not self.endpoint.reliable:
                        await self.endpoint.send(request)
                        interval = min(interval * 2, T2)
                    continue
                if message.status >= 200:
                    return True
            return False
        except OSError:
            return False
        finally:
            self.endpoint.forget(branch, "OPTIONS")
