"""Kannel (Debian's `kannel`) on loopback with the fake SMSC of `kannel-extras` as the network:
bearerbox, smsbox and fakesmsc, each a process of its own, so a test can restart the gateway
mid-send. What the fake SMSC received is read back from its log (`Gateway.messages`)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes

from launch.ports import free_port
from launch.sipp import _bound

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USERNAME, PASSWORD = "flashcall", "k4nnel-s3cret"
# What fakesmsc logs of each message the SMSC hands it: "sender receiver type [udh] data".
RECEIVED = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")

CONFIG = """\
group = core
admin-port = {admin_port}
admin-password = {password}
admin-interface = 127.0.0.1
smsbox-port = {smsbox_port}
box-allow-ip = 127.0.0.1
log-file = "{tmp}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{tmp}/kannel.store"
dlr-storage = sqlite3

group = sqlite3-connection
id = dlr
database = "{tmp}/{dlr_database}"
max-connections = 1

group = dlr-db
id = dlr
table = dlr
field-smsc = smsc
field-timestamp = ts
field-destination = destination
field-source = source
field-service = service
field-url = url
field-mask = mask
field-status = status
field-boxc-id = boxc

group = smsc
smsc = fake
smsc-id = fake
port = {smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{tmp}/smsbox.log"
log-level = 1
http-request-retry = 10
http-queue-delay = 1

group = sendsms-user
username = {username}
password = {password}
max-messages = 4
concatenation = true
"""


# Where bearerbox keeps what it needs to report a delivery (the message's dlr-url) until the
# SMSC's report comes: kept in memory (`internal`), it is lost with a restart, and a message
# sent from the store afterwards reports to no one (its step then ends `expired`).
DLR_DATABASE = "dlr.sqlite3"
DLR_TABLE = """\
CREATE TABLE dlr (smsc TEXT, ts TEXT, destination TEXT, source TEXT, service TEXT, url TEXT,
mask INTEGER, status INTEGER, boxc TEXT)"""


@dataclass(frozen=True)
class Received:
    """One part the fake SMSC received."""

    sender: str
    receiver: str
    udh: bytes  # the concatenation header of a part of a long message (else empty)
    text: str


@dataclass
class Gateway:
    tmp: Path
    sendsms_port: int
    smsc_port: int
    smsbox_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def env(self) -> dict[str, str]:
        """A worker's settings for this gateway."""
        return {
            "FLASHCALL_SMS_CARRIER": "kannel",
            "FLASHCALL_KANNEL_SENDSMS_URL": self.sendsms_url,
            "FLASHCALL_KANNEL_USERNAME": USERNAME,
            "FLASHCALL_KANNEL_PASSWORD": PASSWORD,
        }

    def messages(self) -> list[Received]:
        """Every part the SMSC received so far, in order (across fakesmsc restarts)."""
        out = []
        for log in sorted(self.tmp.glob("fakesmsc-*.log")):
            for line in log.read_text(errors="replace").splitlines():
                found = RECEIVED.search(line)
                if found:
                    out.append(_received(*found.groups()))
        return out

    def start(self, name: str) -> None:
        config = str(self.tmp / "kannel.conf")
        if name == "bearerbox":
            self._spawn(name, ["bearerbox", config])
            _wait(lambda: _bound(self.smsbox_port, "tcp"), self.processes[name], name)
        elif name == "smsbox":
            self._spawn(name, ["smsbox", config])
            _wait(lambda: _bound(self.sendsms_port, "tcp"), self.processes[name], name)
        else:  # the network side: it connects to bearerbox's fake SMSC port
            _wait(lambda: _bound(self.smsc_port, "tcp"), None, "the fake SMSC port")
            log = self.tmp / f"fakesmsc-{time.monotonic_ns()}.log"
            self._spawn(
                name,
                [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-m", "0", "x y text z"],
                log,
            )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self) -> None:
        """The whole gateway stops and starts again (its message store is kept)."""
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            self.stop(name)
        for name in ("bearerbox", "smsbox", "fakesmsc"):
            self.start(name)

    def _spawn(self, name: str, argv: list[str], log: Path | None = None) -> None:
        out = open(log or self.tmp / f"{name}.out", "ab")  # noqa: SIM115 (the child keeps it)
        self.processes[name] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()


def _received(sender: str, receiver: str, kind: str, rest: str) -> Received:
    udh = b""
    if kind == "udh":
        raw_udh, _, rest = rest.partition(" data ")
        udh = _bytes(raw_udh)
        kind = "ucs-2"  # the gateway sends Persian parts as UCS-2 data
    if kind in ("ucs-2", "data"):
        return Received(sender, receiver, udh, _bytes(rest).decode("utf-16-be"))
    return Received(sender, receiver, udh, rest)


def _bytes(encoded: str) -> bytes:
    """Kannel's URL encoding ('+' is a space byte)."""
    return unquote_to_bytes(encoded.replace("+", "%20"))


def _wait(ready: object, process: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + 15
    while not ready():  # type: ignore[operator]
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} stopped at start (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not listen within 15 s")
        time.sleep(0.02)


def kannel_missing() -> str | None:
    """Why the gateway cannot run here (None: it can)."""
    if shutil.which("bearerbox") is None and not Path("/usr/sbin/bearerbox").exists():
        return "kannel is missing: `make test` installs Debian's kannel package"
    if not Path(FAKESMSC).exists():
        return "fakesmsc is missing: `make test` installs Debian's kannel-extras package"
    return None


@contextmanager
def gateway(tmp: Path) -> Iterator[Gateway]:
    """bearerbox, smsbox and fakesmsc, running until the block ends."""
    problem = kannel_missing()
    if problem is not None:
        raise RuntimeError(problem)
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
    gw = Gateway(tmp, free_port(), free_port(), free_port())
    (tmp / "kannel.conf").write_text(
        CONFIG.format(
            admin_port=free_port(),
            smsbox_port=gw.smsbox_port,
            smsc_port=gw.smsc_port,
            sendsms_port=gw.sendsms_port,
            tmp=tmp,
            dlr_database=DLR_DATABASE,
            username=USERNAME,
            password=PASSWORD,
        )
    )
    with contextlib.closing(sqlite3.connect(tmp / DLR_DATABASE)) as db:
        db.execute(DLR_TABLE)
        db.commit()
    try:
        for name in ("bearerbox", "smsbox", "fakesmsc"):
            gw.start(name)
        yield gw
    finally:
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            gw.stop(name)
