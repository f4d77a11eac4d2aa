"""The garbage collector's pace in the platform's long-running processes (the workers, the API).

Python collects its youngest generation every 700 allocations. A worker allocates a few hundred
objects per event (decoded records, rows, events to publish), nearly all freed by reference
counting, so those collections found little and cost the stages 16–20 % of their CPU
(docs/benchmarks.md, 2026-12-07). Cycles are still collected, after 50,000 allocations: a few
megabytes at most wait for it.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def pace_collector() -> None:
    gc.set_threshold(*THRESHOLDS)
