from __future__ import annotations

from front_door.limits import PerSecond, PerWindow, retry_after


def test_per_second_window_slides() -> None:
    limit = PerSecond(3)
    assert [limit.take("k", now=10.0 + i * 0.1) for i in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("k", now=10.5) == 0.5  # the first stamp leaves the window at 11.0
    assert limit.take("other", now=10.5) == 0.0
    assert limit.take("k", now=11.0) == 0.0


def test_per_window_says_when_to_come_back_and_gives_back() -> None:
    limit = PerWindow(2, 3600)
    assert limit.take("p", now=0.0) == 0.0
    assert limit.take("p", now=100.0) == 0.0
    assert limit.take("p", now=200.0) == 3400.0
    limit.give_back("p")
    assert limit.take("p", now=200.0) == 0.0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after(0.2) == {"Retry-After": "1"}
    assert retry_after(3399.1) == {"Retry-After": "3400"}


def test_idle_keys_are_dropped() -> None:
    limit = PerWindow(1, 10)
    limit.SWEEP_EVERY = 2
    limit.take("old", now=0.0)
    limit.take("new", now=20.0)  # the second take sweeps: "old" has been idle a whole window
    assert list(limit._stamps) == ["new"]
    assert limit.take("new", now=21.0) == 9.0  # the live key keeps its window
