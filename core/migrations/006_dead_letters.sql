-- Records a consumer could never apply, set aside so that it goes on (the copy in the
-- flashcall.dead-letters topic is what operators and analysts read; this is the index that
-- counts them and remembers which were re-driven).
CREATE TABLE IF NOT EXISTS parked_records (
    id           bigserial   PRIMARY KEY,
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    partition    int         NOT NULL,
    "offset"     bigint      NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    event_type   text,
    reason       text        NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    redriven_at  timestamptz,
    UNIQUE (consumer, topic, partition, "offset")
);

-- Extra headers of an outbox record (a dead letter's origin and reason), as [[name, value], …].
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS headers jsonb;
