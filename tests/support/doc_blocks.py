"""The code blocks of the repository's Markdown pages, as the docs test runs them.

A ` ```sh `, ` ```bash ` or ` ```python ` block runs unless its info string says
`not-run: why`. In a shell block, a comment line that starts with `# {` or `# [` (and the
`#  …` lines that continue it) documents the output: each `"name": value` pair in it whose
value is not elided (`...`, `…`) must appear in what the block printed. In any block,
`# prints: text` documents printed text, `...` standing for anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("sh", "bash", "python")
FENCE = re.compile(r"^```(\S*)\s*(.*)$")
PAIR = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?)')
ELIDED = ("...", "…")


@dataclass
class Block:
    page: str
    line: int
    language: str
    info: str
    text: str
    expected: list[str] = field(default_factory=list)  # fragments, in order, whitespace-free

    @property
    def runs(self) -> bool:
        return not self.info.startswith("not-run")

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """The Markdown pages, README.md first (the others use its walkthrough's variables),
    client/README.md last. Found by name, not by git: `make mutation` runs the tests in a copy
    of the tree that git does not track."""
    rest = sorted(
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")]
        if p.name != "README.md" or p.parent != ROOT
    )
    return ["README.md", *rest, "client/README.md"]


def blocks(page: str) -> list[Block]:
    found, current = [], None
    for number, line in enumerate((ROOT / page).read_text().splitlines(), 1):
        match = FENCE.match(line)
        if current is None and match and match[1] in LANGUAGES:
            current = Block(page, number, match[1], match[2].strip(), "")
        elif current is not None and line.startswith("```"):
            current.expected = expectations(current)
            found.append(current)
            current = None
        elif current is not None:
            current.text += line + "\n"
    return found


def expectations(block: Block) -> list[str]:
    fragments: list[str] = []
    lines = block.text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("# prints:"):
            text = stripped.removeprefix("# prints:").strip()
            fragments += [squeeze(part) for part in re.split(r"\.\.\.|…", text) if part.strip()]
        elif block.language != "python" and stripped.startswith(("# {", "# [")):
            documented = stripped[1:]
            for more in lines[i + 1 :]:
                if not more.strip().startswith("#  "):
                    break
                documented += more.strip()[1:]
            for name, value in PAIR.findall(documented):
                if not any(e in value for e in ELIDED):
                    fragments.append(squeeze(f'"{name}":{value}'))
    return fragments


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def missing(block: Block, output: str) -> list[str]:
    """The documented fragments not found in `output`, in order."""
    out, at, absent = squeeze(output), 0, []
    for fragment in block.expected:
        found = out.find(fragment, at)
        if found < 0:
            absent.append(fragment)
        else:
            at = found + len(fragment)
    return absent
