"""The settings of the running `make run`, in a file a shell can source and `flashcall` reads:
`var/run-<port>/env`, and `var/env` for the newest run (removed when it stops), so the
README's commands work in a new shell without copying anything from the banner.

    . var/env            # API, ADMIN_TOKEN, KAFKA, DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS

Plain `NAME=value` lines, no `export`: sourcing sets variables of the shell only, so a
`make run` started later from that shell does not connect to this run's broker by mistake.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from launch.platform import ROOT

# What `flashcall` takes from the file when its environment does not say.
READ_BY_OPS = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "FLASHCALL_ADMIN_TOKEN")


def newest(data_dir: str) -> Path:
    return ROOT / data_dir / "env"


def write(run_dir: Path, data_dir: str, values: dict[str, str]) -> Path:
    """Write the run's file and make it the newest; returns the newest's path."""
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    header = f"# flashcall `make run` at {values['API']}: `. {newest(data_dir)}` in a shell\n"
    (run_dir / "env").write_text(header + text)
    path = newest(data_dir)
    path.write_text(header + text)
    return path


def forget(run_dir: Path, data_dir: str) -> None:
    """At the run's end: the newest file goes if it is still this run's."""
    path, ours = newest(data_dir), run_dir / "env"
    if path.exists() and ours.exists() and path.read_text() == ours.read_text():
        path.unlink()
    ours.unlink(missing_ok=True)


def read(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name] = " ".join(shlex.split(value))
    return values


def use_newest_run(data_dir: str | None = None) -> Path | None:
    """Put the newest run's settings into this process's environment where it has none;
    returns the file used, if any."""
    path = newest(data_dir or os.environ.get("FLASHCALL_DATA_DIR", "var"))
    if not path.exists():
        return None
    values = read(path)
    for name in READ_BY_OPS:
        if name in values and not os.environ.get(name):
            os.environ[name] = values[name]
    return path
