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
