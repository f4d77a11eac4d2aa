-- Read models (projections) and processor state. Every writer stores what it consumed in
-- consumed_offsets in the same transaction as its rows, and skips what it has seen.

CREATE TABLE IF NOT EXISTS consumed_offsets (
    consumer     text   NOT NULL,
    topic        text   NOT NULL,
    partition    int    NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- Event ids each consumer has applied: a duplicate published under another offset (an outbox
-- row sent twice, a replayed topic) is recognised and skipped.
CREATE TABLE IF NOT EXISTS applied_events (
    consumer  text NOT NULL,
    event_id  uuid NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- ---------------------------------------------------------------- projections (read models)
CREATE TABLE IF NOT EXISTS accounts (
    id              uuid PRIMARY KEY,
    name            text        NOT NULL,
    token_hash      text        NOT NULL UNIQUE,
    price_per_call  bigint      NOT NULL,
    credit_limit    bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS services (
    id                uuid PRIMARY KEY,
    account_id        uuid        NOT NULL,
    name              text        NOT NULL,
    code_length       int         NOT NULL,
    code_ttl_minutes  int         NOT NULL,
    return_code       boolean     NOT NULL,
    status            text        NOT NULL,
    balance           bigint      NOT NULL DEFAULT 0,
    credit_limit      bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS services_account ON services (account_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS access_keys (
    id            uuid PRIMARY KEY,
    service_id    uuid        NOT NULL,
    account_id    uuid        NOT NULL,
    label         text        NOT NULL,
    prefix        text        NOT NULL,
    key_hash      text        NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS access_keys_service ON access_keys (service_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS calls (
    id               uuid PRIMARY KEY,
    service_id       uuid,
    account_id       uuid,
    key_id           uuid,
    phone            text,
    caller_number    text,
    code_length      int,
    attempt          int,
    retry_of         uuid,
    -- Events of one call come from three topics in any order: every event upserts its own
    -- columns (so most are nullable), and the status only moves to a higher rank
    -- (queued 0, dialing 1, delivered 2, finished 3).
    status           text        NOT NULL,
    status_rank      int         NOT NULL,
    failure_reason   text,
    price_per_call   bigint,
    cost             bigint      NOT NULL DEFAULT 0,
    verify_attempts  int         NOT NULL DEFAULT 0,
    created_at       timestamptz,
    dialed_at        timestamptz,
    delivered_at     timestamptz,
    expires_at       timestamptz,
    verified_at      timestamptz,
    expired_at       timestamptz
);
CREATE INDEX IF NOT EXISTS calls_account_created ON calls (account_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS calls_service_created ON calls (service_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS calls_retry_of ON calls (retry_of);
CREATE INDEX IF NOT EXISTS calls_key_created ON calls (key_id, created_at DESC, id DESC);

-- ------------------------------------------------------------- processor state (decisions)
CREATE TABLE IF NOT EXISTS proc_services (
    id                uuid PRIMARY KEY,
    account_id        uuid NOT NULL,
    status            text NOT NULL,
    code_ttl_minutes  int  NOT NULL
);

CREATE TABLE IF NOT EXISTS proc_calls (
    id               uuid PRIMARY KEY,
    service_id       uuid        NOT NULL,
    phone            text        NOT NULL,
    chain_root       uuid        NOT NULL,
    attempt          int         NOT NULL,
    caller_number    text        NOT NULL,
    code_length      int         NOT NULL,
    status           text        NOT NULL,
    requested_at     timestamptz NOT NULL,
    expires_at       timestamptz,
    verify_attempts  int         NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS proc_calls_phone ON proc_calls (service_id, phone, requested_at);
CREATE INDEX IF NOT EXISTS proc_calls_chain ON proc_calls (chain_root);
-- Expiry looks only at delivered codes, in expiry order: never a scan of all calls.
CREATE INDEX IF NOT EXISTS proc_calls_expiring ON proc_calls (expires_at) WHERE status = 'delivered';

-- Events decided in a transaction, published after it commits (transactional outbox).
CREATE TABLE IF NOT EXISTS outbox (
    id          bigserial PRIMARY KEY,
    topic       text  NOT NULL,
    key         bytea NOT NULL,
    value       bytea NOT NULL,
    event_type  text  NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- ---------------------------------------------------------------------------------- dialer
-- A call id is dialled at most once, whatever is redelivered.
CREATE TABLE IF NOT EXISTS dials (
    call_id     uuid PRIMARY KEY,
    service_id  uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    outcome     text
);

CREATE TABLE IF NOT EXISTS sim_handset_calls (
    call_id        uuid PRIMARY KEY,
    phone          text        NOT NULL,
    caller_number  text        NOT NULL,
    rang_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sim_handset_calls_phone ON sim_handset_calls (phone, rang_at DESC);

-- -------------------------------------------------------------------------------------- api
-- First responses of management POSTs with an Idempotency-Key (kept 24 h).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope       text        NOT NULL,
    key         text        NOT NULL,
    body_hash   text        NOT NULL,
    status      int         NOT NULL,
    response    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
