"""A webhook receiver to try flashcall's webhooks on one machine: checks each request's
Standard Webhooks signature with the endpoint's secret, prints the event's type and data, and
answers 204 (anything else is retried by the platform).

    python docs/examples/webhook_receiver.py PORT SECRET [--count N] [--until TYPE]

With `--count N` it exits after N verified events, with `--until TYPE` after the first of that
type (others may come first: a call placed before the endpoint was added can be delivered
after). `make run` allows webhooks to loopback addresses (FLASHCALL_WEBHOOK_ALLOW_PRIVATE);
production refuses them (docs/webhooks.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("secret")
    parser.add_argument("--count", type=int, default=0, help="exit after this many events")
    parser.add_argument("--until", help="exit after the first event of this type")
    args = parser.parse_args()
    verifier = Webhook(args.secret)
    received = 0
    done = False

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal received, done
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                event = verifier.verify(body, dict(self.headers))
            except WebhookVerificationError:
                self.send_response(401)  # not signed with our secret: never trust it
                self.end_headers()
                return
            print(event["type"], json.dumps(event["data"]), flush=True)
            received += 1
            done = 0 < args.count <= received or event["type"] == args.until
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass  # the events are the output

    server = HTTPServer(("127.0.0.1", args.port), Receiver)
    while not done:
        server.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main())
