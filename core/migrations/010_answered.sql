-- Flash calls someone picked up (carriers bill answered seconds): NULL unless answered, so that
-- the projection's COALESCE upsert sets it from the delivery. No rewrite, no default.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS answered boolean;
