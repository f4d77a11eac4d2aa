from __future__ import annotations

import collections
import uuid

import pytest

from core.number_pool import NumberPool


def test_parse_ranges() -> None:
    pool = NumberPool.parse("+98219100xxxxx, +982191xxxxxxxx")
    assert [(r.prefix, r.free) for r in pool.ranges] == [("+98219100", 5), ("+982191", 8)]
    assert pool.max_code_length == 8


@pytest.mark.parametrize(
    "bad", ["", "98219100xxxxx", "+98x219xxxxx", "+98219100xxx", "+98ab00xxxxx"]
)
def test_parse_refuses_bad_ranges(bad: str) -> None:
    with pytest.raises(ValueError):
        NumberPool.parse(bad)


def test_the_code_is_the_tail_of_the_caller_number() -> None:
    pool = NumberPool.parse("+98219100xxxxx,+982191xxxxxxxx")
    for length in range(4, 9):
        a = pool.allocate("secret", str(uuid.uuid4()), length)
        assert len(a.code) == length and a.caller_number.endswith(a.code)
        assert a.head_number() + a.code == a.caller_number
        if length > 5:
            assert a.caller_number.startswith("+982191")  # the only range with enough digits


def test_allocation_is_fixed_by_call_id_and_secret() -> None:
    pool = NumberPool.parse("+982191xxxxxxxx")
    assert pool.allocate("s", "call-1", 6) == pool.allocate("s", "call-1", 6)
    assert pool.allocate("s", "call-1", 6) != pool.allocate("other", "call-1", 6)


def test_a_retry_never_repeats_the_previous_code() -> None:
    pool = NumberPool.parse("+982191xxxxxxxx")
    for i in range(2000):
        first = pool.allocate("s", f"c{i}", 4)
        again = pool.allocate("s", f"c{i}", 4, avoid_code=first.code)
        assert again.code != first.code


def test_codes_are_uniform() -> None:
    # 20,000 draws of the first digit over 10 values: a chi-square above 27.9 has p < 0.001.
    pool = NumberPool.parse("+982191xxxxxxxx")
    counts = collections.Counter(pool.allocate("s", f"u{i}", 4).code[0] for i in range(20_000))
    expected = 2000
    chi2 = sum((counts[str(d)] - expected) ** 2 / expected for d in range(10))
    assert chi2 < 27.9, counts


def test_too_long_a_code_for_the_pool_is_refused() -> None:
    with pytest.raises(ValueError):
        NumberPool.parse("+98219100xxxxx").allocate("s", "c", 6)
