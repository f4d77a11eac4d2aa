"""The Kannel carrier's sustained rate: SendSms commands appended to the broker, sent by a
dialer worker through Debian's Kannel to its fake SMSC, each delivery report recorded
(docs/workflows.md, "Kannel")."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import pipeline
from launch.kannel import gateway

CPS = 2000.0  # the carrier's pace is not what is measured: Kannel and the reports are


def kannel_figures(rounds: int, messages: int) -> dict[str, Any]:
    """Messages a second from the first command to the last report recorded, each round on a
    fresh platform and gateway; the fake SMSC's count shows none was lost or repeated."""
    runs = []
    for _ in range(rounds):
        with (
            tempfile.TemporaryDirectory(prefix="flashcall-kannel-") as tmp,
            gateway(Path(tmp)) as gw,
            pipeline.stage() as s,
        ):
            plat = pipeline.platform(s)
            try:
                plat.start_worker(
                    "dialer",
                    roles="dialer",
                    FLASHCALL_KANNEL_CPS=str(CPS),
                    FLASHCALL_DIAL_ABANDON_SECONDS="600",
                    **gw.env(),
                )
                commands = [
                    pipeline.command(e, sms=True)
                    for e in pipeline.requests([uuid.uuid4()], messages)
                ]
                started = time.monotonic()
                pipeline.append(s.bootstrap, commands)
                pipeline.wait_count(
                    s.database_url,
                    "SELECT count(*) FROM dials WHERE outcome = 'CallDelivered'",
                    messages,
                )
                elapsed = time.monotonic() - started
                runs.append({"rate": messages / elapsed, "received": len(gw.messages())})
            finally:
                plat.stop_all()
    rates = sorted(r["rate"] for r in runs)
    return {"rate": rates[len(rates) // 2], "runs": runs}
