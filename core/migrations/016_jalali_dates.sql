-- The Jalali (Solar Hijri) date of every Gregorian day from 1990 to 2100, for report exports
-- written by PostgreSQL itself (COPY, in the account's zone): the arithmetic of jdatetime's
-- converter (jalali_core.GregorianToJalali) — 33-year cycles counted from 1600-01-01 —
-- computed once, set-based, here. tests/integration/test_report_export.py compares every
-- day with jdatetime.
CREATE TABLE IF NOT EXISTS jalali_days (
    day     date PRIMARY KEY,
    jalali  text NOT NULL  -- 'YYYY/MM/DD'
);
INSERT INTO jalali_days (day, jalali)
SELECT g.day::date,
       lpad(c.jy::text, 4, '0') || '/'
       || lpad((CASE WHEN c.doy < 186 THEN c.doy / 31 + 1 ELSE (c.doy - 186) / 30 + 7 END)::text,
               2, '0') || '/'
       || lpad((CASE WHEN c.doy < 186 THEN c.doy % 31 + 1 ELSE (c.doy - 186) % 30 + 1 END)::text,
               2, '0')
FROM generate_series(date '1990-01-01', date '2100-12-31', interval '1 day') AS g(day)
CROSS JOIN LATERAL (SELECT (g.day::date - date '1600-01-01') - 79 AS n) AS a
CROSS JOIN LATERAL (SELECT 979 + 33 * (a.n / 12053) + 4 * ((a.n % 12053) / 1461) AS jy,
                           (a.n % 12053) % 1461 AS r) AS b
CROSS JOIN LATERAL (SELECT CASE WHEN b.r >= 366 THEN b.jy + (b.r - 1) / 365 ELSE b.jy END AS jy,
                           CASE WHEN b.r >= 366 THEN (b.r - 1) % 365 ELSE b.r END AS doy) AS c
ON CONFLICT (day) DO NOTHING;
ANALYZE jalali_days;
