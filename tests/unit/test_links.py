"""A clone is all a reader has: no link in the repository points outside it, and every link
between its documents lands on a file that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Relative links to a sibling of the repository (the brief's folder, say) never resolve in a
# clone; spelt in two halves so this file does not find itself.
OUTSIDE = "../" + "shared"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_nothing_points_at_a_folder_beside_the_repository() -> None:
    texts = tracked("*.md", "*.py", "*.toml", "*.yml", "*.yaml", "*.html", "*.cfg", "Makefile")
    found = [str(p.relative_to(ROOT)) for p in texts if OUTSIDE in p.read_text(errors="ignore")]
    assert found == []


def test_every_relative_link_in_the_documents_lands_inside_the_repository() -> None:
    broken = []
    for doc in tracked("*.md"):
        for target in LINK.findall(doc.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, or a heading of the same page
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []
