"""Release the current event schemas that are new: `make release-schemas`.

    python -m schemas.release [--root DIR] [--check]

For each event type whose current schema (schemas/events) is not a released version yet, it
checks compatibility with every released version (schemas/compat.py), then copies the file to
schemas/released/<Type>/v<N>.avsc and records it in versions.json. Released files are never
rewritten: one edited after its release stops the command. `--check` changes nothing and
fails if something is unreleased or incompatible (what the tests assert).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from schemas.compat import incompatibilities
from schemas.registry import MANIFEST, PACKAGE_DIR, Registry, fingerprint_of, sha256


class ReleaseRefused(Exception):
    pass


def pending(reg: Registry) -> dict[str, int]:
    """Event types whose current schema is not released, with the version it would get."""
    released = reg.released()
    waiting = {}
    for event_type, schema in reg.current_text().items():
        versions = released.get(event_type, [])
        if fingerprint_of(schema) not in {v.fingerprint for v in versions}:
            waiting[event_type] = len(versions) + 1
    return waiting


def check(reg: Registry) -> list[str]:
    """Everything that keeps the current schemas from being released (or released files that
    were edited)."""
    found = reg.tampered()
    released, current = reg.released(), reg.current_text()
    for event_type in pending(reg):
        history = [(v.number, v.text) for v in released.get(event_type, [])]
        found += incompatibilities(event_type, current[event_type], history)
    return found


def release(reg: Registry) -> dict[str, int]:
    """Release what is new; returns the versions made. ReleaseRefused if anything is wrong."""
    problems = check(reg)
    if problems:
        raise ReleaseRefused("\n".join(problems))
    made = pending(reg)
    manifest = reg.manifest()
    for event_type, version in made.items():
        target = reg.released_dir / event_type / f"v{version}.avsc"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reg.events_dir / f"{event_type}.avsc", target)
        manifest.setdefault(event_type, []).append(
            {
                "version": version,
                "fingerprint": fingerprint_of(json.loads(target.read_text())).hex(),
                "sha256": sha256(target),
            }
        )
    (reg.released_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.release", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=PACKAGE_DIR, help="holds events/ and released/"
    )
    parser.add_argument("--check", action="store_true", help="change nothing; fail if not ready")
    args = parser.parse_args(argv)
    reg = Registry(args.root)
    if args.check:
        problems = check(reg) + [
            f"{t}: the current schema is not released (make release-schemas)" for t in pending(reg)
        ]
        print("\n".join(problems) or "every current schema is released", file=sys.stderr)
        return 1 if problems else 0
    try:
        made = release(reg)
    except ReleaseRefused as exc:
        print(f"nothing released:\n{exc}", file=sys.stderr)
        return 1
    for event_type, version in sorted(made.items()):
        print(f"released {event_type} v{version}")
    if not made:
        print("nothing new to release")
    return 0


if __name__ == "__main__":
    sys.exit(main())
