-- The rolled-up call report (projections/call_rollup.py): the calls requested in each quarter
-- hour (UTC; every zone's offset is a whole number of quarter hours, so a day or an hour of
-- any zone is a sum of slots), per service, key and current status, with how many of them
-- were delivered and what they cost. The projection moves a call from one row to another in
-- the transaction that changes the call; summaries read these rows, not the calls, and they
-- outlive the calls' retention (FLASHCALL_CALL_RETENTION_DAYS).
CREATE TABLE IF NOT EXISTS call_rollup (
    account_id  uuid        NOT NULL,
    slot        timestamptz NOT NULL,
    service_id  uuid        NOT NULL,
    key_id      uuid        NOT NULL,
    status      text        NOT NULL,
    calls       int         NOT NULL,  -- int: sums of int are bigint, cheaper than numeric
    delivered   int         NOT NULL,
    cost        bigint      NOT NULL,
    PRIMARY KEY (account_id, slot, service_id, key_id, status)
);

-- The calls projected before this table existed (the projection is not running while
-- migrations are applied: processes migrate before they start consuming).
INSERT INTO call_rollup (account_id, slot, service_id, key_id, status, calls, delivered, cost)
SELECT account_id, date_bin('15 minutes', created_at, '2000-01-01 00:00:00+00'), service_id,
       key_id, status, count(*), count(delivered_at), sum(cost)
FROM calls WHERE service_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT DO NOTHING;
