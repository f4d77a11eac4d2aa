"""SIP trunks as FLASHCALL_SIP_TRUNKS names them (docs/telephony.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Transport = Literal["udp", "tcp", "tls"]
TRANSPORTS = ("udp", "tcp", "tls", "auto")
DEFAULT_PORT = {"udp": 5060, "tcp": 5060, "tls": 5061}


@dataclass(frozen=True)
class TrunkAddress:
    """Where dials go. `port` None (and `auto`, where NAPTR picks the transport): the host is a
    domain the trunk is located in by DNS (RFC 3263: NAPTR, SRV, A)."""

    transport: Literal["udp", "tcp", "tls", "auto"]
    host: str
    port: int | None
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}" + (f":{self.port}" if self.port else "")


# A domain or an address: never a space or a control character (a trunk's name is stored
# and sent on as a range's, a NUL cannot be).
HOST = re.compile(r"[A-Za-z0-9._\-\[\]:]+")
FORMS = "udp|tcp|tls:[user:password@]host[:port], or auto:[user:password@]domain"


def parse_trunks(text: str) -> list[TrunkAddress]:
    """Trunks separated by commas, the first preferred (the next take the dials when it
    fails): `udp:host:port`, `tcp:…`, `tls:…`, with `user:password@` before the host for digest
    credentials; without a port the host is located by SRV (RFC 3263), and `auto:domain` lets
    its NAPTR records choose the transport too."""
    trunks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        transport, _, rest = item.partition(":")
        if transport not in TRANSPORTS:
            raise ValueError(f"{item!r}: a trunk is {FORMS}")
        username = password = None
        if "@" in rest:
            credentials, _, rest = rest.rpartition("@")
            username, _, password = credentials.partition(":")
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, ""
        if not HOST.fullmatch(host) or (port and (not port.isdigit() or not 0 < int(port) < 65536)):
            raise ValueError(f"{item!r}: a trunk is {FORMS}")
        if transport == "auto" and port:
            raise ValueError(f"{item!r}: auto: names a domain, without a port")
        trunks.append(
            TrunkAddress(
                transport,  # type: ignore[arg-type]
                host,
                int(port) if port else None,
                username or None,
                password,
            )
        )
    return trunks
