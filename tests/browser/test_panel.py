"""The panel in a real browser: a customer signs up, creates a service, issues a key, verifies a
number on the test page through the simulated handset, finds the call in the report and its
downloads, and sees the debit on the credit page; in Persian and in English."""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jdatetime
import psycopg
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from api.panel.i18n import Lang, Words, digits
from core.settings import DEV_ADMIN_TOKEN
from launch.platform import Platform
from tests.browser import accessibility
from tests.support.client import Api, bearer, random_phone
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
TIMEZONE = "Asia/Tehran"  # FLASHCALL_PANEL_TIMEZONE's default


def shoot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=shots / f"{name}.png", full_page=True, animations="disabled")


def check_page(page: Page) -> None:
    assert accessibility.problems(page) == []


def sign_up(page: Page, lang: Lang, email: str) -> str:
    """Sign up in `lang`; returns the API token shown once."""
    page.goto("/panel/sign-up")
    if lang == "en":
        page.get_by_role("link", name="English").click()
    words = Words(lang, "UTC")
    page.get_by_label(words.t("field.name")).fill(f"Acme {lang}")
    page.get_by_label(words.t("field.email")).fill(email)
    page.get_by_label(words.t("field.password")).fill(PASSWORD)
    page.get_by_role("button", name=words.t("sign_up")).click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("fca_")
    return token


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_a_customer_verifies_a_number_and_sees_it_in_reports_and_credit(
    panel: Page, lang: Lang, shots: Path
) -> None:
    page = panel
    w = Words(lang, "UTC")
    sign_up(page, lang, f"{uuid.uuid4().hex[:10]}@example.com")
    assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "fa" else "ltr")
    shoot(page, shots, f"{lang}-account-token")
    page.get_by_role("link", name=w.t("account.continue")).click()

    # A service.
    page.get_by_label(w.t("service.name")).fill("ورود" if lang == "fa" else "login")
    page.get_by_label(w.t("service.code_length")).fill("5")
    page.get_by_label(w.t("service.ttl")).fill("60")
    check_page(page)
    page.get_by_role("button", name=w.t("services.create")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "ورود" if lang == "fa" else "login"
    )

    # A key, shown once, handed to the test page.
    page.get_by_label(w.t("keys.label")).fill("web")
    page.get_by_role("button", name=w.t("keys.issue")).click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("fck_")
    check_page(page)
    shoot(page, shots, f"{lang}-service")
    page.get_by_role("link", name=w.t("keys.test")).click()
    expect(page.get_by_label(w.t("test.key"))).to_have_value(key)

    # The test page: get a code, read the simulated handset's missed call, type the digits.
    phone = random_phone()
    page.get_by_label(w.t("test.phone")).fill(phone)
    page.get_by_role("button", name=w.t("test.get_code")).click()
    handset = page.locator("#handset")
    expect(handset).to_be_visible()
    caller = page.locator("#caller-number").inner_text()
    assert re.fullmatch(r"\+98\d{10,}", caller), caller
    page.get_by_label(w.t("test.code")).fill(caller[-5:])
    page.get_by_role("button", name=w.t("test.verify")).click()
    expect(page.locator("#verify-result")).to_have_text(w.t("test.verified"))
    details = page.locator("#call-details")
    expect(details).to_contain_text(w.word("verified"))  # in the panel's words, like a report
    expect(details).to_contain_text(w.money(1000))
    if lang == "fa":
        expect(details).to_contain_text(w.toman(1000))
        expect(details).to_contain_text("۱۴")  # a Jalali year, in Persian digits
        expect(details).not_to_contain_text("created_at")
    check_page(page)
    shoot(page, shots, f"{lang}-test-service")

    # The report holds the call, with its caller number now that it is finished; so do the
    # downloads of the filtered rows.
    page.get_by_role("link", name=w.t("nav.reports")).click()
    page.get_by_label(w.t("reports.phone")).fill(phone)
    # Today, as a Persian user types it (Jalali, Persian digits) or from the date picker.
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    jalali = jdatetime.date.fromgregorian(date=today).strftime("%Y/%m/%d")
    typed = digits(jalali, "fa") if lang == "fa" else today.isoformat()
    page.get_by_label(w.t("reports.from")).fill(typed)
    if lang == "fa":  # the Jalali date picker's "today"
        page.get_by_label(w.t("reports.to")).click()
        expect(page.locator("jdp-container")).to_be_visible()
        shoot(page, shots, "fa-reports-date-picker")
        page.locator(".jdp-btn-today").click()
        expect(page.get_by_label(w.t("reports.to"))).to_have_value(jalali)
    else:
        page.get_by_label(w.t("reports.to")).fill(typed)
    page.get_by_role("button", name=w.t("reports.apply")).click()
    row = page.locator("#calls tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(w.word("verified"))
    expect(row).to_contain_text(caller)
    expect(page.locator("#chart svg")).to_have_count(1)
    if lang == "fa":  # the chart's axis counts in Persian digits too
        axis = page.locator("#chart .ct-label.ct-vertical").all_inner_texts()
        assert axis and not any(re.search(r"[0-9]", label) for label in axis), axis
    check_page(page)
    shoot(page, shots, f"{lang}-reports")
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert len(rows) == 2 and phone in [cell.lstrip("\u200e") for cell in rows[1]]
    with page.expect_download() as download:
        page.locator("#download-xlsx").click()
    workbook_path = download.value.path().rename(download.value.path().with_suffix(".xlsx"))
    sheet = load_workbook(workbook_path, read_only=True).active
    assert sheet is not None
    assert any(phone in row for row in sheet.iter_rows(values_only=True))

    # The credit page shows the one debit.
    page.get_by_role("link", name=w.t("nav.credit")).click()
    debits = page.locator("#ledger tbody tr.debit")
    expect(debits).to_have_count(1)
    expect(debits).to_contain_text(w.money(1000))
    expect(page.locator("#total-balance")).to_have_text(w.money(-1000))
    check_page(page)
    shoot(page, shots, f"{lang}-credit")
    # The debit's reference is its call, opened on its own page.
    debits.get_by_role("link", name=w.t("test.details")).click()
    expect(page.locator("#call-details")).to_contain_text(w.word("verified"))
    check_page(page)


def test_language_choice_is_remembered(panel: Page) -> None:
    panel.goto("/panel/sign-in")
    assert panel.locator("html").get_attribute("lang") == "fa"
    panel.get_by_role("link", name="English").click()
    panel.goto("/panel/sign-up")
    assert panel.locator("html").get_attribute("lang") == "en"
    assert panel.locator("html").get_attribute("dir") == "ltr"


def test_another_accounts_pages_answer_404(
    platform: Platform, browser: Browser, panel: Page
) -> None:
    sign_up(panel, "en", f"{uuid.uuid4().hex[:10]}@example.com")
    panel.goto("/panel/services")
    panel.get_by_label("Service name").fill("theirs")
    panel.get_by_label("Code length (4 to 8 digits)").fill("4")
    panel.get_by_label("Code validity (minutes, 1 to 60)").fill("5")
    panel.get_by_role("button", name="Create a service").click()
    service_url = panel.url
    service_id = service_url.rsplit("/", 1)[1]

    other = browser.new_context(base_url=platform.url).new_page()
    sign_up(other, "en", f"{uuid.uuid4().hex[:10]}@example.com")
    for path in (
        f"/panel/services/{service_id}",
        f"/panel/credit?service_id={service_id}",
        f"/panel/reports?service_id={service_id}",
        f"/panel/reports/calls.csv?service_id={service_id}",
        f"/panel/test/handset/{uuid.uuid4()}",
        f"/panel/test/calls/{uuid.uuid4()}",
        "/panel/no-such-page",
    ):
        response = other.goto(path)
        assert response is not None and response.status == 404, path
        assert "text/html" in response.headers["content-type"], path
    other.context.close()


def test_every_control_is_labelled_and_keyboard_reachable(panel: Page, shots: Path) -> None:
    panel.set_viewport_size({"width": 390, "height": 844})  # a phone
    panel.goto("/panel/sign-in")
    check_page(panel)
    assert accessibility.tab_reaches(panel, "#email")
    assert accessibility.tab_reaches(panel, "button[type=submit]")
    shoot(panel, shots, "fa-sign-in-phone")
    sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    panel.goto("/panel/services")
    assert accessibility.tab_reaches(panel, "a[href='/panel/reports']")
    check_page(panel)
    shoot(panel, shots, "fa-services-phone")


def test_operator_console_tops_up_a_service(
    platform: Platform, browser: Browser, panel: Page, shots: Path
) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    sign_up(panel, "en", email)
    panel.goto("/panel/services")
    panel.get_by_label("Service name").fill("topped")
    panel.get_by_label("Code length (4 to 8 digits)").fill("6")
    panel.get_by_label("Code validity (minutes, 1 to 60)").fill("5")
    panel.get_by_role("button", name="Create a service").click()
    service_id = panel.url.rsplit("/", 1)[1]

    operator = browser.new_context(base_url=platform.url).new_page()
    operator.goto("/panel/operator")  # sends the operator to sign in first
    operator.get_by_role("link", name="English").click()
    operator.get_by_label("Operator token").fill("wrong")
    operator.get_by_role("button", name="Sign in").click()
    expect(operator.get_by_role("alert")).to_have_text("Wrong operator token.")
    operator.get_by_label("Operator token").fill(DEV_ADMIN_TOKEN)
    operator.get_by_role("button", name="Sign in").click()
    operator.locator("#accounts tr", has_text=email).get_by_role("link").click()
    check_page(operator)
    shoot(operator, shots, "en-operator-account")
    amount = operator.get_by_label("Amount (rials)")
    amount.press_sequentially("25000")
    expect(amount).to_have_value("25,000")  # grouped as it is typed
    expect(operator.locator(f"#amount-{service_id}-hint")).to_have_text(
        "25,000 rials = 2,500 toman"
    )
    operator.get_by_label("Payment reference").fill("INV-7")
    # A top-up asks first: answered "no", nothing is topped up.
    questions: list[str] = []
    operator.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    operator.get_by_role("button", name="Top up").click()
    assert questions == ["Top up service “topped” by 25,000 rials?"]
    expect(operator.get_by_role("status")).to_have_count(0)
    operator.once("dialog", lambda d: d.accept())
    operator.get_by_role("button", name="Top up").click()
    expect(operator.get_by_role("status")).to_have_text("Credit topped up.")
    expect(operator.locator("#account-status")).to_have_text("Active")
    operator.get_by_label("Account-wide credit limit").fill("3000")
    operator.get_by_role("button", name="Save").first.click()
    expect(operator.get_by_label("Account-wide credit limit")).to_have_value("3,000")
    operator.goto("/panel/operator")
    expect(operator.locator("#accounts tr", has_text=email)).to_contain_text("25,000 rials")
    shoot(operator, shots, "en-operator")
    # The caller ranges: one added for Rightel only, listed with its health, then paused
    # (paused, it serves no call of the other tests).
    pattern = f"+98219{random.randrange(900, 999)}xxxxx"
    operator.get_by_role("link", name="Caller ranges").click()
    operator.get_by_label("Range", exact=True).fill(pattern)
    operator.get_by_label("Destination networks").fill("Rightel")
    operator.get_by_role("button", name="Add a range").click()
    expect(operator.get_by_role("status")).to_have_text("Range added.")
    added = operator.locator("section.card", has_text=pattern)
    expect(added).to_contain_text("Rightel")
    expect(added).to_contain_text("No calls yet.")
    check_page(operator)
    added.get_by_role("button", name="Pause").click()
    expect(operator.locator("section.card", has_text=pattern).locator(".status")).to_have_text(
        "Paused"
    )
    operator.get_by_label("Range", exact=True).fill(pattern)  # the same numbers again
    operator.get_by_role("button", name="Add a range").click()
    expect(operator.locator(".banner.error")).to_contain_text("shares numbers")
    operator.goto(f"/panel/services/{service_id}")  # a customer page: the operator has none
    assert "/panel/sign-in" in operator.url
    operator.context.close()

    panel.goto(f"/panel/credit?service_id={service_id}")
    expect(panel.locator("#total-balance")).to_have_text("25,000 rials")
    expect(panel.locator("#total-limit")).to_have_text("3,000 rials")
    expect(panel.locator("#ledger tbody tr.topup")).to_contain_text("INV-7")


def test_credit_page_warns_before_and_at_the_cut_off(platform: Platform, panel: Page) -> None:
    token = sign_up(panel, "en", f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        key = api.new_key(token, service["id"])["key"]
        # A limit of five calls: after four, a fifth of it is left (low); after five, none.
        api.ok(
            api.http.patch(
                f"/v1/services/{service['id']}", json={"credit_limit": 5000}, headers=api.admin
            )
        )
        banners = panel.locator("main .banner")

        def settled(calls: int) -> bool:
            balance = api.ok(api.http.get("/v1/balance", headers=bearer(token)))
            cut_off = balance["services"][0]["status"] == "cut_off"
            return bool(balance["total"] == -1000 * calls and cut_off == (calls == 5))

        placed = 0
        for calls, expected in ((4, "running low on credit"), (5, "reached its credit limit")):
            for _ in range(calls - placed):
                call = api.place(key, random_phone())
                api.wait_status(key, call["id"], {"delivered"})
            placed = calls
            wait_for(lambda calls=calls: settled(calls), what=f"the debits of {calls} calls")
            panel.goto("/panel/credit")
            expect(banners).to_contain_text(expected)
        expect(panel.locator("#balances")).to_contain_text("Stopped (credit limit)")
        # The account as a whole: a total limit of what it owes cuts every service off.
        with psycopg.connect(platform.database_url) as conn:
            [[account_id]] = conn.execute(
                "SELECT account_id FROM services WHERE id = %s", (service["id"],)
            ).fetchall()
        api.ok(
            api.http.patch(
                f"/v1/accounts/{account_id}",
                json={"total_credit_limit": 5000},
                headers=api.admin,
            )
        )
        wait_for(
            lambda: (
                api.ok(api.http.get("/v1/balance", headers=bearer(token)))["status"] == "cut_off"
            ),
            what="the account to be cut off",
        )
        panel.goto("/panel/credit")
        expect(panel.locator("#account-cut-off")).to_contain_text("calls of every service stop")
        expect(panel.locator("#account-status")).to_have_text("Stopped (credit limit)")
    finally:
        api.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_webhooks_are_added_tested_and_sent_again_from_the_panel(
    panel: Page, shots: Path, lang: Lang
) -> None:
    from tests.support.webhooks import Receiver

    receiver = Receiver()
    try:
        sign_up(panel, lang, f"hooks-{uuid.uuid4().hex[:8]}@example.com")
        words = Words(lang, "UTC")
        panel.goto("/panel/webhooks")
        check_page(panel)
        panel.get_by_label(words.t("webhooks.url")).fill(receiver.url)
        panel.get_by_role("button", name=words.t("webhooks.create")).click()
        secret = panel.locator("code").inner_text()
        assert secret.startswith("whsec_")  # shown once, on the page it was made on
        action = panel.locator("form[action$='/test']").get_attribute("action")
        assert action is not None
        detail = action.removesuffix("/test")
        panel.get_by_role("button", name=words.t("webhooks.test")).click()
        expect(panel.get_by_role("status")).to_have_text(words.t("webhooks.test_sent"))
        wait_for(lambda: receiver.of("webhook.test") or None, timeout=30, what="the test event")

        def logged() -> bool:
            panel.goto(detail)  # not a reload: that would post the test again
            cell = panel.get_by_role("cell", name=words.t("webhooks.d_delivered"), exact=True)
            return cell.count() == 1

        wait_for(logged, timeout=30, what="the delivery in the log")
        check_page(panel)
        shoot(panel, shots, f"{lang}-webhook")
        panel.get_by_role("button", name=words.t("webhooks.resend")).click()
        wait_for(lambda: len(receiver.of("webhook.test")) == 2, timeout=30, what="the re-send")
        ids = {h["webhook-id"] for h, _ in receiver.of("webhook.test")}
        assert len(ids) == 1  # sent again with the same webhook-id
    finally:
        receiver.close()


def test_a_pumped_prefix_shows_on_its_service_page_and_is_lifted_there(
    platform: Platform, panel: Page, shots: Path
) -> None:
    token = sign_up(panel, "en", f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        key = api.new_key(token, service["id"])["key"]
        for i in range(31):  # FLASHCALL_FRAUD_MIN_UNVERIFIED's default is 30
            api.place(key, f"+989125552{i:03d}")
        path = f"/v1/services/{service['id']}/fraud/blocks"
        wait_for(
            lambda: api.ok(api.http.get(path, headers=bearer(token)))["items"], what="the block"
        )
        panel.goto(f"/panel/services/{service['id']}")
        expect(panel.locator("main .banner.error")).to_contain_text("+989125552")
        expect(panel.get_by_label("Allowed regions (two-letter codes, e.g. IR)")).to_have_value(
            "IR"
        )
        check_page(panel)
        shoot(panel, shots, "en-service-fraud")
        panel.get_by_role("button", name="Lift the block").click()
        expect(panel.get_by_role("status")).to_have_text("Block lifted.")
        expect(panel.locator("main .banner.error")).to_have_count(0)
    finally:
        api.close()


def test_test_numbers_are_added_and_removed_on_the_service_page_in_persian(
    platform: Platform, panel: Page
) -> None:
    w = Words("fa", "UTC")
    token = sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        panel.goto(f"/panel/services/{service['id']}")
        expect(panel.locator("#tests-title")).to_have_text(w.t("tests.title"))
        phone = random_phone()
        national = "۰" + digits(phone.removeprefix("+98"), "fa")  # typed as a Persian would
        panel.get_by_label(w.t("tests.phone"), exact=True).fill(national)
        panel.get_by_label(w.t("tests.code"), exact=True).fill("۱۲۳۴")  # a digit short
        panel.get_by_role("button", name=w.t("tests.add")).click()
        expect(panel.locator("main .banner.error, main [role=alert]").first).to_contain_text(
            w.t("tests.code")
        )
        panel.get_by_label(w.t("tests.phone"), exact=True).fill(national)
        panel.get_by_label(w.t("tests.code"), exact=True).fill("۰۲۴۶۸")
        panel.get_by_role("button", name=w.t("tests.add")).click()
        expect(panel.get_by_role("status")).to_have_text(w.t("tests.added"))
        expect(panel.locator("#test-numbers")).to_contain_text(phone)
        expect(panel.locator("#test-numbers code")).to_have_text("02468")
        check_page(panel)
        listed = api.ok(
            api.http.get(f"/v1/services/{service['id']}/test-numbers", headers=bearer(token))
        )["items"]
        assert [(n["phone"], n["code"]) for n in listed] == [(phone, "02468")]
        # Its call shows as a test call in the reports.
        key = api.new_key(token, service["id"])["key"]
        call = api.place(key, phone)
        api.wait_status(key, call["id"], {"delivered"})
        panel.goto(f"/panel/reports?phone={phone.replace('+', '%2B')}")
        expect(panel.locator(f"tr[data-call-id='{call['id']}'] .status.test")).to_have_text(
            w.t("tests.badge")
        )
        panel.goto(f"/panel/services/{service['id']}")
        panel.get_by_role("button", name=f"{w.t('tests.remove')} {phone}").click()
        expect(panel.get_by_role("status")).to_have_text(w.t("tests.removed"))
        expect(panel.locator("#test-numbers")).to_have_count(0)
    finally:
        api.close()


def test_a_workflow_is_edited_in_persian_and_the_test_page_shows_each_step(
    platform: Platform, panel: Page
) -> None:
    """The service page sets a flash call then an SMS (timeouts typed in Persian digits) and
    the SMS text; a busy number's call is shown on the test page step by step: the flash call
    failed (busy), the SMS delivered."""
    w = Words("fa", "UTC")
    token = sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        panel.goto(f"/panel/services/{service['id']}")
        expect(panel.locator("#workflow_1_channel")).to_have_value("flash_call")
        panel.locator("#workflow_1_timeout").fill("۱۰")  # under 15 s: refused, in Persian
        panel.locator("#workflow_2_channel").select_option("sms")
        panel.locator("#workflow_2_timeout").fill("۶۰")
        panel.get_by_label(w.t("service.sms_template")).fill("کد ورود شما {code} است")
        panel.get_by_role("button", name=w.t("service.save")).click()
        expect(panel.locator("main .banner.error, main [role=alert]").first).to_contain_text(
            w.t("service.workflow")
        )
        panel.locator("#workflow_1_timeout").fill("۲۰")
        panel.locator("#workflow_2_channel").select_option("sms")
        panel.locator("#workflow_2_timeout").fill("۶۰")
        panel.get_by_label(w.t("service.sms_template")).fill("کد ورود شما {code} است")
        panel.get_by_role("button", name=w.t("service.save")).click()
        expect(panel.get_by_role("status")).to_have_text(w.t("service.saved"))
        expect(panel.locator("#workflow_2_channel")).to_have_value("sms")
        saved = api.ok(api.http.get(f"/v1/services/{service['id']}", headers=bearer(token)))
        assert saved["workflow"] == [
            {"channel": "flash_call", "timeout_seconds": 20},
            {"channel": "sms", "timeout_seconds": 60},
        ]
        assert saved["sms_template"] == "کد ورود شما {code} است"
        check_page(panel)
        key = api.new_key(token, service["id"])["key"]
        panel.goto("/panel/test")
        panel.get_by_label(w.t("test.key")).fill(key)
        phone = random_phone("1111")  # busy: the flash call fails, the SMS is delivered
        panel.get_by_label(w.t("test.phone")).fill(phone)
        panel.get_by_role("button", name=w.t("test.get_code")).click()
        steps = panel.locator("#call-steps li")
        expect(steps).to_have_count(2)
        expect(steps.nth(0)).to_have_attribute("data-status", "failed")
        expect(steps.nth(0)).to_contain_text(w.t("channel.flash_call"))
        expect(steps.nth(0)).to_contain_text(w.word("busy"))
        expect(steps.nth(1)).to_have_attribute("data-status", "delivered")
        expect(steps.nth(1)).to_contain_text(w.t("channel.sms"))
        check_page(panel)
    finally:
        api.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_a_double_click_on_the_test_page_places_and_judges_once(
    platform: Platform, panel: Page, lang: Lang
) -> None:
    w = Words(lang, "UTC")
    token = sign_up(panel, lang, f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        key = api.new_key(token, service["id"])["key"]
        panel.goto("/panel/test")
        panel.get_by_label(w.t("test.key")).fill(key)
        phone = random_phone()
        panel.get_by_label(w.t("test.phone")).fill(phone)
        panel.get_by_role("button", name=w.t("test.get_code")).dblclick()
        expect(panel.locator("#handset")).to_be_visible()
        caller = panel.locator("#caller-number").inner_text()
        panel.get_by_label(w.t("test.code")).fill(caller[-5:])
        panel.get_by_role("button", name=w.t("test.verify")).dblclick()
        expect(panel.locator("#verify-result")).to_have_text(w.t("test.verified"))

        def reported() -> list[dict[str, object]] | None:
            """The phone's calls once the report has the verification (it follows the API)."""
            found = api.ok(
                api.http.get("/v1/reports/calls", params={"phone": phone}, headers=bearer(token))
            )["items"]
            return found if any(c["status"] == "verified" for c in found) else None

        calls = wait_for(reported, what="the verified call in the report")
        assert len(calls) == 1, calls  # one call placed, one billed
        assert len(api.handset(phone)) == 1
        assert calls[0]["verify_attempts"] == 1
    finally:
        api.close()


def test_the_persian_test_page_speaks_persian_when_the_api_refuses(panel: Page) -> None:
    from api.panel.i18n import PROBLEMS

    sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    panel.goto("/panel/test")
    w = Words("fa", "UTC")
    panel.get_by_label(w.t("test.key")).fill("fck_not_a_key")
    panel.get_by_label(w.t("test.phone")).fill("09121234567")
    panel.get_by_role("button", name=w.t("test.get_code")).click()
    expect(panel.locator("#test-status")).to_have_text(PROBLEMS["unauthorized"][0])


@pytest.mark.parametrize("width", [360, 390])
def test_no_page_scrolls_sideways_on_a_phone(platform: Platform, panel: Page, width: int) -> None:
    token = sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    api = Api(platform.url)
    try:
        service = api.new_service(token, code_length=5)
        api.new_key(token, service["id"])
    finally:
        api.close()
    panel.set_viewport_size({"width": width, "height": 800})
    for path in (
        "/panel/services",
        f"/panel/services/{service['id']}",
        "/panel/test",
        "/panel/reports",
        "/panel/credit",
        "/panel/webhooks",
        "/panel/account",
    ):
        panel.goto(path)
        wide = panel.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, (path, wide)


# The text of the page's error banner outside its isolated (<bdi>) fragments.
BANNER_OUTSIDE_BDI = """
() => {
  const banner = document.querySelector(".banner.error");
  if (!banner) return null;
  const copy = banner.cloneNode(true);
  copy.querySelectorAll("bdi").forEach((b) => b.remove());
  return copy.textContent.trim();
}
"""
PERSIAN_LETTERS = re.compile(r"[\u0600-\u06ff]")


def submit_refused(page: Page, fill: dict[str, str], button: str) -> str:
    """Fill the fields (by label), submit without the browser's own checks (the server's
    refusal is what is tested) and return the error banner's words outside <bdi>."""
    page.evaluate("() => document.querySelectorAll('form').forEach((f) => { f.noValidate = 1; })")
    for label, value in fill.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".banner.error")).to_have_count(1)
    text: str = page.evaluate(BANNER_OUTSIDE_BDI)
    return text


def assert_persian(text: str) -> None:
    assert PERSIAN_LETTERS.search(text) and not re.search(r"[A-Za-z]", text), text


def test_every_persian_form_refuses_in_persian_and_says_what_is_valid(
    platform: Platform, browser: Browser, panel: Page, shots: Path
) -> None:
    w = Words("fa", "UTC")
    panel.goto("/panel/sign-up")
    said = submit_refused(
        panel,
        {w.t("field.name"): "x", w.t("field.email"): "not-email", w.t("field.password"): PASSWORD},
        w.t("sign_up"),
    )
    assert_persian(said)
    expect(panel.locator(".banner.error bdi")).to_have_text("name@example.com")
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    sign_up(panel, "fa", email)

    panel.goto("/panel/services")
    code_length = w.t("service.code_length")
    said = submit_refused(
        panel,
        {w.t("service.name"): "ورود", code_length: "۹", w.t("service.ttl"): "۵"},
        w.t("services.create"),
    )
    assert_persian(said)
    assert "۴ تا ۸" in said  # what is valid, not only that it is wrong
    shoot(panel, shots, "fa-services-error")
    # Persian digits are numbers: code length ۶ and validity ۵ make a service.
    panel.get_by_label(code_length, exact=True).fill("۶")
    panel.get_by_role("button", name=w.t("services.create")).click()
    expect(panel.get_by_role("heading", level=1)).to_contain_text("ورود")
    service_id = panel.url.rsplit("/", 1)[1]
    expect(panel.locator("main")).to_contain_text("۶")

    said = submit_refused(panel, {w.t("service.ttl"): "۹۹"}, w.t("service.save"))
    assert_persian(said)
    assert "۱ تا ۶۰" in said
    said = submit_refused(panel, {w.t("keys.label"): "   "}, w.t("keys.issue"))
    assert_persian(said)

    panel.goto("/panel/reports")
    said = submit_refused(panel, {w.t("reports.phone"): "12345"}, w.t("reports.apply"))
    assert_persian(said)  # not phonenumbers' "(1) The string supplied did not seem…"
    panel.goto("/panel/reports")
    said = submit_refused(panel, {w.t("reports.from"): "۱۴۰۵/۱۳/۴۰"}, w.t("reports.apply"))
    assert_persian(said)

    panel.goto("/panel/webhooks")
    said = submit_refused(panel, {w.t("webhooks.url"): "ftp://example.com"}, w.t("webhooks.create"))
    assert_persian(said)
    expect(panel.locator(".banner.error bdi")).to_have_text(["http://", "https://"])

    # The error page says its message once, in Persian.
    panel.goto(f"/panel/services/{uuid.uuid4()}")
    expect(panel.locator(".banner.error")).to_have_count(1)
    expect(panel.locator(".banner.error")).to_have_text(w.problems()["not_found"])

    # The operator's money fields: Persian digits, grouped as typed, with a toman hint; a
    # refused amount says what an amount must be.
    operator = browser.new_context(base_url=platform.url).new_page()
    operator.goto("/panel/operator/sign-in")
    operator.get_by_label(w.t("field.operator_token")).fill(DEV_ADMIN_TOKEN)
    operator.get_by_role("button", name=w.t("sign_in")).click()
    operator.locator("#accounts tr", has_text=email).get_by_role("link").click()
    amount = operator.locator(f"#amount-{service_id}")
    amount.press_sequentially("۲۵۰۰۰۰۰")
    expect(amount).to_have_value("۲٬۵۰۰٬۰۰۰")
    expect(operator.locator(f"#amount-{service_id}-hint")).to_contain_text("۲۵۰٬۰۰۰ تومان")
    shoot(operator, shots, "fa-operator-topup")
    operator.locator(f"#ref-{service_id}").fill("INV-8")
    operator.on("dialog", lambda d: d.accept())
    operator.get_by_role("button", name=w.t("operator.topup")).click()
    expect(operator.get_by_role("status")).to_have_text(w.t("operator.topped_up"))
    amount.fill("۰")
    operator.locator(f"#ref-{service_id}").fill("INV-9")
    operator.get_by_role("button", name=w.t("operator.topup")).click()
    expect(operator.locator(".banner.error")).to_contain_text("بیشتر از صفر")
    assert_persian(operator.evaluate(BANNER_OUTSIDE_BDI))
    operator.context.close()
    panel.goto(f"/panel/credit?service_id={service_id}")
    expect(panel.locator("#total-balance")).to_have_text(w.money(2_500_000))
    check_page(panel)


def test_the_accessibility_check_finds_what_it_looks_for(panel: Page) -> None:
    """axe-core runs and reports: an unlabelled field and an image without text are caught."""
    panel.set_content('<html lang="en"><body><main><img src="x.png"><input></main></body></html>')
    found = " ".join(accessibility.problems(panel))
    assert "image-alt" in found and "no label" in found, found


def test_a_first_run_is_guided_from_token_to_test(panel: Page) -> None:
    w = Words("fa", "UTC")
    panel.goto("/panel/sign-in")
    expect(panel.get_by_role("link", name=w.t("operator.sign_in"))).to_have_count(0)
    sign_up(panel, "fa", f"{uuid.uuid4().hex[:10]}@example.com")
    expect(panel.locator("main")).to_contain_text(w.t("account.new_token"))  # what it is for
    panel.get_by_role("link", name=w.t("account.continue")).click()
    for step in ("services.none", "services.step1", "services.step2", "services.step3"):
        expect(panel.locator("main")).to_contain_text(w.t(step))
    panel.goto("/panel/reports")
    expect(panel.locator("#no-calls")).to_have_text(w.t("reports.empty"))
    panel.goto("/panel/credit")
    expect(panel.locator("#no-services")).to_have_text(w.t("credit.no_services"))
    panel.goto("/panel/test")
    panel.get_by_role("link", name=w.t("test.need_key")).click()
    assert panel.url.endswith("/panel/services")
    panel.get_by_label(w.t("service.name")).fill("ورود")
    panel.get_by_label(w.t("service.code_length")).fill("۵")
    panel.get_by_label(w.t("service.ttl")).fill("۵")
    panel.get_by_role("button", name=w.t("services.create")).click()
    expect(panel.locator("main")).to_contain_text(w.t("keys.none"))
    check_page(panel)
    service_page = panel.url
    # A double click on a posted form issues one key.
    panel.get_by_label(w.t("keys.label")).fill("web")
    panel.get_by_role("button", name=w.t("keys.issue")).dblclick()
    expect(panel.locator("#new-key")).to_be_visible()
    panel.goto(service_page)
    expect(panel.get_by_role("button", name=f"{w.t('keys.revoke')} web")).to_have_count(1)
