"""Call reports over HTTP: filters, paging, CSV and Excel downloads, summaries, privacy."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
import openpyxl
import pytest

from tests.conftest import TTL_MINUTE
from tests.support.client import Api, assert_problem, bearer, random_phone

FORMULA_LABEL = '=HYPERLINK("http://x")'


@pytest.fixture(scope="module")
def book(api: Api) -> dict[str, Any]:
    """An account with two services and two keys, and calls with every kind of ending."""
    account = api.new_account()
    token = account["token"]
    main = api.new_service(token, name="main")
    short = api.new_service(token, name="short", code_ttl_minutes=1)
    k1 = api.new_key(token, main["id"], label="backend")
    k2 = api.new_key(token, main["id"], label=FORMULA_LABEL)
    ks = api.new_key(token, short["id"], label="short")
    verified_phone = random_phone()
    calls = {
        "verified": api.place(k1["key"], verified_phone),
        "delivered": api.place(k1["key"], random_phone()),
        "failed": api.place(k2["key"], random_phone("1111")),
        "expired": api.place(ks["key"], random_phone()),
    }
    api.wait_status(k1["key"], calls["verified"]["id"], {"delivered"})
    code = api.code_for(verified_phone, 5)
    assert api.verify(k1["key"], calls["verified"]["id"], code)["verified"]
    for status, call in calls.items():
        key = ks["key"] if status == "expired" else k1["key"]
        api.wait_status(key, call["id"], {status}, timeout=TTL_MINUTE + 20)
    return {
        "token": token,
        "main": main,
        "short": short,
        "k1": k1,
        "k2": k2,
        "ks": ks,
        "calls": calls,
        "verified_phone": verified_phone,
    }


def rows(api: Api, token: str, **query: Any) -> list[dict[str, Any]]:
    """Every row of the report for `query`, following the cursor."""
    found, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.http.get("/v1/reports/calls", params=params, headers=bearer(token)))
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def ids(found: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in found}


def test_every_call_with_full_details_newest_first(api: Api, book: dict[str, Any]) -> None:
    found = rows(api, book["token"])
    assert ids(found) == {c["id"] for c in book["calls"].values()}
    assert [r["created_at"] for r in found] == sorted(
        (r["created_at"] for r in found), reverse=True
    )
    by_status = {r["status"]: r for r in found}
    verified = by_status["verified"]
    assert verified["key_label"] == "backend" and verified["verify_attempts"] == 1
    assert verified["caller_number"].startswith("+98") and verified["cost"] == 1000
    assert verified["delivered_at"] and verified["verified_at"] and verified["dialed_at"]
    assert by_status["expired"]["expired_at"] and by_status["expired"]["caller_number"]
    assert by_status["failed"]["failure_reason"] == "busy" and by_status["failed"]["cost"] == 0
    assert by_status["delivered"]["caller_number"] is None  # the code is still live
    # ... but its caller prefix is shown from the start: it never holds the code.
    caller = verified["caller_number"]
    assert verified["caller_prefix"] == caller[:-5] and verified["code_length"] == 5
    assert len(by_status["delivered"]["caller_prefix"]) == len(caller) - 5


def test_filters(api: Api, book: dict[str, Any]) -> None:
    token, calls = book["token"], book["calls"]
    assert ids(rows(api, token, service_id=book["short"]["id"])) == {calls["expired"]["id"]}
    assert ids(rows(api, token, key_id=book["k2"]["id"])) == {calls["failed"]["id"]}
    assert ids(rows(api, token, status="verified")) == {calls["verified"]["id"]}
    assert ids(rows(api, token, phone=book["verified_phone"])) == {calls["verified"]["id"]}
    national = "0" + book["verified_phone"][3:]
    assert ids(rows(api, token, phone=national)) == {calls["verified"]["id"]}
    first = min(c["created_at"] for c in calls.values())
    assert ids(rows(api, token, to=first)) == set()
    assert len(rows(api, token, **{"from": first})) == 4
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert rows(api, token, **{"from": later}) == []
    for bad in (
        {"status": "lost"},
        {"from": "yesterday"},
        {"from": "2026-11-29"},  # a date alone
        {"to": "0.5"},  # not a Unix time
        {"from": "2026-11-29T08:00:00"},  # no offset
        {"limit": 1001},
        {"limit": 0},
        {"cursor": "garbage"},
    ):
        response = api.http.get("/v1/reports/calls", params=bad, headers=bearer(token))
        assert_problem(response, 422, "invalid_request")
    response = api.http.get("/v1/reports/calls", params={"phone": "12"}, headers=bearer(token))
    assert_problem(response, 400, "invalid_phone")
    backwards = {"from": "2026-11-29T08:00:00Z", "to": "2026-11-29T07:00:00Z"}
    for path in ("/v1/reports/calls", "/v1/reports/summary", "/v1/reports/calls.csv"):
        response = api.http.get(path, params=backwards, headers=bearer(token))
        assert_problem(response, 400, "invalid_time_range")


def test_paging_neither_repeats_nor_skips_while_calls_arrive(api: Api) -> None:
    tenant = api.tenant()
    before = [api.place(tenant.key, random_phone("1111"))["id"] for _ in range(7)]
    for cid in before:
        api.wait_status(tenant.key, cid, {"failed"})
    seen: list[str] = []
    page = api.ok(api.http.get("/v1/reports/calls?limit=3", headers=bearer(tenant.token)))
    while True:
        seen += [r["id"] for r in page["items"]]
        api.place(tenant.key, random_phone("1111"))  # a new call lands between pages
        if page["next_cursor"] is None:
            break
        page = api.ok(
            api.http.get(
                "/v1/reports/calls",
                params={"limit": 3, "cursor": page["next_cursor"]},
                headers=bearer(tenant.token),
            )
        )
    assert sorted(seen) == sorted(before) and len(seen) == len(set(seen))


def parse_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_download(api: Api, book: dict[str, Any]) -> None:
    table = parse_csv(api.http.get("/v1/reports/calls.csv", headers=bearer(book["token"])))
    header, body = table[0], table[1:]
    assert header[:3] == ["id", "service_id", "key_id"]
    assert {r[0] for r in body} == {c["id"] for c in book["calls"].values()}
    labels = {r[header.index("key_label")] for r in body}
    assert "'" + FORMULA_LABEL in labels and FORMULA_LABEL not in labels
    phones = {r[header.index("phone")] for r in body}
    assert book["verified_phone"] in phones  # a number: not neutralised
    only = parse_csv(
        api.http.get(
            "/v1/reports/calls.csv", params={"status": "failed"}, headers=bearer(book["token"])
        )
    )
    assert [r[0] for r in only[1:]] == [book["calls"]["failed"]["id"]]


def test_persian_headings_and_jalali_dates(api: Api, book: dict[str, Any]) -> None:
    table = parse_csv(
        api.http.get(
            "/v1/reports/calls.csv",
            params={"lang": "fa", "calendar": "jalali"},
            headers=bearer(book["token"]),
        )
    )
    header = table[0]
    assert header[0] == "شناسه تماس" and "وضعیت" in header
    statuses = {r[header.index("وضعیت")] for r in table[1:]}
    assert statuses == {"تأیید شده", "زنگ خورد", "ناموفق", "منقضی شده"}
    created = table[1][header.index("زمان درخواست (Asia/Tehran)")]
    assert created.startswith("14") and created[4] == "/"  # the Jalali year, 14xx


def test_excel_download(api: Api, book: dict[str, Any]) -> None:
    response = api.http.get("/v1/reports/calls.xlsx", headers=bearer(book["token"]))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = table[0]
    assert {r[0] for r in table[1:]} == {c["id"] for c in book["calls"].values()}
    assert "'" + FORMULA_LABEL in {r[header.index("key_label")] for r in table[1:]}


def test_persian_excel_reads_right_to_left_with_date_cells(api: Api, book: dict[str, Any]) -> None:
    response = api.http.get(
        "/v1/reports/calls.xlsx", params={"lang": "fa"}, headers=bearer(book["token"])
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook.active
    assert sheet is not None and sheet.title == "تماس‌ها" and sheet.sheet_view.rightToLeft
    header = [c.value for c in sheet[1]]
    assert sheet.cell(1, 1).font.bold and sheet.column_dimensions["A"].width >= 30
    created = sheet.cell(2, header.index("زمان درخواست (Asia/Tehran)") + 1)
    assert isinstance(created.value, datetime) and created.number_format.startswith("yyyy")
    # In CSV, Excel would read +989121234567 as 9.89E+11: the Persian export keeps it text.
    table = parse_csv(
        api.http.get("/v1/reports/calls.csv", params={"lang": "fa"}, headers=bearer(book["token"]))
    )
    phones = {r[table[0].index("شماره تلفن")] for r in table[1:]}
    assert "\u200e" + book["verified_phone"] in phones


def test_summary_adds_up_to_the_list(api: Api, book: dict[str, Any]) -> None:
    summary = api.ok(
        api.http.get(
            "/v1/reports/summary", params={"bucket": "hour"}, headers=bearer(book["token"])
        )
    )
    totals: Counter[str] = Counter()
    for b in summary["buckets"]:
        for name in ("requested", "delivered", "failed", "rejected", "verified", "expired", "cost"):
            totals[name] += b[name]
    found = rows(api, book["token"])
    assert totals["requested"] == len(found) == 4
    assert totals["delivered"] == sum(r["delivered_at"] is not None for r in found) == 3
    assert totals["verified"] == totals["expired"] == totals["failed"] == 1
    assert totals["cost"] == sum(r["cost"] for r in found) == 3000
    for b in summary["buckets"]:
        expected = round(b["verified"] / b["delivered"], 4) if b["delivered"] else None
        assert b["conversion"] == expected
    by_day = api.ok(api.http.get("/v1/reports/summary", headers=bearer(book["token"])))
    assert sum(b["requested"] for b in by_day["buckets"]) == 4
    # Days of the account's zone (Asia/Tehran, the platform's default), offset included.
    assert by_day["buckets"] and all(
        b["start"].endswith("T00:00:00+03:30") for b in by_day["buckets"]
    ), by_day


def test_reports_are_private(api: Api, book: dict[str, Any]) -> None:
    stranger = bearer(api.new_account()["token"])
    assert api.ok(api.http.get("/v1/reports/calls", headers=stranger))["items"] == []
    for query in (
        {"service_id": book["main"]["id"]},
        {"key_id": book["k1"]["id"]},
        {"service_id": str(uuid.uuid4())},
    ):
        for path in ("/v1/reports/calls", "/v1/reports/calls.csv", "/v1/reports/summary"):
            assert_problem(api.http.get(path, params=query, headers=stranger), 404, "not_found")
    key = bearer(book["k1"]["key"])
    for path in (
        "/v1/reports/calls",
        "/v1/reports/calls.csv",
        "/v1/reports/calls.xlsx",
        "/v1/reports/summary",
    ):
        assert_problem(api.http.get(path, headers=key), 403, "forbidden")


def test_exports_show_times_in_the_accounts_time_zone(api: Api) -> None:
    """The API stays in UTC; exports (and the panel) use the account's zone, and say which."""
    for zone, offset in (("Asia/Tehran", "+03:30"), ("Europe/London", None)):
        account = api.new_account(time_zone=zone) if zone != "Asia/Tehran" else api.new_account()
        assert account["time_zone"] == zone  # Asia/Tehran: the platform's default
        service = api.new_service(account["token"])
        key = api.new_key(account["token"], service["id"])
        call = api.place(key["key"], random_phone())
        assert call["created_at"].endswith("Z") or call["created_at"].endswith("+00:00")
        api.wait_status(key["key"], call["id"], {"delivered"})
        csv = api.http.get(
            "/v1/reports/calls.csv", headers=bearer(account["token"]), params={"calendar": "jalali"}
        )
        header, row, *_ = csv.content.decode("utf-8-sig").splitlines()
        assert f"created_at ({zone})" in header
        local = datetime.fromisoformat(call["created_at"].replace("Z", "+00:00")).astimezone(
            ZoneInfo(zone)
        )
        jalali = jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d %H:%M")
        assert jalali in row, (jalali, row)
        if offset:
            gregorian = api.http.get("/v1/reports/calls.csv", headers=bearer(account["token"]))
            assert offset in gregorian.content.decode("utf-8-sig").splitlines()[1]
    r = api.http.post(
        "/v1/accounts", json={"name": "x", "time_zone": "Mars/Olympus"}, headers=api.admin
    )
    assert_problem(r, 422, "invalid_request")
