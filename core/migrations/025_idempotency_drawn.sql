-- What a create drew at random for its Idempotency-Key (front_door/drawn.py: the new id, the
-- event's id and moment, a secret), kept with the claim from before anything is appended. A
-- failed request's claim is released by setting claimed_at to -infinity (it was deleted): a
-- retry with the same body takes it over and draws the same, so an event the failure left
-- durable is appended again as itself (consumers take it once) instead of making a second
-- account, service, key or range.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS drawn jsonb;
