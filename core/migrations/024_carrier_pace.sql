-- Carriers' pacing (processors/sip/pacing.py): when the next call (or message) of each SIP
-- trunk and of the SMS gateway may start, one schedule for every dialer worker, so that the
-- platform as a whole keeps a trunk's calls per second (FLASHCALL_SIP_CPS) and the gateway's
-- (FLASHCALL_KANNEL_CPS), however many workers dial.
CREATE TABLE IF NOT EXISTS carrier_pace (
    pacer text PRIMARY KEY,
    next_at timestamptz NOT NULL
);

-- Each trunk's dialogs in progress (processors/sip/slots.py), a row per dialer worker that
-- holds some, renewed while it does: FLASHCALL_SIP_MAX_CONCURRENT counts them all together.
CREATE TABLE IF NOT EXISTS carrier_dialogs (
    pacer text NOT NULL,
    holder uuid NOT NULL,
    held int NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (pacer, holder)
);

-- Count one more dialog for `holder` (who holds `held` now) if the live holders' total stays
-- within `max_held`: under an advisory lock of the trunk, so two workers never both take the
-- last one; the total is read after the lock is held (a statement of its own, in a function:
-- a new snapshot under READ COMMITTED). True if taken.
CREATE OR REPLACE FUNCTION carrier_take_dialog(
    trunk text, taker uuid, held int, lease_seconds float8, max_held int
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    others bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('dialogs:' || trunk, 0));
    SELECT coalesce(sum(d.held), 0) INTO others FROM carrier_dialogs d
     WHERE d.pacer = trunk AND d.holder <> taker
       AND d.seen_at > clock_timestamp() - make_interval(secs => lease_seconds);
    IF others + held >= max_held THEN
        RETURN false;
    END IF;
    INSERT INTO carrier_dialogs AS d (pacer, holder, held, seen_at)
    VALUES (trunk, taker, held + 1, clock_timestamp())
    ON CONFLICT (pacer, holder) DO UPDATE SET held = EXCLUDED.held, seen_at = EXCLUDED.seen_at;
    RETURN true;
END
$$;
