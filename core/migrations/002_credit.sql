-- Postpaid credit: balances, reservations of admitted calls, cut-off, top-ups and the ledger.

ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS credit_limit bigint  NOT NULL DEFAULT 0;
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS balance      bigint  NOT NULL DEFAULT 0;
-- The price of every call admitted and not yet finished: the limit counts it.
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS reserved     bigint  NOT NULL DEFAULT 0;
-- The price of the service's latest call: what "its next call" is judged at.
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS last_price   bigint;
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS cut_off      boolean NOT NULL DEFAULT false;
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS low          boolean NOT NULL DEFAULT false;
ALTER TABLE proc_services ADD COLUMN IF NOT EXISTS credit_seq   bigint  NOT NULL DEFAULT 0;

ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS price bigint NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS proc_topups (
    id             uuid PRIMARY KEY,
    service_id     uuid        NOT NULL,
    amount         bigint      NOT NULL,
    reference      text        NOT NULL,
    balance_after  bigint      NOT NULL,
    credit_seq     bigint      NOT NULL,
    created_at     timestamptz NOT NULL
);

-- Read model of each service's credit, apart from its settings: credit events may be projected
-- before the service's creation (they come from other topics). The balance and the cut-off flag
-- each keep the value of the highest credit_seq seen.
CREATE TABLE IF NOT EXISTS service_credit (
    service_id   uuid PRIMARY KEY,
    balance      bigint  NOT NULL DEFAULT 0,
    credit_seq   bigint  NOT NULL DEFAULT 0,
    cut_off      boolean NOT NULL DEFAULT false,
    cut_off_seq  bigint  NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS ledger (
    id             uuid PRIMARY KEY,          -- the event id
    service_id     uuid        NOT NULL,
    type           text        NOT NULL,      -- debit | topup
    amount         bigint      NOT NULL,
    balance_after  bigint      NOT NULL,
    call_id        uuid,
    reference      text,
    credit_seq     bigint      NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_service ON ledger (service_id, created_at DESC, id DESC);
