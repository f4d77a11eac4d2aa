"""Caller ranges: which ranges a call may draw from, and the health rule (core/caller_ranges.py;
docs/ranges.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.caller_ranges import (
    CallerRange,
    HealthRules,
    Quarantine,
    RangeStatus,
    Tally,
    bucket_of,
    choose,
    counted_since,
    judge,
    max_code_length,
    parse_blocked_ranges,
)
from core.networks import network_of
from core.number_pool import overlaps, parse_range
from processors.decisions.outcomes import range_dial
from processors.range_health import Dial

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
RULES = HealthRules(
    window_seconds=60,
    min_sample=10,
    quarantine_below=0.5,
    release_at=0.8,
    baseline_floor=0.5,
    quarantine_seconds=60,
    max_quarantine_seconds=600,
    probe_share=0.1,
    probe_sample=3,
)


def caller_range(
    id: uuid.UUID, pattern: str, destinations: tuple[str, ...] = (), **kw: object
) -> CallerRange:
    return CallerRange(id, pattern, parse_range(pattern), None, destinations, **kw)  # type: ignore[arg-type]


def call(n: int) -> uuid.UUID:
    """A call id whose low 16 bits are n (the probe draw reads them)."""
    return uuid.UUID(int=(0x1234 << 64) | n)


# -------------------------------------------------------------------------- networks


@pytest.mark.parametrize(
    ("phone", "network"),
    [
        ("+989121234567", "IR-MCI"),
        ("+989901234567", "IR-MCI"),
        ("+989351234567", "Irancell"),
        ("+989011234567", "Irancell"),
        ("+989211234567", "Rightel"),
        ("+12025550123", "unknown"),
        ("not a number", "unknown"),
    ],
)
def test_the_network_comes_from_the_carrier_data(phone: str, network: str) -> None:
    assert network_of(phone) == network


# ---------------------------------------------------------------------------- choice


def test_a_call_draws_from_every_active_range_serving_its_network() -> None:
    a = caller_range(A, "+98219100xxxxx")
    b = caller_range(B, "+98219200xxxxx", ("Irancell",))
    paused = caller_range(uuid.uuid4(), "+98219300xxxxx", status=RangeStatus.PAUSED)
    assert choose([a, b, paused], "Irancell", 5, NOW, call(9999), 0.1).ranges == (a, b)  # type: ignore[union-attr]
    assert choose([a, b, paused], "IR-MCI", 5, NOW, call(9999), 0.1).ranges == (a,)  # type: ignore[union-attr]
    # Too few free digits for the code: not a candidate; none left: None.
    assert choose([a, b], "IR-MCI", 6, NOW, call(9999), 0.1) is None
    assert choose([paused], "IR-MCI", 5, NOW, call(9999), 0.1) is None


def test_a_quarantined_range_is_left_out_until_its_quarantine_ends_then_probed() -> None:
    a = caller_range(A, "+98219100xxxxx", quarantines={"IR-MCI": NOW + timedelta(seconds=30)})
    b = caller_range(B, "+98219200xxxxx")
    for n in (0, 100, 60000):
        choice = choose([a, b], "IR-MCI", 5, NOW, call(n), 0.1)
        assert choice is not None and choice.ranges == (b,) and not choice.probe
    # Other networks are not affected.
    other = choose([a, b], "Irancell", 5, NOW, call(0), 0.1)
    assert other is not None and other.ranges == (a, b)
    # Once it ends: the calls whose id falls in the probe share (0.1 of 65536 = 6553) probe it.
    later = NOW + timedelta(seconds=31)
    probe = choose([a, b], "IR-MCI", 5, later, call(6552), 0.1)
    assert probe is not None and probe.ranges == (a,) and probe.probe
    regular = choose([a, b], "IR-MCI", 5, later, call(6554), 0.1)
    assert regular is not None and regular.ranges == (b,) and not regular.probe


def test_with_every_range_quarantined_calls_go_out_from_the_one_ending_first() -> None:
    a = caller_range(A, "+98219100xxxxx", quarantines={"IR-MCI": NOW + timedelta(seconds=90)})
    b = caller_range(B, "+98219200xxxxx", quarantines={"IR-MCI": NOW + timedelta(seconds=30)})
    choice = choose([a, b], "IR-MCI", 5, NOW, call(60000), 0.1)
    assert choice is not None and choice.ranges == (b,) and choice.fallback


def test_the_longest_code_is_the_widest_active_range() -> None:
    six = caller_range(A, "+9821910xxxxxx")
    five = caller_range(B, "+98219200xxxxx")
    assert max_code_length([six, five]) == 6
    assert (
        max_code_length([caller_range(A, "+9821910xxxxxx", status=RangeStatus.PAUSED), five]) == 5
    )
    assert max_code_length([caller_range(A, "+989xxxxxxxxx")]) == 8


def test_ranges_overlap_when_a_number_could_belong_to_both() -> None:
    assert overlaps(parse_range("+98219100xxxxx"), parse_range("+9821910xxxxxx"))
    assert overlaps(parse_range("+98219100xxxxx"), parse_range("+98219100xxxxx"))
    assert not overlaps(parse_range("+98219100xxxxx"), parse_range("+98219101xxxxx"))
    # Different lengths never hold the same number.
    assert not overlaps(parse_range("+98219100xxxxx"), parse_range("+98219100xxxxxx"))


@pytest.mark.parametrize(
    "pattern", ["98219100xxxxx", "+98219100xxx", "+98a19100xxxxx", "+9xxxxx", "+98219100xxxxxxxxxx"]
)
def test_a_malformed_range_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        parse_range(pattern)


def test_blocked_ranges_setting() -> None:
    assert parse_blocked_ranges(" +9821910@IR-MCI, +9821920@Irancell ,") == {
        ("+9821910", "IR-MCI"),
        ("+9821920", "Irancell"),
    }
    for bad in ("+9821910", "9821910@IR-MCI", "+9821910@"):
        with pytest.raises(ValueError):
            parse_blocked_ranges(bad)


def test_outcomes_are_counted_in_ten_second_buckets() -> None:
    assert bucket_of(datetime(2026, 12, 6, 12, 0, 19, 999, tzinfo=UTC)) == datetime(
        2026, 12, 6, 12, 0, 10, tzinfo=UTC
    )


# ---------------------------------------------------------------------------- the rule


def test_a_range_far_below_the_others_is_quarantined() -> None:
    verdict = judge(None, Tally(10, 2), Tally(40, 36), NOW, RULES)
    assert verdict is not None and verdict.quarantine
    assert verdict.until == NOW + timedelta(seconds=60) and verdict.strikes == 1
    assert verdict.baseline == 0.9


@pytest.mark.parametrize(
    ("mine", "others", "why"),
    [
        (Tally(9, 0), Tally(40, 36), "fewer than the minimum sample of its own"),
        (Tally(10, 0), Tally(9, 9), "too few of the others' calls to compare with"),
        (Tally(40, 2), Tally(40, 4), "every range fails: a trunk or the network is down"),
        (Tally(10, 5), Tally(40, 36), "0.5 is not below half of 0.9"),
    ],
)
def test_no_quarantine_on_noise_or_on_trouble_beyond_one_range(
    mine: Tally, others: Tally, why: str
) -> None:
    assert judge(None, mine, others, NOW, RULES) is None, why


def test_a_quarantined_range_is_not_judged_before_its_quarantine_ends() -> None:
    current = Quarantine(NOW, NOW + timedelta(seconds=60), 1)
    assert judge(current, Tally(5, 5), Tally(40, 36), NOW + timedelta(seconds=59), RULES) is None


def test_probes_that_deliver_release_it() -> None:
    current = Quarantine(NOW, NOW + timedelta(seconds=60), 1)
    later = NOW + timedelta(seconds=70)
    assert judge(current, Tally(2, 2), Tally(40, 36), later, RULES) is None  # too few probes
    verdict = judge(current, Tally(3, 3), Tally(40, 36), later, RULES)
    assert verdict is not None and not verdict.quarantine and verdict.strikes == 0
    # Between the two thresholds (0.45 .. 0.72 of 0.9): stays as it is (hysteresis).
    assert judge(current, Tally(5, 3), Tally(40, 36), later, RULES) is None
    # The others quiet: the floor (0.5) stands in for their ratio.
    verdict = judge(current, Tally(3, 2), Tally(0, 0), later, RULES)
    assert verdict is not None and not verdict.quarantine


def test_probes_that_fail_quarantine_it_again_twice_as_long_up_to_the_maximum() -> None:
    later = NOW + timedelta(seconds=70)
    verdict = judge(Quarantine(NOW, NOW, 1), Tally(3, 0), Tally(40, 36), later, RULES)
    assert verdict is not None and verdict.quarantine
    assert (verdict.until, verdict.strikes) == (later + timedelta(seconds=120), 2)
    verdict = judge(Quarantine(NOW, NOW, 5), Tally(3, 0), Tally(40, 36), later, RULES)
    assert verdict is not None and verdict.until == later + timedelta(seconds=600)


def test_what_counts_for_a_probing_or_a_released_range() -> None:
    until = datetime(2026, 12, 6, 12, 1, 7, tzinfo=UTC)
    # Probing: its outcomes from the first whole bucket after its quarantine ends.
    assert counted_since(Quarantine(NOW, until, 1), None) == datetime(
        2026, 12, 6, 12, 1, 10, tzinfo=UTC
    )
    # Released at 12:02:03: from the first whole bucket after it.
    released = datetime(2026, 12, 6, 12, 2, 3, tzinfo=UTC)
    assert counted_since(None, released) == datetime(2026, 12, 6, 12, 2, 10, tzinfo=UTC)
    assert counted_since(None, None) is None


def test_only_what_says_something_about_the_range_counts_for_its_health() -> None:
    # (id, service, step, delivered, price, status, range, network, test, channel, reason, at)
    def row(delivered: bool, reason: str | None, **kw: object) -> tuple[object, ...]:
        fields = {"range_id": A, "network": "IR-MCI", "test": False, "channel": "flash_call"}
        fields |= kw
        return (
            uuid.uuid4(), uuid.uuid4(), 0, delivered, 1000, "delivered",
            fields["range_id"], fields["network"], fields["test"], fields["channel"], reason, NOW,
        )  # fmt: skip

    assert range_dial(row(True, None)) == Dial(A, "IR-MCI", NOW, True)
    assert range_dial(row(False, "unreachable")) == Dial(A, "IR-MCI", NOW, False)
    assert range_dial(row(False, "carrier_error")) == Dial(A, "IR-MCI", NOW, False)
    for reason in ("busy", "declined", "invalid_number", "expired"):
        assert range_dial(row(False, reason)) is None, reason  # the phone's doing, or ours
    assert range_dial(row(True, None, test=True)) is None  # a test number rings no one
    assert range_dial(row(True, None, channel="sms")) is None
    assert range_dial(row(True, None, range_id=None)) is None  # requested before ranges
    assert range_dial(row(True, None, network=None)) == Dial(A, "unknown", NOW, True)
