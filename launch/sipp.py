"""sipp (Debian's sip-tester) as the remote UAS of a trunk, on loopback, with what it received.
The tests and the bench use it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from launch.ports import free_port

SCENARIOS = Path(__file__).resolve().parents[1] / "tests" / "sip" / "scenarios"


def _bound(port: int, proto: str) -> bool:
    """Whether something listens on 127.0.0.1:`port` (from /proc/net, no packet sent)."""
    for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
        local = line.split()[1]
        if int(local.rsplit(":", 1)[1], 16) == port:
            return True
    return False


@dataclass
class Uas:
    port: int
    transport: str
    messages: Path
    process: subprocess.Popen[bytes]

    @property
    def trunk(self) -> str:
        return f"{self.transport}:127.0.0.1:{self.port}"

    def received(self, method: str) -> list[str]:
        """The requests of `method` sipp received, whole, in order."""
        text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
        blocks = re.split(r"\n-{20,}[^\n]*\n", text)
        return [
            b.split("\n\n", 1)[1] if "\n\n" in b else b
            for b in blocks
            if re.search(rf"message received.*\n\n{method} sip:", b)
        ]

    def invites(self) -> list[str]:
        return self.received("INVITE")

    def first_invites(self) -> dict[str, tuple[datetime, str]]:
        """Per Call-ID, when its first INVITE arrived and the message (retransmissions and
        authenticated re-INVITEs are not new calls)."""
        return self.first_received("INVITE")

    def first_received(self, method: str) -> dict[str, tuple[datetime, str]]:
        """Per Call-ID, when its first request of `method` arrived and the message."""
        text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
        first: dict[str, tuple[datetime, str]] = {}
        for stamp, block in re.findall(r"-{20,} (\S+ \S+)\n(.*?)(?=\n-{20,} |\Z)", text, re.S):
            if "message received" not in block or f"\n\n{method} sip:" not in block:
                continue
            message = block.split("\n\n", 1)[1]
            first.setdefault(header(message, "Call-ID"), (datetime.fromisoformat(stamp), message))
        return first


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, re.MULTILINE | re.IGNORECASE)
    assert match is not None, f"no {name} in {message!r}"
    return match.group(1).strip()


def sipp_path() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise RuntimeError("sipp is missing: `make test` installs Debian's sip-tester package")
    return path


@contextmanager
def uas(
    scenario: str, tmp: Path, transport: str = "udp", calls: int | None = None, trace: bool = True
) -> Iterator[Uas]:
    """sipp answering as `scenario` (tests/sip/scenarios) until the block ends."""
    port = free_port()
    messages = tmp / f"{scenario}-{port}.log"
    args = [
        sipp_path(),
        "-sf", str(SCENARIOS / f"{scenario}.xml"),
        "-i", "127.0.0.1",
        "-p", str(port),
        "-t", "u1" if transport == "udp" else "t1",
        "-nostdin",
        "-trace_err", "-error_file", str(tmp / f"{scenario}-{port}.errors"),
        "-max_socket", "1000",
    ]  # fmt: skip
    if calls is not None:
        args += ["-m", str(calls)]
    if trace:  # every message to a file (slows sipp down: off for the bench)
        args += ["-trace_msg", "-message_file", str(messages)]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        proto = "udp" if transport == "udp" else "tcp"
        while not _bound(port, proto) and process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("sipp did not listen within 10 s")
            time.sleep(0.01)
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"sipp stopped: {error}")
        yield Uas(port, transport, messages, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
