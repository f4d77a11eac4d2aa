-- The account-wide credit limit (docs/billing.md): the sum of an account's service balances,
-- reservations counted, never goes below -total_credit_limit.

-- The decisions processor's view of each account: the sums of its services' balances and
-- reservations, kept in step with proc_services in the same transactions, under this row's
-- lock (taken before any of the account's service rows). total_limit NULL: the platform's
-- default (FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT).
CREATE TABLE IF NOT EXISTS proc_accounts (
    id           uuid PRIMARY KEY,
    total_limit  bigint,
    balance      bigint  NOT NULL DEFAULT 0,
    reserved     bigint  NOT NULL DEFAULT 0,
    last_price   bigint,
    cut_off      boolean NOT NULL DEFAULT false,
    low          boolean NOT NULL DEFAULT false,
    credit_seq   bigint  NOT NULL DEFAULT 0
);
INSERT INTO proc_accounts (id, balance, reserved, last_price)
SELECT account_id, sum(balance), sum(reserved), max(last_price)
FROM proc_services GROUP BY account_id
ON CONFLICT (id) DO NOTHING;

-- Read models: the operator's setting, and the account's cut-off flag at its highest
-- credit_seq (status events may be projected before the account's creation).
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS total_credit_limit bigint;
CREATE TABLE IF NOT EXISTS account_credit (
    account_id   uuid PRIMARY KEY,
    cut_off      boolean NOT NULL DEFAULT false,
    cut_off_seq  bigint  NOT NULL DEFAULT 0
);
