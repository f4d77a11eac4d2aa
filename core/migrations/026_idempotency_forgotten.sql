-- Idempotency-Keys are forgotten once past their 24 h (front_door/idempotency.py, `forget`),
-- by every API replica once a minute; before this the table only grew. A released claim has
-- claimed_at -infinity, so it says since when it is released (a replica older than this
-- migration releases without saying: the sweep dates such a claim when it first sees it). The
-- two indexes (029 builds them, concurrently: 0.1.0 never pruned the table) find the old
-- answers and the claims without reading the whole table.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS released_at timestamptz;
