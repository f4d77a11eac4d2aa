from __future__ import annotations

import phonenumbers
import pytest

from core.fraud import FraudRules, PrefixCounts, prefix_of, pumped
from core.phones import normalise

RULES = FraudRules(
    prefix_digits=7,
    window_seconds=600,
    baseline_seconds=86_400,
    min_unverified=30,
    max_conversion=0.05,
    surge=10,
    cool_off_seconds=3600,
)


def test_the_prefix_is_the_country_code_and_the_first_digits_of_the_national_number() -> None:
    assert prefix_of("+989121234567", 7) == "+989121234"
    assert prefix_of("+14155552671", 3) == "+1415"
    assert prefix_of("+390612345678", 7) == "+390612345"  # Italy's leading zero is kept
    assert prefix_of("+8008000000", 3) == "+800800"  # a three-digit, non-geographic code


def test_the_prefix_read_off_the_digits_is_the_one_phonenumbers_parses() -> None:
    """Across every region's example numbers of every type, as the API normalises them (and
    a national form, which is parsed), prefix_of agrees with phonenumbers' own country code
    and national significant number."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):  # every phonenumbers.PhoneNumberType but UNKNOWN (99)
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            number = normalise(
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), "IR"
            )
            parsed = phonenumbers.parse(number, None)
            national = phonenumbers.national_significant_number(parsed)
            for digits in (1, 3, 7):
                expected = f"+{parsed.country_code}{national[:digits]}"
                assert prefix_of(number, digits) == expected, number
            checked += 1
    assert checked > 1000


def test_a_range_nobody_verifies_is_pumped_once_thirty_wait() -> None:
    assert not pumped(PrefixCounts(requests=29, verified=0, earlier=0), RULES)
    assert pumped(PrefixCounts(requests=30, verified=0, earlier=0), RULES)


def test_normal_conversion_is_never_pumped_by_volume_alone() -> None:
    assert not pumped(PrefixCounts(requests=10_000, verified=8_000, earlier=0), RULES)
    assert not pumped(PrefixCounts(requests=1_000, verified=51, earlier=0), RULES)  # 5.1 %
    assert pumped(PrefixCounts(requests=1_000, verified=50, earlier=0), RULES)


def test_a_busy_range_is_judged_against_its_own_usual_volume() -> None:
    # 144 windows of history with 100 requests each: 100 per window is usual, 999 is not 10×.
    usual = 100 * int((86_400 - 600) / 600)
    assert not pumped(PrefixCounts(requests=999, verified=0, earlier=usual), RULES)
    assert pumped(PrefixCounts(requests=1_001, verified=0, earlier=usual), RULES)


def test_a_simulated_day_part_blocks_every_attack_early_and_refuses_no_real_user() -> None:
    from bench.fraud import simulate

    out = simulate(hours=4, legit_per_second=2.0, seed=3)
    assert out.legit > 20_000 and out.legit_refused == 0
    assert len(out.admitted_per_attack) == out.attacks == 2
    assert max(out.admitted_per_attack) <= 50


def test_the_boundaries_of_the_pumping_rule() -> None:
    # Exactly thirty unverified, none verified, nothing usual: pumped (at least, not more than).
    assert pumped(PrefixCounts(requests=30, verified=0, earlier=0), RULES)
    # Thirty requests of which one verified: only 29 unverified, so not (whatever the rate).
    assert not pumped(PrefixCounts(requests=30, verified=1, earlier=0), RULES)
    # A range with a little history: judged against ten times its usual volume, exactly.
    history = (RULES.baseline_seconds - RULES.window_seconds) / RULES.window_seconds
    usual_3 = round(3 * history)  # three per window, as usual
    assert pumped(PrefixCounts(requests=30, verified=0, earlier=usual_3), RULES)
    assert not pumped(PrefixCounts(requests=29, verified=0, earlier=usual_3), RULES)
    usual_5 = round(5 * history)  # five per window: fifty are needed
    assert not pumped(PrefixCounts(requests=49, verified=0, earlier=usual_5), RULES)
    assert pumped(PrefixCounts(requests=50, verified=0, earlier=usual_5), RULES)


def test_a_number_in_national_form_has_no_prefix() -> None:
    with pytest.raises(phonenumbers.NumberParseException):
        prefix_of("09121234567", 7)
