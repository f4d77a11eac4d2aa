"""`python -m processors worker`: a faust worker for the roles in FLASHCALL_PROCESSOR_ROLES."""

from __future__ import annotations

from core.settings import get_settings
from processors.faust_app import build_app


def main() -> None:
    app = build_app(get_settings())
    app.main()


if __name__ == "__main__":
    main()
