-- A dial claim is failed as abandoned (carrier_error) only when its worker looks dead: a live
-- dialer keeps the claims it still holds alive (`alive_at`, processors/dial_records.py), queued
-- behind its slots or ringing, so a long queue of claims (a batch after an outage, a trunk's
-- CPS) is dialled, not failed and then rung anyway. A claim of a build without it has no
-- `alive_at`: it counts from `claimed_at`, as before.
-- An index of the claims without an outcome (dials_undecided, built by 029): the abandon
-- check, every 10 s on each dialer, read the whole table (one row per call ever dialled)
-- before it.
ALTER TABLE dials ADD COLUMN IF NOT EXISTS alive_at timestamptz;
