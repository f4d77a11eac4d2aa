-- The zone an account's exports and panel show times in (NULL: the platform's default).
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS time_zone text;
