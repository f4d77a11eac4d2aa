"""The caller-number pool and the allocation of caller numbers that carry a code."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MIN_CODE_LENGTH = 4
MAX_CODE_LENGTH = 8


@dataclass(frozen=True)
class NumberRange:
    """A block of caller numbers: fixed leading digits, then `free` digits we may choose."""

    prefix: str
    free: int


def caller_prefix(caller_number: str, code_length: int) -> str:
    """The caller number without its last `code_length` digits, the code: what an app matches
    an incoming call by (the seed's `head_number`). It never reveals the code."""
    return caller_number[:-code_length]


def code_of(caller_number: str, code_length: int) -> str:
    """The code a caller number carries: its last `code_length` digits."""
    return caller_number[-code_length:]


def parse_range(pattern: str) -> NumberRange:
    """A range such as `+98219100xxxxx` (the x's trailing, at least 4 of them)."""
    head = pattern.rstrip("xX")
    free = len(pattern) - len(head)
    if not head.startswith("+") or not head[1:].isdigit() or not 4 <= len(head) <= 12:
        raise ValueError(f"number pool range {pattern!r} must look like +98219100xxxxx")
    if free < MIN_CODE_LENGTH:
        raise ValueError(f"number pool range {pattern!r} needs at least 4 trailing x")
    if len(head) - 1 + free > 15:
        raise ValueError(f"number pool range {pattern!r} is longer than an E.164 number")
    return NumberRange(prefix=head, free=free)


def overlaps(a: NumberRange, b: NumberRange) -> bool:
    """Whether one caller number could belong to both ranges."""
    if len(a.prefix) + a.free != len(b.prefix) + b.free:
        return False
    return a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)


@dataclass(frozen=True)
class Allocation:
    caller_number: str
    code: str
    number_range: NumberRange | None = None  # the range it was drawn from

    def head_number(self) -> str:
        """The caller number without its code digits (the seed's `head_number`)."""
        return caller_prefix(self.caller_number, len(self.code))


@dataclass(frozen=True)
class NumberPool:
    """Ranges such as `+98219100xxxxx` (comma-separated); the x's must be trailing."""

    ranges: tuple[NumberRange, ...]

    @classmethod
    def parse(cls, text: str) -> NumberPool:
        ranges = []
        for raw in text.split(","):
            pattern = raw.strip()
            if not pattern:
                continue
            ranges.append(parse_range(pattern))
        if not ranges:
            raise ValueError("the number pool is empty")
        return cls(tuple(ranges))

    @property
    def max_code_length(self) -> int:
        return min(MAX_CODE_LENGTH, max(r.free for r in self.ranges))

    def allocate(
        self, secret: str, call_id: str, code_length: int, avoid_code: str | None = None
    ) -> Allocation:
        """Derive a caller number for `call_id` whose last `code_length` digits are the code.

        The draw is keyed by a server secret, so it is uniformly random to anyone without it and
        yet the same request (same call id) always gets the same number. `avoid_code` is the
        previous code of a retry chain, which a retry must never repeat.
        """
        usable = [r for r in self.ranges if r.free >= code_length]
        if not usable:
            raise ValueError(f"no pool range has {code_length} free digits")
        counter = 0
        while True:
            digest = hmac.new(
                secret.encode(), f"{call_id}:{counter}".encode(), hashlib.sha512
            ).digest()
            draw = int.from_bytes(digest, "big")
            counter += 1
            # 512 random bits: the modulo bias of each step is far below 2**-400.
            code = f"{draw % 10**code_length:0{code_length}d}"
            if code == avoid_code:
                continue
            draw //= 10**code_length
            chosen = usable[draw % len(usable)]
            draw //= len(usable)
            extra = chosen.free - code_length
            filler = f"{draw % 10**extra:0{extra}d}" if extra else ""
            return Allocation(chosen.prefix + filler + code, code, chosen)
