-- Caller ranges as data, their health per network and their quarantines (docs/ranges.md).

-- The read model of the ranges (projected from the caller-ranges topic).
CREATE TABLE IF NOT EXISTS caller_ranges (
    id uuid PRIMARY KEY,
    pattern text NOT NULL UNIQUE,
    trunk text,
    destinations text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- Every quarantine of a range for a network; the open one has no released_at.
CREATE TABLE IF NOT EXISTS caller_range_quarantines (
    range_id uuid NOT NULL,
    network text NOT NULL,
    since timestamptz NOT NULL,
    until timestamptz NOT NULL,
    strikes int NOT NULL,
    dialled bigint NOT NULL,
    delivered bigint NOT NULL,
    baseline_ratio double precision NOT NULL,
    last_for_network boolean NOT NULL DEFAULT false,
    released_at timestamptz,
    PRIMARY KEY (range_id, network, since)
);

-- The decisions' record of where each call's number came from, and to which network.
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS range_id uuid;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS network text;
ALTER TABLE proc_calls ADD COLUMN IF NOT EXISTS trunk text;
-- Flash-call dials per range, network and 10-second bucket (of the outcome's time): counted
-- by the decisions with the outcome, exactly once; what the health rule is applied to. Each
-- database session counts in a row of its own (`slot`: its backend pid), so workers never
-- wait on each other's counts; readers sum the slots.
CREATE TABLE IF NOT EXISTS proc_range_outcomes (
    range_id uuid NOT NULL,
    network text NOT NULL,
    bucket timestamptz NOT NULL,
    slot int NOT NULL,
    dialled int NOT NULL,
    delivered int NOT NULL,
    PRIMARY KEY (range_id, network, bucket, slot)
);
CREATE INDEX IF NOT EXISTS proc_range_outcomes_network ON proc_range_outcomes (network, bucket);
-- The judge's state of a range for a network (no row: healthy, never judged): quarantined
-- until `until`, or (until null) released at `counted_from`, from which its own outcomes count
-- again (those of its quarantine must not quarantine it again).
CREATE TABLE IF NOT EXISTS proc_range_states (
    range_id uuid NOT NULL,
    network text NOT NULL,
    since timestamptz NOT NULL,
    until timestamptz,
    strikes int NOT NULL,
    counted_from timestamptz,
    PRIMARY KEY (range_id, network)
);

-- The network each call went to (reports, exports, summaries).
ALTER TABLE calls ADD COLUMN IF NOT EXISTS network text;
