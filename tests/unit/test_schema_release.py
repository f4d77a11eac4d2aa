"""Releasing schemas: every current schema is released, released files never change, and
Apache Avro's checker guards each change (transitively; the analysts' report event fully)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from schemas import release
from schemas.compat import FULLY_COMPATIBLE, incompatibilities
from schemas.registry import PACKAGE_DIR, Registry, registry

REGISTRY = registry()


def test_every_current_schema_is_released_and_no_released_file_was_edited() -> None:
    assert release.main(["--check"]) == 0, "run `make release-schemas`"
    assert REGISTRY.tampered() == []


def test_each_current_schema_reads_every_released_version() -> None:
    current = REGISTRY.current_text()
    for event_type, versions in REGISTRY.released().items():
        history = [(v.number, v.text) for v in versions]
        assert incompatibilities(event_type, current[event_type], history) == []


@pytest.fixture
def scratch(tmp_path: Path) -> Registry:
    """A copy of the schemas to change."""
    shutil.copytree(PACKAGE_DIR / "events", tmp_path / "events")
    shutil.copytree(PACKAGE_DIR / "released", tmp_path / "released")
    return Registry(tmp_path)


def edit(reg: Registry, event_type: str, change: Any) -> None:
    path = reg.events_dir / f"{event_type}.avsc"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2) + "\n")


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == name)
    return found


def test_an_optional_field_is_released_as_a_new_version(scratch: Registry) -> None:
    note = {"name": "note", "type": ["null", "string"], "default": None}
    edit(scratch, "CallRequested", lambda s: s["fields"].append(note))
    before = len(scratch.released()["CallRequested"])
    assert release.release(scratch) == {"CallRequested": before + 1}
    assert (scratch.released_dir / "CallRequested" / f"v{before + 1}.avsc").exists()
    assert release.check(scratch) == [] and release.pending(scratch) == {}


@pytest.mark.parametrize(
    ("event_type", "change", "why"),
    [
        (
            "CallRequested",
            lambda s: s["fields"].append({"name": "region", "type": "string"}),
            "reader_field_missing_default_value",
        ),
        (
            "CallRequested",
            lambda s: field(s, "phone").update(type="long"),
            "type_mismatch",
        ),
        (
            "CallDelivered",
            lambda s: field(s, "expires_at").update(type={"type": "int"}),
            "type_mismatch",
        ),
        (
            # Analysts' readers must read new records: a field removed without default breaks them.
            "CallReported",
            lambda s: s["fields"].remove(field(s, "phone")),
            "reader_field_missing_default_value",
        ),
    ],
    ids=["added-without-default", "type-changed", "narrowed", "report-field-removed"],
)
def test_an_incompatible_change_is_refused(
    scratch: Registry, event_type: str, change: Any, why: str
) -> None:
    edit(scratch, event_type, change)
    problems = release.check(scratch)
    assert problems and all(event_type in p for p in problems), problems
    assert all(why in p for p in problems), problems
    with pytest.raises(release.ReleaseRefused):
        release.release(scratch)
    assert release.main(["--root", str(scratch.root), "--check"]) == 1


def test_removing_a_field_is_backward_but_not_forward_compatible() -> None:
    schema = REGISTRY.current_text()["CallRequested"]
    fewer = copy.deepcopy(schema)
    fewer["fields"].remove(field(fewer, "price_per_call"))
    assert incompatibilities("CallRequested", fewer, [(1, schema)]) == []
    assert "CallReported" in FULLY_COMPATIBLE


def test_a_released_file_edited_afterwards_stops_the_release(scratch: Registry) -> None:
    path = scratch.released_dir / "CallDelivered" / "v1.avsc"
    path.write_text(path.read_text().replace("When the fact happened", "When it happened"))
    assert scratch.tampered() == [f"{path} was edited after its release"]
    with pytest.raises(release.ReleaseRefused, match="edited after its release"):
        release.release(scratch)
