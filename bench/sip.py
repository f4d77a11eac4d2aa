"""SIP carrier figures: dials per second and the INVITE → 180 time, against sipp on loopback."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.load import median, percentile
from core.trunks import parse_trunks
from launch.sipp import uas
from processors.sip.carrier import SipCarrier


async def _dial_all(trunk: str, dials: int, cps: float) -> dict[str, Any]:
    carrier = SipCarrier(
        parse_trunks(trunk), ring_seconds=0.05, max_concurrent=500, cps=cps, t1=0.5
    )
    start = time.monotonic()
    results = await asyncio.gather(
        *(carrier.dial(uuid.uuid4(), f"+98912{i:07d}", "+982191234567") for i in range(dials))
    )
    seconds = time.monotonic() - start
    await carrier.close()
    delays = sorted(carrier.stats.ring_delays)
    return {
        "rate": dials / seconds,
        "delivered": sum(r.failure is None for r in results),
        "p50": percentile(delays, 0.5),
        "p90": percentile(delays, 0.9),
        "p99": percentile(delays, 0.99),
    }


def sip_figures(rounds: int, dials: int, cps: float) -> dict[str, Any]:
    """Each round: `dials` at once through one UDP trunk paced at `cps` (500 in flight at
    most) to a sipp that rings at once. A high `cps` measures the carrier's own pace; a low
    one the INVITE → 180 time of calls that do not queue."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            with uas("ring_cancel", Path(tmp), trace=False) as far:
                runs.append(asyncio.run(_dial_all(far.trunk, dials, cps)))
    return {
        "runs": runs,
        "rate": median([r["rate"] for r in runs]),
        "p50": median([r["p50"] for r in runs]),
        "p90": median([r["p90"] for r in runs]),
        "p99": median([r["p99"] for r in runs]),
        "dials": dials,
        "cps": cps,
    }
