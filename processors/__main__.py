"""`python -m processors worker`: a faust worker for the roles in FLASHCALL_PROCESSOR_ROLES."""

from __future__ import annotations

import sys

from core.collector import pace_collector
from core.settings import get_settings
from processors.faust_app import build_app


def main() -> None:
    pace_collector()
    settings = get_settings()
    if settings.log_format == "json" and "--quiet" not in sys.argv:
        # faust's banner is a table on stdout: no place in a stream of JSON lines.
        sys.argv.insert(1, "--quiet")
    app = build_app(settings)
    app.main()


if __name__ == "__main__":
    main()
