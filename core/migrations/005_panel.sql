-- The web panel's own state, written by the API (not events: passwords and sessions stay out
-- of the topics analysts read). An account's facts still come only from its events.
CREATE TABLE IF NOT EXISTS panel_users (
    email          text        PRIMARY KEY,  -- lower-cased
    account_id     uuid        NOT NULL UNIQUE,
    password_hash  text        NOT NULL,     -- argon2id, with its parameters
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser: the cookie holds the token, the table only its SHA-256.
CREATE TABLE IF NOT EXISTS panel_sessions (
    token_hash  text        PRIMARY KEY,
    account_id  uuid,                        -- null for the operator's session
    operator    boolean     NOT NULL DEFAULT false,
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS panel_sessions_expires ON panel_sessions (expires_at);
