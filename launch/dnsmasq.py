"""dnsmasq (Debian's dnsmasq-base) as the carrier's DNS on loopback, with the NAPTR, SRV and A
records a test gives it (RFC 3263 trunk location)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from launch.ports import free_port
from launch.sipp import _bound


@contextmanager
def dns_server(tmp: Path, records: list[str], ttl: int = 60) -> Iterator[tuple[str, int]]:
    """Serve `records` (dnsmasq options: --host-record=…, --srv-host=…, --naptr-record=…) on
    127.0.0.1 until the block ends; yields (host, port)."""
    path = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(path).exists():
        raise RuntimeError("dnsmasq is missing: `make test` installs Debian's dnsmasq-base")
    port = free_port()
    log = tmp / f"dnsmasq-{port}.log"
    args = [
        path, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
        f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
        f"--local-ttl={ttl}", f"--pid-file={tmp / f'dnsmasq-{port}.pid'}",
        f"--log-facility={log}", "--log-queries", *records,
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not _bound(port, "udp"):
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"dnsmasq stopped: {error}")
            if time.monotonic() > deadline:
                raise TimeoutError("dnsmasq did not listen within 10 s")
            time.sleep(0.02)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(5)
        if process.stderr:
            process.stderr.close()
