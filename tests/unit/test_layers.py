"""The packages' imports point one way (README.md, Architecture):

    core ← schemas ← producers ← runtime ← projections ← front_door ← processors, api

No package imports one to its right: projections import no processor, processors no API module
(what the Kafka ingress shares with the API is the front door), and a worker loads no FastAPI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = (
    "core", "schemas", "producers", "runtime", "projections", "front_door", "processors", "api"
)  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "schemas": {"core"},
    "producers": {"core", "schemas"},
    "runtime": {"core", "schemas", "producers"},
    "projections": {"core", "schemas", "producers", "runtime"},
    "front_door": {"core", "schemas", "producers", "runtime", "projections"},
    "processors": {"core", "schemas", "producers", "runtime", "projections", "front_door"},
    "api": {"core", "schemas", "producers", "runtime", "projections", "front_door"},
}


def imports() -> set[tuple[str, str, str]]:
    """(package, module file, imported module) for every import of another platform package,
    at any depth of the file (a function's import counts too)."""
    found = set()
    for package in PLATFORM:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in PLATFORM and top != package:
                        found.add((package, str(path.relative_to(ROOT)), name))
    return found


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = {
        (file, name)
        for package, file, name in imports()
        if name.split(".")[0] not in ALLOWED[package]
    }
    assert wrong == set()


def test_the_graph_is_read() -> None:
    found = imports()
    assert ("runtime", "runtime/batches.py", "runtime.outbox") not in found  # same package
    assert any(f == "projections/read_models.py" and n.startswith("runtime") for _, f, n in found)


def test_a_worker_starts_without_fastapi() -> None:
    """The Kafka ingress applies the API's checks (credentials, placing, problems) without
    loading the HTTP framework."""
    probe = (
        "import sys, processors.faust_app, processors.ingress, processors.__main__;"
        "print(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
