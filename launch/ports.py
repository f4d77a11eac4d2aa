"""Free ports and waiting for them."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports chosen from below the kernel's ephemeral range (32768–60999 by default). A port the
# kernel picks for bind(0) is one it may give any outgoing connection (a Kafka or PostgreSQL
# client's) before the process it was chosen for binds it: a worker's metrics port once was
# (EADDRINUSE, the bench's platform down).
LOWEST = 10000
_given: set[int] = set()


def reserve(port: int) -> None:
    """A port this process was told its children will use (`make run`'s API port, chosen by
    whoever started it): never given by `free_port`. Unreserved, one launcher gave it to a
    worker's metrics, whose /healthz then answered for the API that could not bind it."""
    _given.add(port)


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port nothing on this host holds now, outside the ephemeral range, and not given
    before by this process (its children bind theirs later)."""
    high = _ephemeral_low() - 1
    for _ in range(200 if high > LOWEST else 0):
        port = random.randint(LOWEST, high)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    with socket.socket() as s:  # an ephemeral range starting too low: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Return once `host:port` accepts connections; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host}:{port} did not open within {timeout}s") from None
            time.sleep(0.02)
