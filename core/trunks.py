"""SIP trunks as FLASHCALL_SIP_TRUNKS names them (docs/telephony.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrunkAddress:
    transport: Literal["udp", "tcp"]
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


def parse_trunks(text: str) -> list[TrunkAddress]:
    """`udp:host:port` or `tcp:host:port`, optionally `udp:user:password@host:port`, separated
    by commas; the first is preferred, the next take the dials when it fails."""
    trunks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        transport, _, rest = item.partition(":")
        if transport not in ("udp", "tcp"):
            raise ValueError(f"{item!r}: a trunk is udp:host:port or tcp:host:port")
        username = password = None
        if "@" in rest:
            credentials, _, rest = rest.rpartition("@")
            username, _, password = credentials.partition(":")
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r}: a trunk is udp:host:port or tcp:host:port")
        trunks.append(TrunkAddress(transport, host, int(port), username or None, password))  # type: ignore[arg-type]
    return trunks
