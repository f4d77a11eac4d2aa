-- flashcall: outside a transaction
-- The indexes 0.2.0 adds to tables 0.1.0 never pruned (a row per call, per dial, per webhook,
-- per Idempotency-Key), built concurrently (core/db.py: OUTSIDE_A_TRANSACTION): writes to
-- those tables go on during the build, where a plain CREATE INDEX held the decisions', the
-- dialer's, the projection's and the API's writes for as long as it took (measured with 2
-- million rows: 0.12 to 0.51 s a table; CHANGELOG.md, 0.2.0; docs/operations.md, Migrations).

-- The step timer's delivered steps waiting to hand over, in deadline order (021).
CREATE INDEX CONCURRENTLY IF NOT EXISTS proc_calls_step_deadline ON proc_calls (step_deadline)
    WHERE status = 'delivered' AND step_status = 'delivered' AND step_deadline IS NOT NULL;

-- A webhook subject's pending deliveries, in order (018).
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_subject
    ON webhook_deliveries (endpoint_id, subject, seq) WHERE status = 'pending';

-- The Idempotency-Keys past their 24 h: answered ones, and claims (026).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idempotency_keys_answered_at
    ON idempotency_keys (created_at) WHERE status <> 0;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idempotency_keys_claims
    ON idempotency_keys ((greatest(claimed_at, released_at))) WHERE status = 0;

-- The dial claims without an outcome, for the abandon check (028).
CREATE INDEX CONCURRENTLY IF NOT EXISTS dials_undecided ON dials (claimed_at)
    WHERE outcome IS NULL;
