-- Call reports: the filters an account combines (its calls, newest first).
CREATE INDEX IF NOT EXISTS calls_account_status ON calls (account_id, status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS calls_account_phone ON calls (account_id, phone, created_at DESC, id DESC);
