-- Test numbers (TestNumberAdded/Removed, projected): per service, at most 20 (the API's rule).
CREATE TABLE IF NOT EXISTS test_numbers (
    id         uuid        NOT NULL,  -- derived from (service, phone): pages' keyset
    service_id uuid        NOT NULL,
    phone      text        NOT NULL,
    code       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (service_id, phone)
);
-- A call to a test number (CallRequested.test): shown as such in reports and exports. Set by
-- the request (null until it is projected: a call's first value wins, like its other columns).
ALTER TABLE calls ADD COLUMN IF NOT EXISTS test boolean;
-- The decisions' record of a test call: the phone's hourly window counts no test call.
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS test boolean NOT NULL DEFAULT false;
