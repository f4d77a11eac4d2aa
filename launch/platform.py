"""Starts the platform's processes (processor workers and the API) as child processes.

`make run` and the test suite both use it, so tests exercise the same processes users run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from launch.balancer import Balancer
from launch.orphans import die_with_parent
from launch.ports import free_port
from launch.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent

# How `make run` and the bench deploy the roles: one process each for the decisions (with
# expiry), the dialer and the projection, so they use more than one core between them. Each
# group is named by its first role's short name (FLASHCALL_REPLICAS counts them).
WORKER_ROLES = ("decisions,expiry", "dialer", "projections,webhooks", "ingress")
REPLICA_NAMES = {"decisions": 0, "dialer": 1, "projection": 2, "ingress": 3}


def parse_replicas(text: str) -> dict[str, int]:
    """FLASHCALL_REPLICAS (`api=2,decisions=2,…`): how many processes of each kind; one of
    each kind not named."""
    counts = {"api": 1, **dict.fromkeys(REPLICA_NAMES, 1)}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in counts:
            raise ValueError(
                f"FLASHCALL_REPLICAS: unknown kind {name!r} (known: {', '.join(counts)})"
            )
        if not value.strip().isdigit() or not 1 <= int(value) <= 16:
            raise ValueError(f"FLASHCALL_REPLICAS: {name} needs a count from 1 to 16")
        counts[name] = int(value)
    return counts


@dataclass(frozen=True)
class Code:
    """Where a child's code comes from: an interpreter, and the source tree it runs from (first
    on its path, and its working folder), or None to run what that interpreter has installed
    (a wheel) from a scratch folder. The packaging and upgrade tests start children of other
    builds and versions beside this tree's."""

    python: str = sys.executable
    tree: Path | None = ROOT


