"""The HAProxy configurations the platform runs with (make run's replica mode, compose)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from launch.balancer import config
from launch.platform import parse_replicas

ROOT = Path(__file__).resolve().parents[2]
needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
    reason="HAProxy is not installed (make test installs it)",
)


def test_the_balancer_sends_to_ready_replicas_and_to_live_ones_when_none_is_ready() -> None:
    text = config(8765, [40001, 40002])
    assert "bind 127.0.0.1:8765" in text
    ready = text[text.index("\nbackend ready") : text.index("\nbackend alive")]
    alive = text[text.index("\nbackend alive") :]
    assert "option httpchk GET /readyz" in ready and "option httpchk GET /healthz" in alive
    for part in (ready, alive):
        assert "server api-1 127.0.0.1:40001 check" in part
        assert "server api-2 127.0.0.1:40002 check" in part
    assert "use_backend alive if { nbsrv(ready) eq 0 }" in text
    assert "option forwardfor" in text


@needs_haproxy
@pytest.mark.parametrize("name", ["make run", "compose"])
def test_haproxy_accepts_the_configuration(name: str, tmp_path: Path) -> None:
    if name == "compose":
        path = ROOT / "launch" / "compose" / "haproxy.cfg"
    else:
        path = tmp_path / "haproxy.cfg"
        path.write_text(config(8765, [40001, 40002, 40003]))
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_replica_counts_name_each_kind_and_default_to_one() -> None:
    assert parse_replicas("") == {
        "api": 1,
        "decisions": 1,
        "dialer": 1,
        "projection": 1,
        "ingress": 1,
    }
    assert parse_replicas("api=3, dialer=2") == {
        "api": 3,
        "decisions": 1,
        "dialer": 2,
        "projection": 1,
        "ingress": 1,
    }
    for bad, message in (
        ("apis=2", "unknown kind 'apis'"),
        ("api=0", "api needs a count from 1 to 16"),
        ("api=x", "api needs a count from 1 to 16"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_replicas(bad)
