"""Pumping detection simulated over a long run with the platform's own rule (core/fraud.py)
and window counting as processors/fraud_book.py does it: legitimate traffic over many number
ranges (some of them busy), ~80 % verified after realistic delays, and attacks on single
ranges (nobody verifies) at random times. Prints how many calls each attack got admitted and
the share of legitimate calls refused (docs/fraud.md)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from core.fraud import FraudRules, PrefixCounts, pumped
from core.settings import get_settings


@dataclass
class Prefix:
    # (requested at, verified at or None) of admitted requests, oldest first.
    requests: deque[tuple[float, float | None]] = field(default_factory=deque)
    blocked_until: float = -1.0


@dataclass(frozen=True)
class Outcome:
    legit: int
    legit_refused: int
    attacks: int
    admitted_per_attack: list[int]


def rules() -> FraudRules:
    s = get_settings()
    return FraudRules(
        s.fraud_prefix_digits,
        s.fraud_window_seconds,
        s.fraud_baseline_seconds,
        s.fraud_min_unverified,
        s.fraud_max_conversion,
        s.fraud_surge,
        s.fraud_cool_off_seconds,
    )


def simulate(hours: float, legit_per_second: float, seed: int = 7) -> Outcome:
    r, rng = rules(), random.Random(seed)
    prefixes: dict[str, Prefix] = {}
    # Legitimate ranges: 5,000, a few busy ones (a Zipf-like weight), and attacks every ~2 h.
    ranges = [f"L{i}" for i in range(5000)]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(ranges))]
    arrivals: list[tuple[float, str, bool]] = []
    t, end = 0.0, hours * 3600
    while t < end:
        t += rng.expovariate(legit_per_second)
        arrivals.append((t, rng.choices(ranges, weights)[0], False))
    attacks = max(1, int(hours / 2))
    for a in range(attacks):
        start, rate = rng.uniform(0, end), rng.choice((1.0, 10.0, 100.0))
        arrivals += [(start + i / rate, f"A{a}", True) for i in range(3000)]
    arrivals.sort()
    legit = refused = 0
    admitted: dict[str, int] = {}
    for at, name, attack in arrivals:
        p = prefixes.setdefault(name, Prefix())
        while p.requests and p.requests[0][0] <= at - r.baseline_seconds:
            p.requests.popleft()
        since = at - r.window_seconds
        window = [v for q, v in p.requests if q > since]
        counts = PrefixCounts(
            requests=len(window),
            verified=sum(1 for v in window if v is not None and v <= at),
            earlier=len(p.requests) - len(window),
        )
        blocked = at < p.blocked_until
        if not blocked and pumped(counts, r):
            p.blocked_until, blocked = at + r.cool_off_seconds, True
        if not attack:
            legit += 1
            refused += blocked
        if blocked:
            continue
        if attack:
            admitted[name] = admitted.get(name, 0) + 1
            p.requests.append((at, None))
        else:  # 80 % type the code, after 5 s to 2 min
            verified = at + rng.lognormvariate(3.0, 0.6) if rng.random() < 0.8 else None
            p.requests.append((at, verified))
    return Outcome(legit, refused, attacks, sorted(admitted.values()))


def fraud_figures(hours: float = 24.0, legit_per_second: float = 5.0) -> str:
    out = simulate(hours, legit_per_second)
    worst = max(out.admitted_per_attack) if out.admitted_per_attack else 0
    return (
        f"{hours:.0f} h simulated, {out.legit:,} legitimate calls at {legit_per_second:.0f}/s over"
        f" 5,000 ranges: {out.legit_refused} refused ({100 * out.legit_refused / out.legit:.4f} %);"
        f" {out.attacks} attacks of 3,000 calls at 1–100/s: admitted"
        f" {', '.join(map(str, out.admitted_per_attack))} (at most {worst})"
    )
