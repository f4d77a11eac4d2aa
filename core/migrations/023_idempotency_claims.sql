-- An Idempotency-Key is claimed before what it creates is made (front_door/idempotency.py): a
-- claim is a row of status 0 whose created_at is -infinity (so the answer readers of 0.1.0,
-- which look for a row created within 24 h, see no answer in it) and claimed_at says since
-- when; a second request with the key meanwhile is answered 409 instead of making it again.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claimed_at timestamptz;
