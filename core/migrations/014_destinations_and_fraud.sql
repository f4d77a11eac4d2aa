-- Geo permissions and number-type rules of each service (core/destinations.py, docs/fraud.md).
-- NULL: the platform's defaults (FLASHCALL_DEFAULT_REGION only; premium_rate, shared_cost and
-- unknown refused).
ALTER TABLE services ADD COLUMN IF NOT EXISTS allowed_regions text[];
ALTER TABLE services ADD COLUMN IF NOT EXISTS blocked_number_types text[];

-- Call-pumping detection (core/fraud.py): each call's number prefix, counted per service in
-- sliding windows; each prefix's block or allow-listing; the blocks as customers read them.
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS prefix text;
CREATE INDEX IF NOT EXISTS proc_calls_prefix ON proc_calls (service_id, prefix, requested_at)
    WHERE prefix IS NOT NULL;
CREATE TABLE IF NOT EXISTS proc_fraud_prefixes (
    service_id     uuid        NOT NULL,
    prefix         text        NOT NULL,
    blocked_until  timestamptz,
    allowed        boolean     NOT NULL DEFAULT false,
    counted_since  timestamptz,  -- a lifted block counts the prefix again from its lifting
    PRIMARY KEY (service_id, prefix)
);
CREATE TABLE IF NOT EXISTS fraud_blocks (
    service_id  uuid        NOT NULL,
    prefix      text        NOT NULL,
    blocked_at  timestamptz NOT NULL,
    until       timestamptz NOT NULL,
    requests    bigint      NOT NULL,
    verified    bigint      NOT NULL,
    lifted_at   timestamptz,
    PRIMARY KEY (service_id, prefix, blocked_at)
);
CREATE TABLE IF NOT EXISTS fraud_allowed (
    service_id  uuid        NOT NULL,
    prefix      text        NOT NULL,
    allowed_at  timestamptz NOT NULL,
    PRIMARY KEY (service_id, prefix)
);
-- Lifts (and allow-listings) as the projection saw them: a block projected after its lifting
-- (they come by different topics) is lifted all the same.
CREATE TABLE IF NOT EXISTS fraud_lifts (
    service_id  uuid        NOT NULL,
    prefix      text        NOT NULL,
    lifted_at   timestamptz NOT NULL,
    PRIMARY KEY (service_id, prefix, lifted_at)
);
