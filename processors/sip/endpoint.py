"""One connection to a trunk's target — a UDP socket connected to it, a TCP stream, or TLS over
TCP — that hands each response to the transaction waiting for it and answers the few requests
a trunk sends us."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Coroutine
from typing import Any

from core.trunks import DEFAULT_PORT, TrunkAddress
from processors.sip.locate import Target
from processors.sip.message import Message, frame_length, parse, render

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (Via branch, CSeq method)


class Endpoint:
    def __init__(
        self,
        trunk: TrunkAddress,
        t1: float,
        public: tuple[str, int | None] | None = None,
        target: Target | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.trunk = trunk
        # Where it connects: a target the trunk was located at (an IP trunk is its own).
        self.target = target or Target(
            "udp" if trunk.transport == "auto" else trunk.transport,
            trunk.host,
            trunk.port or DEFAULT_PORT["udp"],
            trunk.host,
        )
        self.transport = self.target.transport
        self.reliable = self.transport in ("tcp", "tls")
        self._tls = tls
        self.local = ("127.0.0.1", 0)
        # The address the far end can reach us at (FLASHCALL_SIP_PUBLIC_ADDRESS behind NAT or
        # in a container); our socket's own otherwise.
        self._public = public
        # Answered calls still up, by Call-ID: set when the callee's BYE ends them.
        self._dialogs: dict[str, asyncio.Event] = {}
        self._t1 = t1
        self._waiting: dict[Key, asyncio.Queue[Message]] = {}
        # ACKs of answered calls, resent if the 200 OK is retransmitted (it is until ACKed).
        self._acks: dict[str, tuple[float, bytes]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        async with self._connecting:
            if self.reliable:
                if self._writer is not None and not self._writer.is_closing():
                    return
                secure = self.transport == "tls"
                reader, self._writer = await asyncio.open_connection(
                    self.target.host,
                    self.target.port,
                    ssl=(self._tls or ssl.create_default_context()) if secure else None,
                    server_hostname=self.target.server_name if secure else None,
                )
                self.local = self._writer.get_extra_info("sockname")[:2]
                self._reader_task = asyncio.create_task(self._read_stream(reader))
            elif self._udp is None:
                loop = asyncio.get_running_loop()
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), remote_addr=(self.target.host, self.target.port)
                )
                self.local = self._udp.get_extra_info("sockname")[:2]
                _enlarge_receive_buffer(self._udp.get_extra_info("socket"))

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    async def send(self, data: bytes) -> None:
        await self.open()
        if self.reliable:
            assert self._writer is not None
            self._writer.write(data)
            await self._writer.drain()
        else:
            assert self._udp is not None
            self._udp.sendto(data)

    @property
    def advertised(self) -> tuple[str, int]:
        """Host and port for Via and Contact."""
        if self._public is None:
            return str(self.local[0]), int(self.local[1])
        host, port = self._public
        return host, port if port is not None else int(self.local[1])

    def dialog_ends(self, call_id: str) -> asyncio.Event:
        """An event set when the far end hangs the answered call `call_id` up."""
        return self._dialogs.setdefault(call_id, asyncio.Event())

    def dialog_over(self, call_id: str) -> None:
        self._dialogs.pop(call_id, None)

    def expect(self, branch: str, *methods: str) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        for method in methods:
            self._waiting[(branch, method)] = queue
        return queue

    def forget(self, branch: str, *methods: str) -> None:
        for method in methods:
            self._waiting.pop((branch, method), None)

    def remember_ack(self, call_id: str, ack: bytes) -> None:
        now = time.monotonic()
        self._acks = {k: v for k, v in self._acks.items() if v[0] > now}
        self._acks[call_id] = (now + 64 * self._t1, ack)

    def received(self, data: bytes) -> None:
        try:
            message = parse(data)
        except (ValueError, IndexError):
            log.warning("unparsable SIP message from %s", self.trunk)
            return
        if message.is_response:
            self._response(message)
        else:
            self._spawn(self._request(message))

    def _response(self, message: Message) -> None:
        branch, (_, method) = message.branch or "", message.cseq
        queue = self._waiting.get((branch, method))
        if queue is not None:
            queue.put_nowait(message)
            return
        if method == "INVITE" and 200 <= message.status < 300:
            ack = self._acks.get(message.header("call-id") or "")
            if ack is not None:
                self._spawn(self.send(ack[1]))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, request: Message) -> None:
        """A BYE (the handset hung up an answered call) or OPTIONS (a keep-alive) is answered
        200; an ACK needs no answer; anything else is not ours to take. The answer copies
        every Via, in order (a proxy on the way needs its own to relay it back)."""
        if request.method == "ACK":
            return
        if request.method == "BYE":
            ended = self._dialogs.get(request.header("call-id") or "")
            if ended is not None:
                ended.set()
        status = (
            "200 OK" if request.method in ("BYE", "OPTIONS", "CANCEL") else "501 Not Implemented"
        )
        headers = [("Via", via) for via in request.all("via")]
        headers += [(name, request.header(name) or "") for name in ("From", "To", "Call-ID")]
        headers.append(("CSeq", request.header("cseq") or ""))
        await self.send(render(f"SIP/2.0 {status}", headers))

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while chunk := await reader.read(65536):
            buffer += chunk
            while (length := frame_length(buffer)) is not None:
                self.received(buffer[:length])
                buffer = buffer[length:]
        self._writer = None  # the trunk closed it; the next send reconnects


UDP_RECEIVE_BUFFER = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """Answers to a burst of INVITEs arrive together; a full socket buffer drops them (and
    some far ends do not repeat a provisional answer for a retransmitted INVITE). Beyond the
    kernel's net.core.rmem_max only a privileged process may go; others get that maximum."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, UDP_RECEIVE_BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.received(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction's timers decide the outcome.
        log.debug("UDP error from %s: %s", self.endpoint.trunk, exc)
