-- Webhook endpoints and their deliveries (api/webhooks.py, processors/webhooks.py). Endpoints
-- live here, not on a topic: each holds its signing secret, which must never reach a topic
-- every analyst reads.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id               uuid PRIMARY KEY,
    account_id       uuid        NOT NULL,
    service_id       uuid,
    url              text        NOT NULL,
    events           text[]      NOT NULL,
    status           text        NOT NULL,
    secret           text        NOT NULL,
    previous_secret  text,
    previous_until   timestamptz,
    failing_since    timestamptz,
    disabled_reason  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_account ON webhook_endpoints (account_id);

-- One row per event per endpoint; its id is the stable `webhook-id` of every attempt.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type       text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL,
    attempts         int         NOT NULL DEFAULT 0,
    response_status  int,
    latency_ms       int,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint
    ON webhook_deliveries (endpoint_id, created_at DESC);
