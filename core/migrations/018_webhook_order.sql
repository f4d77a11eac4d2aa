-- Webhooks per change of a call, in the order the call went through them (docs/webhooks.md): a
-- delivery names what it is about (`subject`: the call) and its place among that subject's
-- deliveries (`seq`); the sender holds one back while an earlier one to the same endpoint is
-- still pending. Rows made before have neither, and go out as they always did.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS subject text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS seq int NOT NULL DEFAULT 0;
-- Their index, webhook_deliveries_subject, is built by 029 (concurrently: 0.1.0 never pruned
-- the table).
