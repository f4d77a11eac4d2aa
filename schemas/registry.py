"""The event schemas this build knows: the current version of each event type (what it writes
and reads into) and every released version (what any build may have written).

    schemas/events/<Type>.avsc             the current version, edited by developers
    schemas/released/<Type>/v<N>.avsc      released versions, immutable once released
    schemas/released/versions.json         per type: version, fingerprint, sha256 of the file

A record names its writer schema by fingerprint (single-object encoding); the registry maps
every released fingerprint to its event type and version. `python -m schemas.release`
(`make release-schemas`) releases the current versions that are new; docs/events.md has the
rules.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

PACKAGE_DIR = Path(__file__).parent
MANIFEST = "versions.json"


@dataclass(frozen=True)
class Version:
    event_type: str
    number: int
    fingerprint: bytes  # CRC-64-AVRO, little-endian, as single-object encoding carries it
    path: Path

    @property
    def text(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data


@dataclass(frozen=True)
class Registry:
    root: Path  # holds events/ and released/

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    @property
    def released_dir(self) -> Path:
        return self.root / "released"

    def current_text(self) -> dict[str, dict[str, Any]]:
        """The current schema of each event type, as JSON."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.events_dir.glob("*.avsc"))}

    def manifest(self) -> dict[str, list[dict[str, Any]]]:
        path = self.released_dir / MANIFEST
        data: dict[str, list[dict[str, Any]]] = (
            json.loads(path.read_text()) if path.exists() else {}
        )
        return data

    def released(self) -> dict[str, list[Version]]:
        """Every released version of each event type, oldest first."""
        return {
            event_type: [
                Version(
                    event_type,
                    entry["version"],
                    bytes.fromhex(entry["fingerprint"]),
                    self.released_dir / event_type / f"v{entry['version']}.avsc",
                )
                for entry in entries
            ]
            for event_type, entries in self.manifest().items()
        }

    def tampered(self) -> list[str]:
        """Released files that differ from what was released (they are immutable)."""
        problems = []
        for event_type, entries in self.manifest().items():
            for entry in entries:
                path = self.released_dir / event_type / f"v{entry['version']}.avsc"
                if not path.exists():
                    problems.append(f"{path} is missing")
                elif sha256(path) != entry["sha256"]:
                    problems.append(f"{path} was edited after its release")
                elif fingerprint_of(json.loads(path.read_text())).hex() != entry["fingerprint"]:
                    problems.append(f"{path} does not match its fingerprint")
        return problems


def fingerprint_of(schema: dict[str, Any]) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema's parsing canonical form, little-endian."""
    canonical = to_parsing_canonical_form(parse_schema(schema))
    return int(fingerprint(canonical, "CRC-64-AVRO"), 16).to_bytes(8, "little")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def registry(root: Path = PACKAGE_DIR) -> Registry:
    return Registry(root)
