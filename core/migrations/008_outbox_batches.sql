-- The outbox keeps one row per transaction: the events it decided, in order, as arrays (one
-- insert and one delete per batch, however many events). Rows of the earlier one-row-per-event
-- table are published too until it is empty (processors/outbox.py).
CREATE TABLE IF NOT EXISTS outbox_batches (
    id           bigserial   PRIMARY KEY,
    topics       text[]      NOT NULL,
    keys         bytea[]     NOT NULL,
    "values"     bytea[]     NOT NULL,
    event_types  text[]      NOT NULL,
    headers      jsonb       NOT NULL,  -- per event: [[name, value], ...]
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
