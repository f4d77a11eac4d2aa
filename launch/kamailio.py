"""Kamailio (Debian's package) as a carrier's edge proxy on loopback, in front of a sipp UAS:
digest authentication, record-routing, loose routing (tests/sip/kamailio/proxy.cfg)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from launch.ports import free_port
from launch.sipp import _bound

CONFIG = Path(__file__).resolve().parents[1] / "tests" / "sip" / "kamailio" / "proxy.cfg"
MODULES = ("/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/kamailio/modules/")
USERNAME, PASSWORD = "flashcall", "pr0xy-s3cret"


@dataclass
class Proxy:
    port: int
    log: Path

    def trunk(self, transport: str, password: str = PASSWORD) -> str:
        return f"{transport}:{USERNAME}:{password}@127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def kamailio_path() -> str:
    path = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
    )
    if path is None:
        raise RuntimeError("kamailio is missing: `make test` installs Debian's kamailio package")
    return path


@contextmanager
def proxy(tmp: Path, uas_port: int, uas_transport: str) -> Iterator[Proxy]:
    """Kamailio relaying to the UAS at 127.0.0.1:`uas_port` until the block ends."""
    port = free_port()
    modules = next((m for m in MODULES if Path(m).is_dir()), MODULES[0])
    config = tmp / f"kamailio-{port}.cfg"
    config.write_text(
        CONFIG.read_text()
        .replace("{port}", str(port))
        .replace("{modules}", modules)
        .replace("{username}", USERNAME)
        .replace("{password}", PASSWORD)
        .replace("{uas_port}", str(uas_port))
        .replace("{uas_transport}", uas_transport)
    )
    log = tmp / f"kamailio-{port}.log"
    runtime = tmp / f"kamailio-{port}.run"
    runtime.mkdir()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                kamailio_path(), "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8",
                "-Y", str(runtime), "-P", str(runtime / "kamailio.pid"), "-w", str(runtime),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (_bound(port, "udp") and _bound(port, "tcp")):
            if process.poll() is not None:
                raise RuntimeError(f"kamailio stopped: {log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("kamailio did not listen within 15 s")
            time.sleep(0.02)
        yield Proxy(port, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