@dataclass
class Platform:
    bootstrap: str
    database_url: str
    http_port: int
    env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    # The code children run unless told otherwise.
    code: Code = field(default_factory=Code)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    supervisor: Supervisor | None = None
    _names: dict[int, str] = field(default_factory=dict)
    # Where each worker serves /metrics, /healthz and /readyz, by name.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    _ready_files: dict[int, Path] = field(default_factory=dict)
    # Where each API process listens, by name; the balancer in front of them, if any.
    api_ports: dict[str, int] = field(default_factory=dict)
    balancer: Balancer | None = None
    # How each child was started, by name, so the supervisor can start it again.
    _recipes: dict[str, tuple[list[str], dict[str, str], Code]] = field(default_factory=dict)

    def environment(self, code: Code | None = None, **extra: str) -> dict[str, str]:
        tree = (code or self.code).tree
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return {
            **inherited,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url,
            "FLASHCALL_HTTP_PORT": str(self.http_port),
            **({"PYTHONPATH": str(tree)} if tree is not None else {}),
            **self.env,
            **extra,
        }

    def _spawn(
        self, name: str, args: list[str], code: Code | None = None, **extra: str
    ) -> subprocess.Popen[bytes]:
        """Start `python args…` as `name` (watched by the supervisor, if any), from `code`
        (the platform's own by default)."""
        code = code or self.code
        return self._spawn_command(name, [code.python, *args], code, **extra)

    def _spawn_command(
        self, name: str, argv: list[str], code: Code | None = None, **extra: str
    ) -> subprocess.Popen[bytes]:
        self._recipes[name] = (argv, extra, code or self.code)
        proc = self._start(name)
        if self.supervisor is not None:
            self.supervisor.watch(name, proc, self._restarter(name))
        return proc

    def _restarter(self, name: str) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: self._restart(name)

    def _restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start `name` again as it was started (the supervisor calls this)."""
        for proc in [p for p in self.children if self._names.get(p.pid) == name]:
            self.children.remove(proc)
            ready = self._ready_files.pop(proc.pid, None)
            if ready is not None:
                ready.unlink(missing_ok=True)  # not ready until the new process says so
        return self._start(name)

    def _start(self, name: str) -> subprocess.Popen[bytes]:
        args, extra, code = self._recipes[name]
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            args,
            env=self.environment(code, **extra),
            cwd=code.tree or tempfile.gettempdir(),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        if out is not None:
            out.close()
        self.children.append(proc)
        self._names[proc.pid] = name
        if "FLASHCALL_READY_FILE" in extra:
            self._ready_files[proc.pid] = Path(extra["FLASHCALL_READY_FILE"])
        return proc

    def start_worker(
        self,
        name: str = "worker",
        roles: str | None = None,
        wait: bool = True,
        code: Code | None = None,
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """A faust worker; `roles` (comma-separated) defaults to all of them; `env` adds
        settings. With `wait`, returns once the worker has joined its group and holds
        partitions."""
        ready = Path(tempfile.mkdtemp(prefix="flashcall-")) / "ready"
        extra = {
            "FLASHCALL_METRICS_PORT": str(free_port()),  # /metrics, /healthz, /readyz
            **env,
            "FLASHCALL_READY_FILE": str(ready),
        }
        self.metrics_ports[name] = int(extra["FLASHCALL_METRICS_PORT"])
        if roles:
            extra["FLASHCALL_PROCESSOR_ROLES"] = roles
        argv = ["-m", "processors", "worker", "--without-web", "--loglevel", "warn"]
        proc = self._spawn(name, argv, code, **extra)
        if wait:
            self._wait(proc, ready.exists, f"worker {name} to get its partitions")
        return proc

    def start_workers(
        self, counts: Mapping[str, int] | None = None
    ) -> list[subprocess.Popen[bytes]]:
        """Each entry of WORKER_ROLES, `counts[kind]` times (once by default), started together,
        each waited for."""
        procs = []
        for kind, index in REPLICA_NAMES.items():
            roles = WORKER_ROLES[index]
            n = (counts or {}).get(kind, 1)
            for i in range(n):
                name = f"worker-{roles.split(',')[0]}" + (f"-{i + 1}" if n > 1 else "")
                procs.append(self.start_worker(name, roles, wait=False))
        for proc in procs:
            self.wait_ready(proc)
        return procs

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Until the worker holds its partitions."""
        self._wait(proc, self._ready_files[proc.pid].exists, f"{self.name_of(proc)} to be ready")

    def name_of(self, proc: subprocess.Popen[bytes]) -> str:
        return self._names[proc.pid]

    def start_api(
        self, name: str = "api", port: int | None = None, code: Code | None = None, **extra: str
    ) -> subprocess.Popen[bytes]:
        """An API instance, on the platform's port unless `port` is given."""
        port = port or self.http_port
        self.api_ports[name] = port
        proc = self._spawn(name, ["-m", "api"], code, FLASHCALL_HTTP_PORT=str(port), **extra)
        self.wait_until_healthy(proc, port)
        return proc

    def start_apis(self, n: int) -> list[subprocess.Popen[bytes]]:
        """One API on the platform's port, or `n` replicas behind HAProxy there."""
        if n == 1:
            return [self.start_api()]
        procs = [self.start_api(f"api-{i + 1}", free_port()) for i in range(n)]
        self.start_balancer()
        return procs

    def start_balancer(self) -> subprocess.Popen[bytes]:
        """HAProxy on the platform's port, in front of every API replica started so far."""
        self.balancer = Balancer(self.log_dir or Path(tempfile.mkdtemp()), self.http_port)
        self.balancer.write(list(self.api_ports.values()))
        proc = self._spawn_command("balancer", self.balancer.argv())
        self.wait_until_healthy(proc, self.http_port)
        return proc

    def add_api(self, name: str | None = None, code: Code | None = None) -> subprocess.Popen[bytes]:
        """One more API replica (of `code`, the platform's own by default), and the balancer
        told of it once it answers."""
        assert self.balancer is not None, "add_api needs the balancer (start_apis(n > 1))"
        name = name or f"api-{len(self.api_ports) + 1}"
        proc = self.start_api(name, free_port(), code)
        self._tell_balancer()
        return proc

    def retire_api(self, name: str) -> None:
        """Take a replica out of the balancer (which lets the requests it has in flight
        finish: HAProxy reloads gracefully), then stop it: no request is refused for it."""
        del self.api_ports[name]
        self._tell_balancer()
        for proc in self.running(name):
            self.stop(proc)

    def _tell_balancer(self) -> None:
        assert self.balancer is not None
        self.balancer.write(list(self.api_ports.values()))
        [balancer] = self.running("balancer")
        Balancer.reload(balancer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def metrics_urls(self) -> dict[str, str]:
        """Where each process serves /metrics, by name."""
        urls = {name: f"http://127.0.0.1:{p}/metrics" for name, p in self.api_ports.items()}
        urls.update({n: f"http://127.0.0.1:{p}/metrics" for n, p in self.metrics_ports.items()})
        return urls

    def wait_until_healthy(self, proc: subprocess.Popen[bytes], port: int) -> None:
        def healthy() -> bool:
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        self._wait(proc, healthy, "the API to answer /healthz")

    @staticmethod
    def _wait(
        proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, timeout: float = 90.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.returncode} while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def supervise(self) -> Supervisor:
        """From now on, a child that exits is started again (launch/supervisor.py)."""
        self.supervisor = Supervisor()
        for proc in self.children:
            name = self._names[proc.pid]
            self.supervisor.watch(name, proc, self._restarter(name))
        self.supervisor.run_in_background()
        return self.supervisor

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """Stop a child for good (the supervisor does not start it again)."""
        if self.supervisor is not None and proc.pid in self._names:
            self.supervisor.forget(self._names[proc.pid])
        self.metrics_ports.pop(self._names.get(proc.pid, ""), None)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.children:
            self.children.remove(proc)

    def running(self, prefix: str) -> list[subprocess.Popen[bytes]]:
        """Running children whose name starts with `prefix`."""
        return [
            p for p in self.children if p.poll() is None and self._names[p.pid].startswith(prefix)
        ]

    def stop_all(self) -> None:
        """Every child told at once, so stopping takes as long as the slowest one needs (a
        worker leaving its group), not the sum of them."""
        if self.supervisor is not None:
            self.supervisor.close()
        procs = list(reversed(self.children))
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.stop(proc)
