-- Replicas as one platform (docs/scaling.md): who holds a directory, and the limits every
-- replica shares.

-- Each live process holding a directory (the accounts, services, keys and their credit status,
-- read from the broker: every API replica and every ingress worker): when it last reported, and
-- how far it has read each partition of the directory's topics ("topic:partition" -> next
-- offset). A write answered 2xx first waits until every live one holds it (api/fleet.py).
CREATE TABLE IF NOT EXISTS directory_replicas (
    id          uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    seen_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    positions   jsonb       NOT NULL DEFAULT '{}'
);

-- Sliding-window counters shared by every replica: the calls of an access key per second, the
-- panel's sign-in attempts. A window is counted in 20 slices plus the current one, so a count
-- covers at least the whole window: never more than the limit in any window, and at most a
-- twentieth of a window's calls refused early. Unlogged: a crash of PostgreSQL forgets the
-- last window's counts, and nothing else depends on them.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_slices (
    scope  text   NOT NULL,
    name   text   NOT NULL,
    slice  bigint NOT NULL,  -- milliseconds since the epoch / slice length
    n      int    NOT NULL,
    ends   bigint NOT NULL,  -- when it leaves the window (ms since the epoch): swept after
    PRIMARY KEY (scope, name, slice)
);

-- The calls the API let through to each (service, phone) within the phone rule's window. The
-- rule counts the calls the decisions did not reject (as the decisions do), so the API's 429
-- and the decisions' rate_limited are one rule.
CREATE UNLOGGED TABLE IF NOT EXISTS phone_takes (
    service_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    call_id     uuid        NOT NULL,
    taken_at    timestamptz NOT NULL,
    PRIMARY KEY (service_id, phone, call_id)
);
CREATE INDEX IF NOT EXISTS phone_takes_taken_at ON phone_takes (taken_at);
CREATE INDEX IF NOT EXISTS phone_takes_call ON phone_takes (call_id);

-- Take up to p_want of a window's p_limit for (p_scope, p_name); returns how many were granted
-- and, when fewer than asked, the milliseconds until the oldest counted takes are a window old
-- (the earliest more could be granted; the count lets them go at most a slice later).
-- One transaction per name at a time (an advisory lock of class 1), on PostgreSQL's clock.
CREATE OR REPLACE FUNCTION take_rate(
    p_scope text, p_name text, p_want int, p_limit int, p_window_ms bigint,
    OUT granted int, OUT wait_ms bigint
) LANGUAGE plpgsql AS $$
DECLARE
    slices    constant int := 20;
    slice_ms  bigint := greatest(1, p_window_ms / slices);
    now_ms    bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    now_slice bigint := now_ms / slice_ms;
    used      int;
    oldest    bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1, hashtext(p_scope || ' ' || p_name));
    DELETE FROM rate_slices
     WHERE scope = p_scope AND name = p_name AND slice < now_slice - slices;
    SELECT coalesce(sum(n), 0), min(slice) INTO used, oldest
      FROM rate_slices WHERE scope = p_scope AND name = p_name;
    granted := greatest(0, least(p_want, p_limit - used));
    IF granted > 0 THEN
        INSERT INTO rate_slices (scope, name, slice, n, ends)
        VALUES (p_scope, p_name, now_slice, granted, (now_slice + slices + 1) * slice_ms)
        ON CONFLICT (scope, name, slice) DO UPDATE SET n = rate_slices.n + excluded.n;
    END IF;
    wait_ms := CASE WHEN granted >= p_want THEN 0
                    ELSE greatest(1, (coalesce(oldest, now_slice) + slices) * slice_ms - now_ms)
               END;
END $$;

-- Give back one of the newest take of (p_scope, p_name) (a sign-in that succeeded).
CREATE OR REPLACE FUNCTION give_back_rate(p_scope text, p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1, hashtext(p_scope || ' ' || p_name));
    UPDATE rate_slices SET n = n - 1
     WHERE scope = p_scope AND name = p_name AND n > 0
       AND slice = (SELECT max(slice) FROM rate_slices
                     WHERE scope = p_scope AND name = p_name AND n > 0);
END $$;

-- The access key's rate, then the phone rule, for calls a key asks for together (in order);
-- decided_at is when (the calls' requests carry it: one clock for every replica's limits).
-- The first `granted` of them pass the key's rate; each of those gets 0 in phone_wait_ms if the
-- phone rule lets it through (its take is recorded), else the milliseconds until it would.
-- Phones are locked (class 2) in one global order, after the key's lock: two replicas never
-- wait for each other in a circle.
CREATE OR REPLACE FUNCTION take_calls(
    p_key text, p_key_limit int, p_service uuid, p_phones text[], p_calls uuid[],
    p_phone_limit int, p_phone_window_ms bigint,
    OUT granted int, OUT key_wait_ms bigint, OUT phone_wait_ms bigint[], OUT decided_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    now_at  timestamptz := clock_timestamp();
    since   timestamptz := now_at - make_interval(secs => p_phone_window_ms / 1000.0);
    lock_id int;
    used    int;
    oldest  timestamptz;
BEGIN
    SELECT t.granted, t.wait_ms INTO granted, key_wait_ms
      FROM take_rate('key-calls', p_key, cardinality(p_phones), p_key_limit, 1000) t;
    phone_wait_ms := '{}';
    decided_at := now_at;
    FOR lock_id IN
        SELECT DISTINCT hashtext(p_service::text || ' ' || p)
          FROM unnest(p_phones[1:granted]) AS p ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(2, lock_id);
    END LOOP;
    FOR i IN 1 .. granted LOOP
        SELECT count(*), min(t.taken_at) INTO used, oldest
          FROM phone_takes t LEFT JOIN proc_calls c ON c.id = t.call_id
         WHERE t.service_id = p_service AND t.phone = p_phones[i] AND t.taken_at > since
           AND t.call_id <> p_calls[i] AND c.status IS DISTINCT FROM 'rejected';
        IF used < p_phone_limit THEN
            INSERT INTO phone_takes (service_id, phone, call_id, taken_at)
            VALUES (p_service, p_phones[i], p_calls[i], now_at) ON CONFLICT DO NOTHING;
            phone_wait_ms := phone_wait_ms || 0::bigint;
        ELSE
            phone_wait_ms := phone_wait_ms || greatest(
                1, ceil(extract(epoch FROM oldest - since) * 1000)::bigint);
        END IF;
    END LOOP;
END $$;
