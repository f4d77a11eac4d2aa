-- The rolled-up call report (projections/call_rollup.py): the calls requested in each quarter
-- hour (UTC; every zone's offset is a whole number of quarter hours, so a day or an hour of
-- any zone is a sum of slots), per service and key: for each status a call can be in, how many
-- are in it, how many of those were delivered and what they cost (the statuses are columns, so
-- a month of one key is 2,880 rows). The projection moves a call from one status's columns to
-- another's in the transaction that changes the call; summaries read these rows, not the
-- calls, and they outlive the calls' retention (FLASHCALL_CALL_RETENTION_DAYS).
CREATE TABLE IF NOT EXISTS call_rollup (
    account_id  uuid        NOT NULL,
    slot        timestamptz NOT NULL,
    service_id  uuid        NOT NULL,
    key_id      uuid        NOT NULL,
    queued_calls        int    NOT NULL DEFAULT 0,
    queued_delivered    int    NOT NULL DEFAULT 0,
    queued_cost         bigint NOT NULL DEFAULT 0,
    dialing_calls       int    NOT NULL DEFAULT 0,
    dialing_delivered   int    NOT NULL DEFAULT 0,
    dialing_cost        bigint NOT NULL DEFAULT 0,
    delivered_calls     int    NOT NULL DEFAULT 0,
    delivered_delivered int    NOT NULL DEFAULT 0,
    delivered_cost      bigint NOT NULL DEFAULT 0,
    verified_calls      int    NOT NULL DEFAULT 0,
    verified_delivered  int    NOT NULL DEFAULT 0,
    verified_cost       bigint NOT NULL DEFAULT 0,
    expired_calls       int    NOT NULL DEFAULT 0,
    expired_delivered   int    NOT NULL DEFAULT 0,
    expired_cost        bigint NOT NULL DEFAULT 0,
    failed_calls        int    NOT NULL DEFAULT 0,
    failed_delivered    int    NOT NULL DEFAULT 0,
    failed_cost         bigint NOT NULL DEFAULT 0,
    rejected_calls      int    NOT NULL DEFAULT 0,
    rejected_delivered  int    NOT NULL DEFAULT 0,
    rejected_cost       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, slot, service_id, key_id)
);

-- The calls projected before this table existed (the projection is not running while
-- migrations are applied: processes migrate before they start consuming).
INSERT INTO call_rollup (account_id, slot, service_id, key_id,
    queued_calls, queued_delivered, queued_cost,
    dialing_calls, dialing_delivered, dialing_cost,
    delivered_calls, delivered_delivered, delivered_cost,
    verified_calls, verified_delivered, verified_cost,
    expired_calls, expired_delivered, expired_cost,
    failed_calls, failed_delivered, failed_cost,
    rejected_calls, rejected_delivered, rejected_cost)
SELECT account_id, date_bin('15 minutes', created_at, '2000-01-01 00:00:00+00'), service_id,
       key_id,
       count(*) FILTER (WHERE status = 'queued'),
       count(delivered_at) FILTER (WHERE status = 'queued'),
       coalesce(sum(cost) FILTER (WHERE status = 'queued'), 0),
       count(*) FILTER (WHERE status = 'dialing'),
       count(delivered_at) FILTER (WHERE status = 'dialing'),
       coalesce(sum(cost) FILTER (WHERE status = 'dialing'), 0),
       count(*) FILTER (WHERE status = 'delivered'),
       count(delivered_at) FILTER (WHERE status = 'delivered'),
       coalesce(sum(cost) FILTER (WHERE status = 'delivered'), 0),
       count(*) FILTER (WHERE status = 'verified'),
       count(delivered_at) FILTER (WHERE status = 'verified'),
       coalesce(sum(cost) FILTER (WHERE status = 'verified'), 0),
       count(*) FILTER (WHERE status = 'expired'),
       count(delivered_at) FILTER (WHERE status = 'expired'),
       coalesce(sum(cost) FILTER (WHERE status = 'expired'), 0),
       count(*) FILTER (WHERE status = 'failed'),
       count(delivered_at) FILTER (WHERE status = 'failed'),
       coalesce(sum(cost) FILTER (WHERE status = 'failed'), 0),
       count(*) FILTER (WHERE status = 'rejected'),
       count(delivered_at) FILTER (WHERE status = 'rejected'),
       coalesce(sum(cost) FILTER (WHERE status = 'rejected'), 0)
FROM calls WHERE service_id IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
