"""Caller ranges in `make bench` (docs/ranges.md):

- what drawing a caller number costs the API with ranges (the phone's network, the choice of
  ranges, the draw) against the setting's pool alone (the draw), as a ratio in one run;
- the health rule (core/caller_ranges.py) simulated over a day of mixed traffic, with window
  counting as processors/range_health.py does it: ranges blocked for one network at random
  times, a trunk outage that fails every range, and the figures that matter — calls lost to
  blocked ranges, quarantines of healthy ranges (there must be none), how long a range stays
  out after its block ends.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bench.load import median
from core.caller_ranges import (
    BUCKET_SECONDS,
    CallerRange,
    HealthRules,
    Quarantine,
    Tally,
    bucket_of,
    choose,
    counted_since,
    judge,
    seed_ranges,
)
from core.networks import network_of, network_of_digits
from core.number_pool import NumberPool

PATTERNS = "+98219100xxxxx,+98219101xxxxx,+98219102xxxxx,+98219103xxxxx"
SECRET = "bench-secret"
NETWORKS = {"+98912": "IR-MCI", "+98935": "Irancell", "+98921": "Rightel"}
SHARES = (0.5, 0.35, 0.15)


def allocation_cost(calls: int = 20_000) -> tuple[float, float]:
    """µs per call: the setting's pool alone, then ranges (a quarantine in force, distinct
    phones so the network is never read from the cache)."""
    pool = NumberPool.parse(PATTERNS)
    ranges = list(seed_ranges(pool, PATTERNS))
    soon = datetime.now(UTC) + timedelta(hours=1)
    ranges[1] = replace(ranges[1], quarantines={"IR-MCI": soon})
    rng = random.Random(3)
    prefixes = rng.choices(list(NETWORKS), SHARES, k=calls)
    phones = [f"{p}{rng.randrange(10**7):07d}" for p in prefixes]
    ids = [uuid.uuid4() for _ in range(calls)]
    network_of_digits.cache_clear()
    began = time.perf_counter()
    for i in range(calls):
        pool.allocate(SECRET, str(ids[i]), 5)
    old = (time.perf_counter() - began) / calls * 1e6
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(calls):
        choice = choose(ranges, network_of(phones[i]), 5, now, ids[i], 0.1)
        assert choice is not None
        NumberPool(tuple(r.number_range for r in choice.ranges)).allocate(SECRET, str(ids[i]), 5)
    new = (time.perf_counter() - began) / calls * 1e6
    return old, new


@dataclass
class Day:
    calls: int = 0
    lost_to_blocks: int = 0  # calls drawn from a range while it was blocked for their network
    blocks: int = 0
    quarantines: int = 0
    false_quarantines: int = 0  # of a range not blocked for that network at the time
    lost_per_block: list[int] | None = None
    out_after_block: list[float] | None = None  # seconds from a block's end to the release


def simulate_day(seed: int = 11, rules: HealthRules | None = None) -> Day:
    rules = rules or HealthRules()
    rng = random.Random(seed)
    pool = NumberPool.parse(PATTERNS)
    ranges: dict[uuid.UUID, CallerRange] = {r.id: r for r in seed_ranges(pool, PATTERNS)}
    ids = sorted(ranges, key=str)
    day = 24 * 3600
    # Blocks: (range, network, start, end); one network of one range at a time.
    blocks = []
    for _ in range(8):
        start = rng.uniform(0, day - 4 * 3600)
        blocks.append((rng.choice(ids), rng.choice(list(NETWORKS.values())), start,
                       start + rng.uniform(600, 3 * 3600)))  # fmt: skip
    outage = (14 * 3600.0, 14 * 3600.0 + 600)  # the trunk down: every range fails
    base = datetime(2026, 12, 6, tzinfo=UTC)
    counts: dict[tuple[uuid.UUID, str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    states: dict[tuple[uuid.UUID, str], tuple[Quarantine | None, datetime | None]] = {}
    pending: dict[int, list[tuple[uuid.UUID, str, bool]]] = defaultdict(list)
    lost = [0] * len(blocks)
    released_at: dict[int, float] = {}
    result = Day(blocks=len(blocks))

    def blocked(range_id: uuid.UUID, network: str, t: float) -> int | None:
        for i, (r, n, start, end) in enumerate(blocks):
            if r == range_id and n == network and start <= t < end:
                return i
        return None

    for second in range(day):
        now = base + timedelta(seconds=second)
        # Traffic from 5 to 35 calls a second over the day.
        rate = 20 + 15 * math.sin(second / day * 2 * math.pi)
        for _ in range(_poisson(rng, rate)):
            network = rng.choices(list(NETWORKS.values()), SHARES)[0]
            call_id = uuid.UUID(int=rng.getrandbits(128))
            choice = choose(ranges.values(), network, 5, now, call_id, rules.probe_share)
            assert choice is not None
            drawn = rng.choice(choice.ranges).id
            which = blocked(drawn, network, second)
            if which is not None:
                lost[which] += 1
                delivered = False
            elif outage[0] <= second < outage[1]:
                delivered = rng.random() < 0.05
            else:
                delivered = rng.random() < 0.95
            result.calls += 1
            pending[second + 1].append((drawn, network, delivered))
        touched = set()
        for range_id, network, delivered in pending.pop(second, []):
            tally = counts[(range_id, network, bucket_of(now))]
            tally[0] += 1
            tally[1] += delivered
            touched.add((range_id, network))
        start = bucket_of(now - timedelta(seconds=rules.window_seconds))
        window = [
            start + timedelta(seconds=b * BUCKET_SECONDS)
            for b in range(rules.window_seconds // BUCKET_SECONDS + 1)
        ]
        totals: dict[str, Tally] = {}
        for range_id, network in sorted(touched, key=str):
            if network not in totals:
                totals[network] = sum(
                    (Tally(*counts[(r, network, at)]) for r in ids for at in window
                     if (r, network, at) in counts),
                    Tally(),
                )  # fmt: skip
            current, released = states.get((range_id, network), (None, None))
            since = counted_since(current, released)
            mine = [
                (at, Tally(*counts[(range_id, network, at)]))
                for at in window
                if (range_id, network, at) in counts
            ]
            others = totals[network]
            for _, tally in mine:
                others = Tally(others.dialled - tally.dialled, others.delivered - tally.delivered)
            own = sum((t for at, t in mine if since is None or at >= since), Tally())
            verdict = judge(current, own, others, now, rules)
            if verdict is None:
                continue
            r = ranges[range_id]
            if verdict.quarantine:
                assert verdict.until is not None
                result.quarantines += 1
                if blocked(range_id, network, second) is None and current is None:
                    result.false_quarantines += 1
                states[(range_id, network)] = (
                    Quarantine(now, verdict.until, verdict.strikes),
                    None,
                )
                ranges[range_id] = replace(r, quarantines={**r.quarantines, network: verdict.until})
            else:
                states[(range_id, network)] = (None, now)
                ranges[range_id] = replace(
                    r, quarantines={n: u for n, u in r.quarantines.items() if n != network}
                )
                for i, (br, bn, _, end) in enumerate(blocks):
                    if br == range_id and bn == network and end <= second and i not in released_at:
                        released_at[i] = second - end
    result.lost_to_blocks = sum(lost)
    result.lost_per_block = lost
    result.out_after_block = [released_at.get(i, float("nan")) for i in range(len(blocks))]
    return result


def _poisson(rng: random.Random, mean: float) -> int:
    n, t = 0, rng.expovariate(mean)
    while t < 1.0:
        n += 1
        t += rng.expovariate(mean)
    return n


def ranges_figures(rounds: int) -> list[str]:
    costs = [allocation_cost() for _ in range(rounds)]
    old, new = median([c[0] for c in costs]), median([c[1] for c in costs])
    day = simulate_day()
    out = [t for t in day.out_after_block or [] if t == t]
    return [
        f"drawing a caller number: pool alone {old:.1f} µs, with ranges (network, choice,"
        f" draw) {new:.1f} µs per call: {new / old:.2f}×   (each round: "
        + ", ".join(f"{c[0]:.1f}/{c[1]:.1f}" for c in costs)
        + ")",
        f"a simulated day ({day.calls:,} calls, 4 ranges, 3 networks, {day.blocks} blocks of"
        f" 10 min to 3 h, a 10-minute trunk outage): {day.lost_to_blocks} calls lost to"
        f" blocked ranges (per block: {day.lost_per_block}), {day.quarantines} quarantines,"
        f" {day.false_quarantines} of a healthy range; back in use"
        f" {median(out) if out else float('nan'):.0f} s (median) after a block ended (each:"
        f" {', '.join(f'{t:.0f}' for t in out)} s; a block inside another of the same range"
        " and network ends with it)",
    ]
