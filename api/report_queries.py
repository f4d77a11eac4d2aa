"""The SQL the call reports run: a page of the report, and the COPY that writes an export's
rows (CSV, or the Excel sheet's XML) in the account's zone. The rows' own SQL is the report's
(projections/call_report.py) and each column's rendering the exports' (api/report_export.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg_pool import AsyncConnectionPool

from api.report_export import Formatter
from front_door import queries
from projections import call_steps
from projections.call_report import REPORT, ReportFilter

# An export's rows, newest first, in its account's zone (the transaction's TimeZone).
NEWEST_FIRST = " ORDER BY created_at DESC, id DESC"
# An export's transaction: times in the account's zone (TimeZone). Its rows are read along an
# index in the order they are written (calls_account_created and its kin), not scanned and
# sorted: the planner's default random_page_cost (4, for spinning disks) chose a scan of the
# whole table and a sort on disk for three days of 10,000,000 calls, 1.3-1.4 times as long.
# No JIT: compiling the rows' expressions took 1.3 s of an export and gained nothing.
EXPORT_SETTINGS = (
    "SELECT set_config('TimeZone', %s, true), set_config('random_page_cost', '1.1', true),"
    " set_config('jit', 'off', true)"
)


async def page(
    pool: AsyncConnectionPool, report: ReportFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    where, params = report.where()
    rows, next_cursor = await queries.fetch_page(
        pool, f"SELECT * FROM {REPORT}{where}", params, cursor, limit
    )
    return [{**r, "steps": call_steps.listed(r["steps"])} for r in rows], next_cursor


async def csv_rows(
    pool: AsyncConnectionPool, report: ReportFilter, formatter: Formatter
) -> AsyncIterator[Buffer]:
    """The report's CSV rows, newest first, as PostgreSQL's COPY hands them over (about a row
    a chunk)."""
    source, params = newest_first(report)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(EXPORT_SETTINGS, (formatter.zone_name,))
        sql = f"COPY ({formatter.csv_select(source)}) TO STDOUT (FORMAT csv)"
        async with conn.cursor().copy(sql, params) as copy:
            async for chunk in copy:
                yield chunk


@contextmanager
def sheet_rows(
    database_url: str, report: ReportFilter, formatter: Formatter
) -> Iterator[Iterator[Buffer]]:
    """The report's rows as the Excel sheet's XML, newest first, from a connection of their
    own (the workbook is written in a thread)."""
    source, params = newest_first(report)
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(EXPORT_SETTINGS, (formatter.zone_name,))
        sql = f"COPY ({formatter.sheet_select(source)}) TO STDOUT"
        with conn.cursor().copy(sql, params) as copy:
            yield iter(copy)


def newest_first(report: ReportFilter) -> tuple[str, list[Any]]:
    """The report's rows in export order, as a subquery for an export's SELECT. Its ORDER BY
    keeps the subquery from being merged into the SELECT, so each row is formatted after it is
    sorted: a sort that had to carry the formatted rows (the sheet's XML: about 650 bytes a
    row) spilled them to disk, and an export of 900,000 rows took 1.3-1.6 times as long."""
    where, params = report.where()
    return f"(SELECT * FROM {REPORT}{where}{NEWEST_FIRST})", params
