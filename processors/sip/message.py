"""SIP messages: building requests, parsing responses and requests (RFC 3261 section 7)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

CRLF = "\r\n"
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 branch prefix
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


@dataclass
class Message:
    """A parsed SIP message: a response has `status`, a request has `method`."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start.split(" ", 2)[1])

    @property
    def phrase(self) -> str:
        """A response's reason phrase ("Busy Here")."""
        parts = self.start.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def branch(self) -> str | None:
        via = self.header("via")
        return param(via, "branch") if via else None

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = (self.header("cseq") or "0 NONE").split()
        return int(number), method.upper()

    @property
    def to_tag(self) -> str | None:
        to = self.header("to")
        return param(to, "tag") if to else None


def param(header: str, name: str) -> str | None:
    """A `;name=value` parameter of a header (outside its <uri>)."""
    tail = header.rsplit(">", 1)[-1]
    for part in tail.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return None


def values(headers: list[str]) -> list[str]:
    """Each value of headers that may hold several, comma-separated (Record-Route, Via), in
    order; commas inside <...> or quotes do not separate."""
    found: list[str] = []
    for header in headers:
        depth, quoted, start = 0, False, 0
        for i, ch in enumerate(header):
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch == "<":
                depth += 1
            elif not quoted and ch == ">":
                depth -= 1
            elif ch == "," and depth == 0 and not quoted:
                found.append(header[start:i].strip())
                start = i + 1
        found.append(header[start:].strip())
    return [v for v in found if v]


def uri_of(header: str) -> str:
    """The URI inside a name-addr (`"x" <sip:a@b>;tag=1`) or an addr-spec."""
    if "<" in header:
        return header.split("<", 1)[1].split(">", 1)[0]
    return header.split(";", 1)[0].strip()


def parse(data: bytes) -> Message:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.append((COMPACT.get(key, key), value.strip()))
    return Message(lines[0], headers, body)


def render(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return (CRLF.join(lines) + CRLF + CRLF).encode() + body


def frame_length(buffer: bytes) -> int | None:
    """The length of the first whole message in a stream buffer (TCP), or None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value.strip() or b"0")
    total = end + 4 + length
    return total if len(buffer) >= total else None
