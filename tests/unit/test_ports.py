"""Ports for the platform's processes come from below the kernel's ephemeral range, where no
outgoing connection takes them before their process binds them (launch/ports.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from launch import ports


def test_ports_are_below_the_ephemeral_range_free_and_never_given_twice() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    given = [ports.free_port() for _ in range(300)]
    assert len(set(given)) == 300
    assert all(10000 <= port < low for port in given), (low, min(given), max(given))
    with socket.socket() as s:
        s.bind(("127.0.0.1", given[-1]))  # free when given


def test_a_range_starting_too_low_leaves_the_choice_to_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "ip_local_port_range"
    fake.write_text("1024\t65000\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", fake)
    real_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert ports.free_port() >= real_low  # the kernel's own range, not 10000–1023


def test_a_reserved_port_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    reserved, *others = (p for p in range(low - 1, low - 200, -1) if p not in ports._given)
    choices = iter([reserved, reserved, *others])
    monkeypatch.setattr(ports.random, "randint", lambda *_: next(choices))
    ports.reserve(reserved)
    given = ports.free_port()
    assert given != reserved and given in others
