-- Applied event ids are kept for a while (FLASHCALL_DEDUP_RETENTION_HOURS), then pruned: a
-- redelivery of the same offsets is still caught by consumed_offsets after that.
ALTER TABLE applied_events ADD COLUMN IF NOT EXISTS applied_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS applied_events_applied_at ON applied_events (applied_at);
