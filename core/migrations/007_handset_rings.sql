-- A simulated handset shows every ring, two for one call included: a double dial must be
-- visible (a key on call_id would have merged it away).
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'sim_handset_calls'
          AND column_name = 'ring_id'
    ) THEN
        ALTER TABLE sim_handset_calls DROP CONSTRAINT sim_handset_calls_pkey;
        ALTER TABLE sim_handset_calls ADD COLUMN ring_id bigserial PRIMARY KEY;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS sim_handset_calls_call ON sim_handset_calls (call_id);
