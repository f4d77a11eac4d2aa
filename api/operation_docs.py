"""What each operation of the OpenAPI document says: a summary and a description, in one table
(api/openapi.py applies it; tests/unit/test_openapi.py holds every operation to an entry and
every entry to an operation). docs/api.md is the contract in prose; these are its short form.
"""

from __future__ import annotations

from typing import NamedTuple


class Text(NamedTuple):
    summary: str
    description: str


OPERATIONS: dict[str, Text] = {
    # ------------------------------------------------------------------------------ operator
    "POST /v1/accounts": Text(
        "Open an account",
        "Creates an account with its price per call and credit limits (platform defaults where"
        " left out). The answer carries the account's API token: it is shown only here. An"
        " `Idempotency-Key` replays the first answer for 24 h.",
    ),
    "GET /v1/accounts/{account_id}": Text(
        "Read an account",
        "The account's name, prices, limits and time zone; never its token.",
    ),
    "PATCH /v1/accounts/{account_id}": Text(
        "Change an account",
        "Changes its name, `price_per_call`, `credit_limit` (the default for its new services)"
        " or `total_credit_limit` (what all its services together may owe). A new price applies"
        " to calls requested from then on.",
    ),
    "POST /v1/accounts/{account_id}/streams": Text(
        "Enable the Kafka way in",
        "Creates the account's ingress and results topics (docs/streaming.md); asking again"
        " answers the same topics.",
    ),
    "POST /v1/services/{service_id}/topups": Text(
        "Top up a service",
        "Adds `amount` (rials, > 0) to the service's balance. A service cut off at its limit"
        " takes calls again once this answers, on every replica. `reference` is the"
        " operator's note, shown in the ledger; an `Idempotency-Key` credits once however"
        " often the request is sent.",
    ),
    "GET /v1/sim/handsets/{phone}/calls": Text(
        "What a simulated handset saw",
        "Development and tests (`FLASHCALL_CARRIER=sim`): the calls the simulated handset of"
        " `phone` received, newest first (`call_id` keeps one call's rings). The code is the"
        " last `code_length` digits of `caller_number`.",
    ),
    "GET /v1/sim/handsets/{phone}/messages": Text(
        "What a simulated handset received by SMS",
        "Development and tests (`FLASHCALL_SMS_CARRIER=sim`): the SMS the simulated handset"
        " of `phone` received (`sender`, `text`, `received_at`), newest first.",
    ),
    # ------------------------------------------------------------------------------- account
    "GET /v1/account": Text(
        "Read your own account",
        "The calling account: its `id` (which the Kafka way in and the operator name it by),"
        " name, prices, limits and time zone.",
    ),
    "POST /v1/account/token": Text(
        "Rotate the account's token",
        "A new API token for the calling account, shown only here; the old one stops working"
        " on every replica before this answers.",
    ),
    "POST /v1/services": Text(
        "Create a service",
        "A service sets the code's length (4..8 digits) and validity (1..60 minutes), whether"
        " call bodies return the code (`return_code`), and where it may call"
        " (`allowed_regions`, `blocked_number_types`). Its credit limit is the account's"
        " default. An `Idempotency-Key` replays the first answer for 24 h.",
    ),
    "GET /v1/services": Text("List services", "The account's services, with balance and status."),
    "GET /v1/services/{service_id}": Text(
        "Read a service",
        "Its settings, `balance`, `credit_limit` and `status` (`active`, `disabled`, or"
        " `cut_off` while the balance is at −credit_limit).",
    ),
    "PATCH /v1/services/{service_id}": Text(
        "Change a service",
        "The account changes its settings and `status` (`active` or `disabled`; a disabled"
        " service refuses calls with 403 `service_disabled`). Only the operator sets"
        " `credit_limit`. New settings apply to calls placed after the answer.",
    ),
    "POST /v1/services/{service_id}/keys": Text(
        "Issue an access key",
        "An access key places, retries, verifies and reads the calls of this service only. The"
        " key itself is shown only in this answer; it works on every replica once this"
        " answers.",
    ),
    "GET /v1/services/{service_id}/keys": Text(
        "List a service's keys",
        "Label, prefix, when each was made, last used and revoked; never the key itself.",
    ),
    "DELETE /v1/services/{service_id}/keys/{key_id}": Text(
        "Revoke an access key",
        "The key is refused (401) by every replica from the moment this answers 204.",
    ),
    "POST /v1/operator/ranges": Text(
        "Add a caller range",
        "A block of caller numbers calls draw from: fixed leading digits, then an `x` for each"
        " digit chosen per call (the last `code_length` are the code). `trunk` is tried first"
        " for its calls, `destinations` the networks it may dial (empty: all). Active at once,"
        " on every replica; a pattern sharing numbers with another range is refused (409"
        " `range_overlaps`). FLASHCALL_NUMBER_POOL seeds the first ones (docs/ranges.md).",
    ),
    "GET /v1/operator/ranges": Text(
        "List caller ranges with their health",
        "Each range with its status and, per network over the health rule's window, the flash"
        " calls judged (delivered, unreachable or carrier error), those delivered and their"
        " ratio, and any quarantine in force (`quarantined_until`; then probe calls test it).",
    ),
    "PATCH /v1/operator/ranges/{range_id}": Text(
        "Pause or resume a caller range",
        "`paused`: no new call draws from it (calls in flight go on); `active`: used again."
        " Quarantines are the health rule's and end by themselves.",
    ),
    "POST /v1/operator/webhooks": Text(
        "Add an operator webhook endpoint",
        "The operator's events — `range.quarantined` (a caller range stopped reaching a"
        " network; `last_for_network` when no healthy range is left for it) and"
        " `range.released` — signed, retried and logged as an account's webhooks are. The"
        " secret is shown only here.",
    ),
    "GET /v1/operator/webhooks": Text(
        "List the operator's webhook endpoints", "Newest first; never their secrets."
    ),
    "DELETE /v1/operator/webhooks/{webhook_id}": Text(
        "Remove an operator webhook endpoint", "Its pending deliveries are dropped."
    ),
    "GET /v1/operator/webhooks/{webhook_id}/deliveries": Text(
        "List an operator endpoint's deliveries",
        "Each event sent to it with its attempts and the last answer, newest first.",
    ),
    "POST /v1/services/{service_id}/test-numbers": Text(
        "Add a test number",
        "Calls to a test number ring no one, cost nothing and count in no limit or fraud rule:"
        " they are `delivered` at once, verify with `code` only (as many digits as the"
        " service's codes) and show `test: true` in reports. At most 20 per service (409"
        " `test_number_limit_reached`); adding one again gives it the new code.",
    ),
    "GET /v1/services/{service_id}/test-numbers": Text(
        "List a service's test numbers", "Each with its code and when it was added, newest first."
    ),
    "DELETE /v1/services/{service_id}/test-numbers/{phone}": Text(
        "Remove a test number",
        "Calls to it are real calls (dialled, charged, limited) from the moment this answers.",
    ),
    "GET /v1/services/{service_id}/fraud/blocks": Text(
        "List fraud blocks",
        "Number prefixes the pumping detection blocked for this service (docs/fraud.md), with"
        " the requests and verifications that tripped it and until when; the blocks in force"
        " are few, and come in one page.",
    ),
    "DELETE /v1/services/{service_id}/fraud/blocks/{prefix}": Text(
        "Lift a fraud block", "Calls to the prefix are placed again."
    ),
    "POST /v1/services/{service_id}/fraud/allowlist": Text(
        "Never block a prefix",
        "The pumping detection never blocks this prefix for this service.",
    ),
    "GET /v1/balance": Text(
        "Balances",
        "Every service's balance and limit, their total, the account's `total_credit_limit`"
        " and whether the account is cut off. Balances count delivered calls; calls accepted"
        " and not finished are held against the limits but not yet debited.",
    ),
    "GET /v1/services/{service_id}/ledger": Text(
        "A service's ledger",
        "Every debit (one per delivered call, exactly once) and top-up, with the balance after"
        " it, newest first.",
    ),
    "GET /v1/reports/calls": Text(
        "Call report",
        "The account's calls, newest first, filtered by service, key, status, phone, reference"
        " and time; a page of `limit` rows and a `next_cursor`. A row adds the key's label,"
        " the caller number once the call is finished, and when it was delivered, expired and"
        " how many verifications were tried.",
    ),
    "GET /v1/reports/calls.csv": Text(
        "Call report as CSV",
        "The report's rows, streamed, header row first; times in the account's time zone"
        " (named in the header row), in either calendar. Values a spreadsheet would take for"
        " a formula are quoted as text.",
    ),
    "GET /v1/reports/calls.xlsx": Text(
        "Call report as Excel",
        "The same rows as the CSV, as an Excel workbook; times in the account's time zone, in"
        " either calendar.",
    ),
    "GET /v1/reports/summary": Text(
        "Call summary",
        "Calls requested, delivered, failed, rejected, verified and expired, and their cost,"
        " per hour or day of the account's time zone (each `start` carries its offset).",
    ),
    "GET /v1/webhooks": Text(
        "List webhook endpoints",
        "The account's endpoints, newest first, a page at a time; no secrets.",
    ),
    "POST /v1/webhooks": Text(
        "Add a webhook endpoint",
        "The endpoint receives the event types it names (for one service, or all), signed"
        " per Standard Webhooks (docs/webhooks.md). The secret is shown only here and on"
        " rotation. Targets on private, loopback or link-local addresses are refused (422).",
    ),
    "GET /v1/webhooks/{webhook_id}": Text("Read a webhook endpoint", "Its URL, events, status."),
    "PATCH /v1/webhooks/{webhook_id}": Text(
        "Change a webhook endpoint",
        "Its URL, events, or status (`enabled`, `disabled`).",
    ),
    "DELETE /v1/webhooks/{webhook_id}": Text(
        "Remove a webhook endpoint", "Nothing more is sent to it."
    ),
    "POST /v1/webhooks/{webhook_id}/rotate-secret": Text(
        "Rotate an endpoint's secret",
        "A new secret; the old one stays valid for 24 h (deliveries carry both signatures).",
    ),
    "POST /v1/webhooks/{webhook_id}/test": Text(
        "Send a test event", "A `webhook.test` event is sent to the endpoint."
    ),
    "GET /v1/webhooks/{webhook_id}/deliveries": Text(
        "An endpoint's deliveries",
        "Newest first, a page at a time: event type, status, attempts, the endpoint's last answer.",
    ),
    "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend": Text(
        "Send a delivery again",
        "Queues the delivery again, with the same `webhook-id` (so a receiver that kept it"
        " can tell).",
    ),
    # --------------------------------------------------------------------------- access key
    "POST /v1/calls": Text(
        "Verify a phone: place a flash call",
        "Rings `phone` once from a caller number whose last `code_length` digits are the code."
        " 201 means the request is durable and will be decided: the call is `queued`, then"
        " `dialing`, `delivered` (the handset rang), and `verified` or `expired`; or `failed`"
        " or `rejected` with a reason. A `reference` names the call for 24 h (sending it again"
        " answers the same call and rings no one); an `Idempotency-Key` with the same body"
        " replays the first answer for 24 h (`Idempotent-Replayed: true`). Refused at"
        " once: an unparseable phone (400), a cut-off service or account (402), a disabled"
        " service or a destination it does not allow (403), and the key's or the phone's rate"
        " (429 with `Retry-After`).",
    ),
    "POST /v1/calls/batch": Text(
        "Place up to 1,000 calls",
        "Each item is answered in input order with the call's id or its own error, as"
        " `POST /v1/calls` would answer it. Items over the key's rate are answered"
        " `rate_limited` (send them again later); the others are placed.",
    ),
    "POST /v1/calls/stream": Text(
        "Stream calls (NDJSON)",
        "One `{phone, reference?}` per line in, one item result per line out, in input order,"
        " streamed while the request is still arriving, paced to the key's rate"
        " (docs/streaming.md).",
    ),
    "GET /v1/calls/{call_id}": Text(
        "Read a call",
        "The call as it stands; right after placing it (on any replica) it is found. An"
        " account token reads any call of its own services.",
    ),
    "POST /v1/calls/{call_id}/next-channel": Text(
        "Start the next channel now",
        "Starts the next step of the call's workflow (docs/workflows.md) without waiting for"
        " the step in progress to time out: the same call and code, by the next channel. If"
        " the step in progress has no outcome yet, the next starts as soon as it has. 202 with"
        " the call as it stands; 409 `no_next_channel` at the last step or once the call is"
        " verified, expired or failed.",
    ),
    "POST /v1/calls/{call_id}/retry": Text(
        "Call again with a new code",
        "A new call (`retry_of` names this one) with a new code, once the previous code can no"
        " longer be used (409 `code_still_valid` with `Retry-After` until then); every earlier"
        " code of the chain stops verifying. A chain holds at most 4 calls (409"
        " `retry_limit_reached`). Retrying the same call twice answers the same new call.",
    ),
    "POST /v1/calls/{call_id}/verify": Text(
        "Check a code",
        "`verified` is true only for the right code of a `delivered` call before `expires_at`;"
        " else `reason` says why (`invalid_code`, `expired`, `too_many_attempts`,"
        " `not_delivered`, `already_verified`). At most 5 attempts per call, counted exactly"
        " however many arrive at once.",
    ),
    "POST /services/call/call/": Text(
        "The seed's call endpoint",
        "The original service's shape, `{destination, token}` in (the token is an access key),"
        " `{message, code, tracking_code, head_number}` out, so its customers switch by"
        " changing the host alone. `tracking_code` is the call's id.",
    ),
    # --------------------------------------------------------------------------- operations
    "GET /healthz": Text("Liveness", "200 while the process lives."),
    "GET /readyz": Text(
        "Readiness",
        "200 when PostgreSQL and the broker answer and the directory has caught up; else 503"
        " `unavailable`, its `checks` member saying which failed.",
    ),
    "GET /metrics": Text("Metrics", "Prometheus text format (docs/operations.md lists them)."),
}
