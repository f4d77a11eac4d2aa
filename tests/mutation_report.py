"""After `mutmut run` (make mutation): the score and the mutants that lived, by function.

Run in the mutation environment from the repository root; docs/testing.md records the figures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

MUTMUT = Path(sys.executable).parent / "mutmut"
LINE = re.compile(r"^\s*(?P<name>\S+__mutmut_\d+): (?P<status>.+)$")
FRAGMENT = re.compile(r'^\s*f?"[^"]*[ (%][^"]*"[,)]*\s*$')
SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|VALUES|RETURNING|ON CONFLICT|SET)\b", re.IGNORECASE
)


def equivalent(mutant: str) -> str | None:
    """Why a surviving mutant cannot change behaviour, if it is one of the kinds that cannot:
    the case of the words of an SQL statement (PostgreSQL folds unquoted names and keywords),
    or `strict=` taken off a zip of columns that are always as long as each other."""
    shown = subprocess.run([MUTMUT, "show", mutant], capture_output=True, text=True).stdout
    removed = [line[1:] for line in shown.splitlines() if line.startswith("- ")]
    added = [line[1:] for line in shown.splitlines() if line.startswith("+ ")]
    if not removed or len(removed) != len(added):
        return None
    case_only = all(a.lower() == b.lower() for a, b in zip(removed, added, strict=True))
    # A piece of a statement: its function runs SQL, and the piece is a string of several
    # words (a lone word such as an event type's name is not SQL).
    pieces = all(FRAGMENT.match(line) for line in removed)
    if case_only and pieces and SQL.search(shown):
        return "SQL case"
    if all("zip(" in line and "strict=True" in line for line in removed):
        return "zip strictness"
    return None


def main() -> int:
    subprocess.run([MUTMUT, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    lived = subprocess.run([MUTMUT, "results"], check=True, capture_output=True, text=True)
    by_function: Counter[tuple[str, str]] = Counter()
    equivalents: Counter[str] = Counter()
    lived_mutants: list[str] = []
    for line in lived.stdout.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        name = match["name"].rsplit("__mutmut_", 1)[0]
        why = equivalent(match["name"]) if match["status"] == "survived" else None
        if why:
            equivalents[why] += 1
        else:
            by_function[(name, match["status"])] += 1
            if match["status"] != "timeout":
                lived_mutants.append(match["name"])
    total = stats["total"]
    # A mutant that timed out was caught too (the tests hung instead of passing).
    caught = stats["killed"] + stats["timeout"]
    same = sum(equivalents.values())
    print(json.dumps(stats, indent=1))
    print(f"\ncaught {caught} of {total}: {caught / total:.1%}")
    print(f"equivalent: {dict(equivalents)}")
    print(f"caught of the mutants that can change behaviour: {caught / (total - same):.1%}")
    print("\nnot killed, by function:")
    for (name, status), count in sorted(by_function.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {status:10s} {name}")
    if "--lines" in sys.argv:
        print("\nnot killed, each with its mutated line:")
        for mutant in lived_mutants:
            print(f"  {mutant}: {changed_line(mutant)}")
    return 0


def changed_line(mutant: str) -> str:
    shown = subprocess.run([MUTMUT, "show", mutant], capture_output=True, text=True).stdout
    return next((line[1:].strip() for line in shown.splitlines() if line.startswith("+ ")), "")


if __name__ == "__main__":
    sys.exit(main())
