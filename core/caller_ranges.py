"""Caller ranges as data: which ranges a call to a network may draw its number from, and the
health rule that quarantines a range for a network and brings it back (docs/ranges.md).

Pure: the API's directory holds the ranges and their quarantines; the decisions count dial
outcomes per range and network in PostgreSQL and apply `judge` to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.call_rules import FailReason
from core.ids import derived_id
from core.number_pool import MAX_CODE_LENGTH, MIN_CODE_LENGTH, NumberPool, NumberRange


class RangeStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True)
class CallerRange:
    id: uuid.UUID
    pattern: str
    number_range: NumberRange
    trunk: str | None  # the preferred trunk (None: the trunks in their configured order)
    destinations: tuple[str, ...]  # networks it may dial; empty: every network
    status: RangeStatus = RangeStatus.ACTIVE
    status_at: datetime | None = None  # when `status` was set (an older change is stale)
    # network -> end of its quarantine (past: probing until judged again)
    quarantines: Mapping[str, datetime] = field(default_factory=dict, compare=False)
    # network -> when it was last judged (a quarantine or a release published late, by
    # another worker, must not undo a newer one)
    judged_at: Mapping[str, datetime] = field(default_factory=dict, compare=False)

    def serves(self, network: str) -> bool:
        return not self.destinations or network in self.destinations


def range_id_of(pattern: str) -> uuid.UUID:
    """A seeded range's id, fixed by its pattern: replicas seeding at once add it once."""
    return derived_id("caller-range", pattern)


def seed_ranges(pool: NumberPool, patterns: str) -> tuple[CallerRange, ...]:
    """The ranges FLASHCALL_NUMBER_POOL seeds on the first start (and stands for until the
    directory has read them): active, every trunk, every network."""
    named = [p.strip() for p in patterns.split(",") if p.strip()]
    return tuple(
        CallerRange(range_id_of(pattern), pattern, number_range, None, ())
        for pattern, number_range in zip(named, pool.ranges, strict=True)
    )


def max_code_length(ranges: Iterable[CallerRange]) -> int:
    """The longest code a service may ask for: the free digits of the widest active range."""
    free = [r.number_range.free for r in ranges if r.status == RangeStatus.ACTIVE]
    return min(MAX_CODE_LENGTH, max(free, default=MIN_CODE_LENGTH))


@dataclass(frozen=True)
class Choice:
    """The ranges a call may draw from: healthy ones; or one range being probed; or, when
    every range serving the network is quarantined, the one whose quarantine ends first."""

    ranges: tuple[CallerRange, ...]
    probe: bool = False
    fallback: bool = False


def choose(
    ranges: Iterable[CallerRange],
    network: str,
    code_length: int,
    now: datetime,
    call_id: uuid.UUID,
    probe_share: float,
) -> Choice | None:
    """Where a call to `network` draws its caller number (None: no active range serves it).

    A range whose quarantine for the network has ended is probed: a call whose id falls in
    `probe_share` of the id space goes to it alone, the others stay away until it is judged."""
    serving = [
        r
        for r in ranges
        if r.status == RangeStatus.ACTIVE
        and r.serves(network)
        and r.number_range.free >= code_length
    ]
    if not serving:
        return None
    healthy = [r for r in serving if network not in r.quarantines]
    probing = sorted(
        (r for r in serving if network in r.quarantines and r.quarantines[network] <= now),
        key=lambda r: str(r.id),
    )
    # The id's low bits: uniform over calls, the same for the same call.
    share = (call_id.int & 0xFFFF) / 0x10000
    if probing and (share < probe_share or not healthy):
        return Choice((probing[(call_id.int >> 16) % len(probing)],), probe=True)
    if healthy:
        return Choice(tuple(healthy))
    least_bad = min(serving, key=lambda r: (r.quarantines[network], str(r.id)))
    return Choice((least_bad,), fallback=True)


# Failures that say something about the caller range or its route; the others are the
# phone's (busy, declined, invalid) or ours (an abandoned dial) and count for no range.
RANGE_FAILURES = frozenset({FailReason.UNREACHABLE, FailReason.CARRIER_ERROR})


