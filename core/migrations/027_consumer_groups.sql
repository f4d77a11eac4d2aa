-- Which Kafka consumer group each consumer's workers join (runtime/consumer_groups.py): the
-- generation goes up when a worker finds the group stuck, and every worker of the consumer
-- follows it to the group of the new generation. No row: generation 0, the group
-- `flashcall-<consumer>` that earlier builds join.
CREATE TABLE IF NOT EXISTS consumer_groups (
    consumer    text        PRIMARY KEY,
    generation  int         NOT NULL,
    moved_at    timestamptz NOT NULL
);
