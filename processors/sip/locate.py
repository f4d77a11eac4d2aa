"""Locating a trunk (RFC 3263): the addresses, ports and transports to try, in order.

A trunk named by an IP address is itself. A host with a port is its A records. A host without a
port is its SRV records (`_sip._udp`, `_sip._tcp`, `_sips._tcp` by transport; priority, then
weight, RFC 2782), each target's A records in turn, or its A records on the default port when
it has none. `auto:domain` asks NAPTR first, whose services choose the transport
(SIP+D2U udp, SIP+D2T tcp, SIPS+D2T tls). Answers are kept for their TTL. The carrier tries
the targets in order and moves to the next when one fails.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

from core.trunks import DEFAULT_PORT, Transport, TrunkAddress

log = logging.getLogger(__name__)

SRV_PREFIX: dict[Transport, str] = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}
NAPTR_SERVICES: dict[str, Transport] = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
# Without NAPTR records, `auto` tries SRV for these, in this order.
AUTO_ORDER: tuple[Transport, ...] = ("udp", "tcp", "tls")
NEVER = float("inf")


@dataclass(frozen=True)
class Target:
    """One place to send a trunk's dials: an address to connect to, and the name TLS checks
    the certificate against (the trunk's or the SRV target's host name)."""

    transport: Transport
    host: str
    port: int
    server_name: str


class LocatingFailed(Exception):
    """DNS gave no address for the trunk."""


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def srv_order(records: list[tuple[int, int, int, str]]) -> list[tuple[int, str]]:
    """(port, target) of SRV records (priority, weight, port, target) in the order RFC 2782
    gives: lowest priority first; within one, a weighted random draw."""
    ordered: list[tuple[int, str]] = []
    for priority in sorted({r[0] for r in records}):
        pool = [r for r in records if r[0] == priority]
        while pool:
            total = sum(r[1] for r in pool)
            pick = random.uniform(0, total) if total else 0
            chosen = pool[0]
            running = 0
            for r in pool:
                running += r[1]
                if running >= pick and (r[1] > 0 or total == 0):
                    chosen = r
                    break
            pool.remove(chosen)
            ordered.append((chosen[2], chosen[3]))
    return ordered


class Locator:
    """Finds and caches each trunk's targets. `nameserver` (host, port) replaces the system's
    resolvers (FLASHCALL_SIP_DNS_SERVER)."""

    def __init__(self, nameserver: tuple[str, int] | None = None) -> None:
        self.resolver = dns.asyncresolver.Resolver(configure=nameserver is None)
        if nameserver is not None:
            self.resolver.nameservers = [nameserver[0]]
            self.resolver.port = nameserver[1]
        self.resolver.lifetime = 5.0
        self._cache: dict[TrunkAddress, tuple[float, list[Target]]] = {}
        self.lookups = 0  # DNS questions asked (tests watch the cache with it)

    async def targets(self, trunk: TrunkAddress) -> list[Target]:
        cached = self._cache.get(trunk)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found, ttl = await self._locate(trunk)
        if not found:
            raise LocatingFailed(f"DNS gives no address for trunk {trunk}")
        self._cache[trunk] = (time.monotonic() + ttl, found)
        return found

    async def _locate(self, trunk: TrunkAddress) -> tuple[list[Target], float]:
        host = trunk.host
        if is_address(host):
            transport: Transport = "udp" if trunk.transport == "auto" else trunk.transport
            return [Target(transport, host, trunk.port or DEFAULT_PORT[transport], host)], NEVER
        if trunk.port is not None:
            transport = "udp" if trunk.transport == "auto" else trunk.transport
            return await self._addresses(host, trunk.port, transport, host)
        if trunk.transport == "auto":
            found, ttl = await self._naptr(host)
            if found:
                return found, ttl
            for transport in AUTO_ORDER:
                found, ttl = await self._srv(host, transport)
                if found:
                    return found, ttl
            return await self._addresses(host, DEFAULT_PORT["udp"], "udp", host)
        found, ttl = await self._srv(host, trunk.transport)
        if found:
            return found, ttl
        transport = trunk.transport
        return await self._addresses(host, DEFAULT_PORT[transport], transport, host)

    async def _ask(self, name: str, kind: str) -> dns.resolver.Answer | None:
        self.lookups += 1
        try:
            return await self.resolver.resolve(name, kind)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            # NoNameservers: refused or failed for this name; the other records may answer.
            return None

    async def _naptr(self, domain: str) -> tuple[list[Target], float]:
        answer = await self._ask(domain, "NAPTR")
        if answer is None:
            return [], NEVER
        records = sorted(answer, key=lambda r: (r.order, r.preference))
        found: list[Target] = []
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else NEVER
        for r in records:
            transport = NAPTR_SERVICES.get(r.service.decode().upper())
            if transport is None or r.flags.decode().upper() != "S":
                continue
            targets, srv_ttl = await self._srv_named(str(r.replacement).rstrip("."), transport)
            found += targets
            ttl = min(ttl, srv_ttl)
        return found, ttl

    async def _srv(self, domain: str, transport: Transport) -> tuple[list[Target], float]:
        return await self._srv_named(f"{SRV_PREFIX[transport]}.{domain}", transport)

    async def _srv_named(self, name: str, transport: Transport) -> tuple[list[Target], float]:
        answer = await self._ask(name, "SRV")
        if answer is None:
            return [], NEVER
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else NEVER
        records = [(r.priority, r.weight, r.port, str(r.target).rstrip(".")) for r in answer]
        found: list[Target] = []
        for port, target in srv_order(records):
            addresses, a_ttl = await self._addresses(target, port, transport, target)
            found += addresses
            ttl = min(ttl, a_ttl)
        return found, ttl

    async def _addresses(
        self, host: str, port: int, transport: Transport, server_name: str
    ) -> tuple[list[Target], float]:
        if is_address(host):
            return [Target(transport, host, port, server_name)], NEVER
        answer = await self._ask(host, "A")
        if answer is None:
            return [], NEVER
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else NEVER
        return [Target(transport, r.address, port, server_name) for r in answer], ttl
