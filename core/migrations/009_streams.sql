-- References: the customer's own id for a call, unique per service for 24 hours (api/placing.py
-- looks the latest call of a reference up); accounts with the Kafka way in enabled.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS reference text;
CREATE INDEX IF NOT EXISTS calls_service_reference ON calls (service_id, reference, created_at DESC)
    WHERE reference IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_account_reference ON calls (account_id, reference)
    WHERE reference IS NOT NULL;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS streams_enabled boolean NOT NULL DEFAULT false;
