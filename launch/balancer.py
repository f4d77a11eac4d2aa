"""HAProxy in front of the API replicas, for `make run`'s replica mode and the fleet test.

Requests go round-robin to the replicas that answer `/readyz`. When none does (PostgreSQL away:
the replicas still take calls, their readiness says the database is not there), the balancer
sends requests to the replicas that are alive (`/healthz`) rather than answer 503 itself. A
connection refused (a replica just killed) is tried once more on another replica: nothing was
sent yet. HAProxy runs in master-worker mode, so a changed list of replicas is a reload
(SIGUSR2), not a new process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from launch.orphans import die_with_parent

# How often replicas are checked, and how many checks change their state.
CHECK_INTERVAL = "1s"


class NoBalancer(RuntimeError):
    pass


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    if found is None:
        raise NoBalancer(
            "several API replicas need HAProxy in front of them: install Debian's haproxy"
            " (make run installs it when it may use apt)"
        )
    return found


def config(port: int, replicas: Sequence[int], host: str = "127.0.0.1") -> str:
    """The configuration: the balancer on `host:port`, the API replicas on loopback ports."""
    servers = [f"api-{i + 1} 127.0.0.1:{p}" for i, p in enumerate(replicas)]
    ready = "\n".join(f"    server {s} check" for s in servers)
    alive = "\n".join(f"    server {s} check" for s in servers)
    return f"""# Written by launch/balancer.py; rewritten when the replicas change.
global
    maxconn 4096

defaults
    mode http
    option forwardfor
    option redispatch
    retries 1
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 60s
    default-server inter {CHECK_INTERVAL} fall 2 rise 1

frontend api
    bind {host}:{port}
    use_backend alive if {{ nbsrv(ready) eq 0 }}
    default_backend ready

backend ready
    balance roundrobin
    option httpchk GET /readyz
{ready}

backend alive
    balance roundrobin
    option httpchk GET /healthz
{alive}
"""


class Balancer:
    """One HAProxy (master-worker) and its configuration file."""

    def __init__(self, run_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.path = run_dir / "haproxy.cfg"
        self.port = port
        self.host = host
        self.replicas: list[int] = []

    def write(self, replicas: Sequence[int]) -> None:
        self.replicas = list(replicas)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(config(self.port, self.replicas, self.host))

    def argv(self) -> list[str]:
        return [haproxy_binary(), "-W", "-db", "-f", str(self.path)]

    def start(self, log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            return subprocess.Popen(
                self.argv(), stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()

    @staticmethod
    def reload(proc: subprocess.Popen[bytes]) -> None:
        """Read the configuration again (the master starts new workers, the old ones finish
        their requests)."""
        proc.send_signal(signal.SIGUSR2)
