-- Workflows (docs/workflows.md): a call's steps, flash calls and SMS, each claimed once.

-- A service's workflow and SMS text (projected from ServiceCreated/Updated); null: the default.
ALTER TABLE services ADD COLUMN IF NOT EXISTS workflow jsonb;
ALTER TABLE services ADD COLUMN IF NOT EXISTS sms_template text;
-- What a delivered SMS costs the account; null: the platform default.
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS price_per_sms bigint;

-- The decisions' record of a call's workflow. The step in progress (or the last) is `step`;
-- `step_status` is started, delivered, failed or ending (its timeout passed: the next is due);
-- null on calls decided before workflows (their one step is over) and on rejected ones.
-- `price` is the step's price (what its delivery charges, what its failure releases), and
-- `step_deadline` when a delivered step hands over to the next (null on the last step).
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS workflow jsonb;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS step int NOT NULL DEFAULT 0;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS step_status text;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS step_deadline timestamptz;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS delivered_once boolean NOT NULL DEFAULT false;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS sms_text text;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS price_per_call bigint;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS price_per_sms bigint;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS code_ttl_seconds double precision;
-- Calls being dialled when the new workers start: their step is the one in progress.
UPDATE proc_calls SET step_status = 'started' WHERE status = 'admitted' AND step_status IS NULL;
-- The step timer reads only delivered steps waiting to hand over, in deadline order: the index,
-- proc_calls_step_deadline, is built by 029 (concurrently: a row per call ever decided).

-- A dial claim per step. The first step's claim is keyed by the call id, as before workflows
-- (so workers of 0.2.0 and of this release claim alike); a later step's by an id derived from
-- the call and the step, with the call in `step_of`.
ALTER TABLE dials ADD COLUMN IF NOT EXISTS step int NOT NULL DEFAULT 0;
ALTER TABLE dials ADD COLUMN IF NOT EXISTS step_of uuid;
ALTER TABLE dials ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'flash_call';
ALTER TABLE dials ADD COLUMN IF NOT EXISTS fails_call boolean NOT NULL DEFAULT true;

-- What the simulated SMS centre delivered to each handset (FLASHCALL_SMS_CARRIER=sim).
CREATE TABLE IF NOT EXISTS sim_handset_messages (
    message_id  bigserial   PRIMARY KEY,
    call_id     uuid        NOT NULL,
    phone       text        NOT NULL,
    sender      text        NOT NULL,
    text        text        NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sim_handset_messages_phone
    ON sim_handset_messages (phone, received_at DESC);

-- The projection: each step of a call (flat keys "<step>.<field>", first value wins, as a
-- call's other columns), the step in progress or last and its channel, the workflow's length,
-- and the SMS price the cost counts.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS steps jsonb;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS step int;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS channel text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS step_count int;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS price_per_sms bigint;

-- What a call's delivered steps cost (projections/call_steps.py: cost is its Python twin).
CREATE OR REPLACE FUNCTION flashcall_call_cost(steps jsonb, price_per_call bigint,
                                               price_per_sms bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(sum(CASE WHEN steps ->> (split_part(s.k, '.', 1) || '.channel') = 'sms'
                             THEN COALESCE(price_per_sms, 0)
                             ELSE COALESCE(price_per_call, 0) END), 0)::bigint
    FROM jsonb_each_text(COALESCE(steps, '{}'::jsonb)) AS s(k, v)
    WHERE s.k LIKE '%.status' AND s.v = 'delivered'
$$;

-- The rollup counts, for each status, the calls whose step in progress (or last) is an SMS:
-- summaries count verifications per channel. Calls rolled up before are flash calls (0).
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS queued_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS dialing_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS delivered_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS verified_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS expired_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS failed_sms int NOT NULL DEFAULT 0;
ALTER TABLE call_rollup ADD COLUMN IF NOT EXISTS rejected_sms int NOT NULL DEFAULT 0;
