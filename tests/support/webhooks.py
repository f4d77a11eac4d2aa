"""A real HTTP receiver of webhooks for end-to-end tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every request; answers 500 to the first `failures` attempts of each delivery
    (by webhook-id)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.seen: dict[str, int] = {}
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers.items()), body))
                    msg_id = self.headers.get("webhook-id", "")
                    receiver.seen[msg_id] = receiver.seen.get(msg_id, 0) + 1
                    failing = receiver.seen[msg_id] <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, kind: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self.lock:
            found = [(h, json.loads(b)) for h, b in self.requests]
        return [(h, b) for h, b in found if b["type"] == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
