"""Kamailio (Debian's package) as a carrier's edge proxy on loopback, in front of a sipp UAS:
digest authentication, record-routing, loose routing (tests/sip/kamailio/proxy.cfg)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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
    tls_port: int | None = None
    certificate: Path | None = None  # the self-signed certificate of its TLS listener

    def trunk(self, transport: str, password: str = PASSWORD) -> str:
        port = self.tls_port if transport == "tls" else self.port
        return f"{transport}:{USERNAME}:{password}@127.0.0.1:{port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def kamailio_path() -> str:
    path = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
    )
    if path is None:
        raise RuntimeError("kamailio is missing: `make test` installs Debian's kamailio package")
    return path


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl, a day's validity)."""
    cert, key = tmp / "proxy-cert.pem", tmp / "proxy-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def proxy(tmp: Path, uas_port: int, uas_transport: str, tls: bool = False) -> Iterator[Proxy]:
    """Kamailio relaying to the UAS at 127.0.0.1:`uas_port` until the block ends; with `tls`,
    also listening for TLS (kamailio-tls-modules) with a self-signed certificate."""
    port = free_port()
    modules = next((m for m in MODULES if Path(m).is_dir()), MODULES[0])
    config = tmp / f"kamailio-{port}.cfg"
    tls_port = free_port() if tls else None
    certificate = None
    tls_globals = tls_modules = ""
    if tls:
        certificate, key = self_signed(tmp)
        tls_config = tmp / f"kamailio-{port}-tls.cfg"
        tls_config.write_text(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            f"require_certificate = no\nprivate_key = {key}\ncertificate = {certificate}\n"
            "[client:default]\nverify_certificate = no\nrequire_certificate = no\n"
        )
        tls_globals = f"enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}"
        tls_modules = f'loadmodule "tls.so"\nmodparam("tls", "config", "{tls_config}")'
    config.write_text(
        CONFIG.read_text()
        .replace("{tls_globals}", tls_globals)
        .replace("{tls_modules}", tls_modules)
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
            start_new_session=True,  # its workers go with it (killpg below)
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (
            _bound(port, "udp")
            and _bound(port, "tcp")
            and (not tls_port or _bound(tls_port, "tcp"))
        ):
            if process.poll() is not None:
                raise RuntimeError(f"kamailio stopped: {log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("kamailio did not listen within 15 s")
            time.sleep(0.02)
        yield Proxy(port, log, tls_port, certificate)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
