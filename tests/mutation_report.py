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
LINE = re.compile(r"^\s*(?P<name>\S+)__mutmut_(?P<n>\d+): (?P<status>.+)$")


def main() -> int:
    subprocess.run([MUTMUT, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    lived = subprocess.run([MUTMUT, "results"], check=True, capture_output=True, text=True)
    by_function: Counter[tuple[str, str]] = Counter()
    for line in lived.stdout.splitlines():
        match = LINE.match(line)
        if match:
            by_function[(match["name"], match["status"])] += 1
    total = stats["total"]
    killed = stats["killed"]
    print(json.dumps(stats, indent=1))
    print(f"\nkilled {killed} of {total}: {killed / total:.1%}")
    print("\nnot killed, by function:")
    for (name, status), count in sorted(by_function.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {status:10s} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