BUCKET_SECONDS = 10  # outcomes are counted per range, network and bucket of this many seconds


def bucket_of(at: datetime) -> datetime:
    seconds = int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, at.tzinfo)


@dataclass(frozen=True)
class Tally:
    dialled: int = 0
    delivered: int = 0

    @property
    def ratio(self) -> float:
        return self.delivered / self.dialled if self.dialled else 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.dialled + other.dialled, self.delivered + other.delivered)


@dataclass(frozen=True)
class HealthRules:
    """The thresholds of docs/ranges.md (settings FLASHCALL_RANGE_*)."""

    window_seconds: int = 60  # the sliding window the ratios are taken over
    min_sample: int = 10  # dials of the range, and of the others, before judging
    quarantine_below: float = 0.5  # quarantined under this share of the others' ratio
    release_at: float = 0.8  # released at this share of it (between the two: as it was)
    baseline_floor: float = 0.5  # others delivering less: trouble beyond one range
    quarantine_seconds: int = 60  # the first quarantine; doubled for each one in a row
    max_quarantine_seconds: int = 600
    probe_share: float = 0.1  # of the calls to the network, once a quarantine has ended
    probe_sample: int = 3  # probe dials before a probing range is judged


@dataclass(frozen=True)
class Quarantine:
    since: datetime
    until: datetime
    strikes: int  # quarantines in a row, without a release between them


@dataclass(frozen=True)
class Verdict:
    """Quarantine (until `until`) or release a range for a network."""

    quarantine: bool
    until: datetime | None
    strikes: int
    baseline: float


def counted_since(current: Quarantine | None, released_at: datetime | None) -> datetime | None:
    """From when a range's own outcomes count in its judgement (None: the whole window): from
    the first whole bucket after its quarantine ends (its probes), or after its release (what
    failed before does not quarantine it again)."""
    moment = current.until if current is not None else released_at
    if moment is None:
        return None
    return bucket_of(moment) + timedelta(seconds=BUCKET_SECONDS)


def judge(
    current: Quarantine | None,
    mine: Tally,
    others: Tally,
    now: datetime,
    rules: HealthRules,
) -> Verdict | None:
    """The health rule for one range and one network, or None to leave it as it is.

    `mine` is the range's tally over the window (for a probing range: since its quarantine
    ended), `others` that of every other range to the network over the window. A range is
    judged only against other ranges: when they fail too (a trunk or the network is down), or
    too few of their calls are known, no range is quarantined."""
    baseline_known = others.dialled >= rules.min_sample
    if current is None:
        if (
            mine.dialled >= rules.min_sample
            and baseline_known
            and others.ratio >= rules.baseline_floor
            and mine.ratio < others.ratio * rules.quarantine_below
        ):
            return Verdict(True, now + timedelta(seconds=rules.quarantine_seconds), 1, others.ratio)
        return None
    if now < current.until or mine.dialled < rules.probe_sample:
        return None
    # Probing: with no baseline (the others quiet), the floor stands in for it.
    baseline = others.ratio if baseline_known else rules.baseline_floor
    if mine.ratio >= baseline * rules.release_at:
        return Verdict(False, None, 0, baseline)
    if mine.ratio < baseline * rules.quarantine_below:
        seconds = min(rules.max_quarantine_seconds, rules.quarantine_seconds * 2**current.strikes)
        return Verdict(True, now + timedelta(seconds=seconds), current.strikes + 1, baseline)
    return None


def parse_blocked_ranges(text: str) -> frozenset[tuple[str, str]]:
    """FLASHCALL_SIM_BLOCKED_RANGES: `<caller prefix>@<network>,…` → {(prefix, network)}."""
    blocked = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        prefix, at, network = item.partition("@")
        if not at or not prefix.startswith("+") or not prefix[1:].isdigit() or not network:
            raise ValueError(f"{item!r}: a blocked range is <caller prefix>@<network>")
        blocked.add((prefix, network))
    return frozenset(blocked)
