"""The panel's words in Persian (the default, right to left) and English, and how numbers and
dates are written in each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import jdatetime
from markupsafe import Markup, escape

from api.report_export import PERSIAN_WORDS
from core.networks import network_name_fa

Lang = Literal["fa", "en"]

# The panel's words for the API's problem codes and verdict reasons (shown instead of the
# API's English detail on a Persian page). One table, English beside it.
PROBLEMS: dict[str, tuple[str, str]] = {
    "invalid_phone": ("شماره‌ی تلفن معتبر نیست.", "The phone number is not valid."),
    "unauthorized": ("کلید دسترسی نامعتبر است یا باطل شده.", "Unknown or revoked access key."),
    "forbidden": ("اجازه‌ی این کار را ندارید.", "You may not do this."),
    "credit_limit_reached": (
        "بدهی به سقف رسیده است؛ اعتبار را افزایش دهید.",
        "The credit limit is reached; top up.",
    ),
    "service_disabled": ("سرویس غیرفعال است.", "The service is disabled."),
    "destination_not_allowed": (
        "این سرویس اجازه‌ی تماس با این شماره را ندارد.",
        "The service may not ring this number.",
    ),
    "rate_limited": (
        "تماس‌ها بیش از حد مجاز است؛ کمی بعد دوباره بکوشید.",
        "Too many calls; try again shortly.",
    ),
    "not_found": ("پیدا نشد.", "Not found."),
    "code_still_valid": ("کد قبلی هنوز معتبر است.", "The previous code is still valid."),
    "retry_limit_reached": ("تلاش دوباره بیش از حد مجاز است.", "Too many retries."),
    "test_number_limit_reached": (
        "هر سرویس حداکثر ۲۰ شماره‌ی آزمایشی دارد؛ نخست یکی را حذف کنید.",
        "A service has at most 20 test numbers; remove one first.",
    ),
    "no_next_channel": (
        "این تماس مرحله‌ی بعدی ندارد.",
        "This call has no next step.",
    ),
    "no_caller_range": (
        "هیچ بازه‌ی شماره‌ی تماس‌گیرنده‌ای به این شبکه زنگ نمی‌زند؛ به اپراتور خبر دهید.",
        "No caller range serves this number's network; tell the operator.",
    ),
    "range_overlaps": (
        "این بازه با بازه‌ی دیگری شماره‌ی مشترک دارد.",
        "This range shares numbers with another range.",
    ),
    "idempotency_key_in_use": (
        "همین درخواست هم‌اکنون در حال انجام است؛ لحظه‌ای بعد دوباره بفرستید.",
        "The same request is being made right now; send it again in a moment.",
    ),
    "invalid_request": ("درخواست نامعتبر است.", "The request is not valid."),
    "invalid_time_range": ("بازه‌ی زمانی نامعتبر است.", "The time range is not valid."),
    "unsupported_media_type": ("نوع محتوا پشتیبانی نمی‌شود.", "Unsupported content type."),
    "method_not_allowed": ("این روش مجاز نیست.", "Method not allowed."),
    "unavailable": (
        "سامانه لحظه‌ای در دسترس نیست؛ دوباره بکوشید.",
        "Briefly unavailable; try again.",
    ),
    "internal_error": ("خطای داخلی رخ داد.", "An internal error occurred."),
    # Verdicts
    "invalid_code": ("کد نادرست است", "wrong code"),
    "expired": ("کد منقضی شده است", "the code expired"),
    "too_many_attempts": ("تلاش‌ها تمام شده است", "no attempts left"),
    "not_delivered": ("تماس هنوز برقرار نشده است", "the call has not rung yet"),
    "already_verified": ("پیش‌تر تأیید شده است", "verified already"),
}
LANGS: tuple[Lang, ...] = ("fa", "en")
DEFAULT_LANG: Lang = "fa"
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
LATIN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")

# key: (Persian, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "brand": ("فلش‌کال", "flashcall"),
    "skip": ("پرش به محتوا", "Skip to content"),
    "other_lang": ("English", "فارسی"),
    "nav.services": ("سرویس‌ها", "Services"),
    "nav.test": ("آزمایش سرویس", "Test service"),
    "nav.reports": ("گزارش‌ها", "Reports"),
    "nav.credit": ("اعتبار", "Credit"),
    "nav.account": ("حساب", "Account"),
    "nav.operator": ("کنسول اپراتور", "Operator console"),
    "nav.ranges": ("بازه‌های شماره", "Caller ranges"),
    "sign_out": ("خروج", "Sign out"),
    "sign_in": ("ورود", "Sign in"),
    "sign_up": ("ثبت‌نام", "Sign up"),
    "sign_in.title": ("ورود به پنل", "Sign in to the panel"),
    "sign_up.title": ("ساخت حساب", "Create an account"),
    "sign_up.closed": ("ثبت‌نام بسته است.", "Sign-up is closed."),
    "sign_up.have": ("حساب دارید؟", "Have an account?"),
    "sign_in.none": ("حساب ندارید؟", "No account yet?"),
    "operator.sign_in": ("ورود اپراتور", "Operator sign-in"),
    "field.name": ("نام", "Name"),
    "field.email": ("ایمیل", "Email"),
    "field.password": ("گذرواژه", "Password"),
    "field.password_hint": ("دست‌کم ۱۰ نویسه", "At least 10 characters"),
    "field.operator_token": ("توکن اپراتور", "Operator token"),
    "error.credentials": ("ایمیل یا گذرواژه نادرست است.", "Wrong email or password."),
    "error.operator_token": ("توکن اپراتور نادرست است.", "Wrong operator token."),
    "error.email_taken": ("این ایمیل قبلاً ثبت شده است.", "This email is already registered."),
    "error.email": (
        "ایمیل باید نشانی‌ای مثل {example} باشد.",
        "The email must be an address such as {example}.",
    ),
    "error.password": (
        "گذرواژه باید دست‌کم ۱۰ نویسه باشد.",
        "The password needs at least 10 characters.",
    ),
    "error.rate": (
        "تلاش‌های زیادی شده است؛ {seconds} ثانیه دیگر دوباره امتحان کنید.",
        "Too many attempts; try again in {seconds} seconds.",
    ),
    "error.csrf": (
        "این فرم منقضی شده است؛ صفحه را دوباره باز کنید.",
        "This form has expired; open the page again.",
    ),
    "error.title": ("خطا", "Error"),
    "error.field": ("مقدار «{field}» نامعتبر است.", "“{field}” is not valid."),
    # Validation says what is valid: "error.valid" with one of the "valid.*" below.
    "error.valid": ("«{field}» باید {valid} باشد.", "“{field}” must be {valid}."),
    "valid.text": (
        "۱ تا ۲۰۰ نویسه، بی نویسه‌ی کنترلی",
        "1 to 200 characters, no control characters",
    ),
    "valid.code_length": ("عددی از ۴ تا ۸", "a whole number from 4 to 8"),
    "valid.ttl": ("عددی از ۱ تا ۶۰ (دقیقه)", "a whole number of minutes from 1 to 60"),
    "valid.money": (
        "مبلغی به ریال، صفر یا بیشتر، بی اعشار",
        "an amount in rials, 0 or more, whole",
    ),
    "valid.amount": ("مبلغی به ریال، بیشتر از صفر، بی اعشار", "an amount in rials above 0, whole"),
    "valid.regions": (
        "کد دوحرفی کشورها، با فاصله یا ویرگول (مثلاً IR AE)",
        "two-letter region codes, separated by spaces or commas (e.g. IR AE)",
    ),
    "valid.types": ("از میان گزینه‌های فهرست", "among the listed choices"),
    "valid.workflow": (
        "یک تا سه مرحله، هر کدام با مهلت ۱۵ تا ۹۰۰ ثانیه",
        "one to three steps, each with a timeout of 15 to 900 seconds",
    ),
    "valid.sms_template": (
        "حداکثر ۲۰۰ نویسه، شامل {code}",
        "at most 200 characters, with {code} in it",
    ),
    "valid.day": ("روزی مثل ۱۴۰۵/۰۹/۰۶", "a day such as 2026-11-27"),
    "valid.phone": (
        "شماره‌ای کامل، مثل ۰۹۱۲۱۲۳۴۵۶۷",
        "a full number such as +989121234567",
    ),
    "valid.choice": ("یکی از گزینه‌های فهرست", "one of the listed choices"),
    "valid.test_code": (
        "به تعداد رقم‌های کد سرویس، فقط رقم",
        "as many digits as the service's codes, digits only",
    ),
    "error.back": ("بازگشت به سرویس‌ها", "Back to services"),
    "services.title": ("سرویس‌ها", "Services"),
    "services.none": (
        "هنوز سرویسی ندارید. سه گام تا اولین تأیید:",
        "You have no services yet. Three steps to a first verification:",
    ),
    "services.step1": (
        "یک سرویس بسازید (طول کد و مدت اعتبار آن)؛",
        "create a service (its code length and how long a code is valid);",
    ),
    "services.step2": (
        "در صفحه‌ی سرویس، یک کلید دسترسی صادر کنید (سرور شما با آن تماس می‌گیرد)؛",
        "on the service's page, issue an access key (your server places calls with it);",
    ),
    "services.step3": (
        "با «آزمایش با این کلید» شماره‌ی خودتان را تأیید کنید.",
        "with “test with this key”, verify your own number.",
    ),
    "services.create": ("ساخت سرویس", "Create a service"),
    "service.name": ("نام سرویس", "Service name"),
    "service.code_length": ("طول کد (۴ تا ۸ رقم)", "Code length (4 to 8 digits)"),
    "service.ttl": ("مدت اعتبار کد (دقیقه، ۱ تا ۶۰)", "Code validity (minutes, 1 to 60)"),
    "service.return_code": (
        "کد در پاسخ API برگردد (برای بررسی کد در سمت شما)",
        "Return the code in API responses (you check codes yourself)",
    ),
    "service.status": ("وضعیت", "Status"),
    "service.balance": ("مانده", "Balance"),
    "service.limit": ("سقف بدهی", "Credit limit"),
    "service.created": ("تاریخ ایجاد", "Created"),
    "service.save": ("ذخیره", "Save"),
    "service.edit": ("ویرایش سرویس", "Edit service"),
    "service.disable": ("غیرفعال کردن سرویس", "Disable service"),
    "service.enable": ("فعال کردن سرویس", "Enable service"),
    "service.saved": ("ذخیره شد.", "Saved."),
    "service.allowed_regions": (
        "کشورهای مجاز (کد دوحرفی، مثلاً IR)",
        "Allowed regions (two-letter codes, e.g. IR)",
    ),
    "service.blocked_types": ("انواع شماره‌ی ممنوع", "Blocked number types"),
    "service.workflow": ("مراحل ارسال کد", "Workflow"),
    "service.workflow_hint": (
        "اگر مرحله‌ای ناموفق شود یا در مهلتش تأیید نشود، مرحله‌ی بعد با همان کد آغاز می‌شود.",
        "When a step fails or is not verified within its timeout, the next one starts"
        " with the same code.",
    ),
    "service.step": ("مرحله‌ی {n}", "Step {n}"),
    "service.channel": ("کانال", "Channel"),
    "service.timeout": ("مهلت (ثانیه)", "Timeout (seconds)"),
    "service.sms_template": ("متن پیامک", "SMS text"),
    "channel.none": ("—", "—"),
    "channel.flash_call": ("تماس کوتاه", "Flash call"),
    "channel.sms": ("پیامک", "SMS"),
    "step.started": ("در جریان", "In progress"),
    "step.delivered": ("رسید", "Delivered"),
    "step.failed": ("ناموفق", "Failed"),
    "fraud.title": ("پیشوندهای مسدود", "Blocked prefixes"),
    "fraud.banner": (
        "تماس با پیشوند {prefix} به گمان تقلب (call pumping) متوقف شده است.",
        "Calls to {prefix} are blocked: suspected call pumping.",
    ),
    "fraud.lift": ("رفع انسداد", "Lift the block"),
    "fraud.allow": ("همیشه مجاز", "Always allow"),
    "fraud.lifted": ("انسداد برداشته شد.", "Block lifted."),
    "fraud.allowed": ("پیشوند همیشه مجاز شد.", "Prefix allowed for good."),
    "service.open": ("باز کردن", "Open"),
    "status.active": ("فعال", "Active"),
    "status.paused": ("متوقف", "Paused"),
    "status.disabled": ("غیرفعال", "Disabled"),
    "status.cut_off": ("متوقف (سقف بدهی)", "Stopped (credit limit)"),
    "keys.title": ("کلیدهای دسترسی", "Access keys"),
    "keys.none": (
        "کلیدی صادر نشده است. با فرم زیر یک کلید بسازید؛ سرور شما با آن تماس می‌گیرد.",
        "No keys issued. Issue one with the form below; your server places calls with it.",
    ),
    "keys.label": ("برچسب کلید", "Key label"),
    "keys.issue": ("صدور کلید", "Issue key"),
    "keys.prefix": ("پیشوند", "Prefix"),
    "keys.last_used": ("آخرین استفاده", "Last used"),
    "keys.revoked": ("باطل شده", "Revoked"),
    "keys.revoke": ("ابطال", "Revoke"),
    "keys.new": (
        "کلید جدید؛ فقط همین یک بار نمایش داده می‌شود:",
        "Your new key; it is shown only this once:",
    ),
    "keys.test": ("آزمایش با این کلید", "Test with this key"),
    "tests.title": ("شماره‌های آزمایشی", "Test numbers"),
    "tests.badge": ("آزمایشی", "test"),
    "tests.help": (
        "تماس با این شماره‌ها زنگ نمی‌زند، هزینه‌ای ندارد و در هیچ محدودیتی شمرده نمی‌شود؛"
        " فقط با کد ثابتش تأیید می‌شود (برای آزمون‌های خودتان و بازبینان فروشگاه‌ها)."
        " حداکثر ۲۰ شماره.",
        "Calls to these numbers ring no one, cost nothing and count in no limit; they verify"
        " with their fixed code only (for your own tests and app-store reviewers). At most 20.",
    ),
    "tests.none": ("شماره‌ی آزمایشی ندارد.", "No test numbers."),
    "tests.phone": ("شماره", "Number"),
    "tests.code": ("کد ثابت", "Fixed code"),
    "tests.add": ("افزودن شماره‌ی آزمایشی", "Add test number"),
    "tests.remove": ("حذف", "Remove"),
    "tests.added": ("شماره‌ی آزمایشی ثبت شد.", "Test number saved."),
    "tests.removed": ("شماره‌ی آزمایشی حذف شد.", "Test number removed."),
    "copy": ("کپی", "Copy"),
    "copied": ("کپی شد", "Copied"),
    "never": ("هنوز استفاده نشده", "Never"),
    "test.title": ("آزمایش سرویس", "Test a service"),
    "test.intro": (
        "یک کلید دسترسی و شماره تلفن وارد کنید. با آن شماره تماس کوتاهی گرفته می‌شود؛"
        " رقم‌های آخر شماره تماس‌گیرنده کد است.",
        "Enter an access key and a phone number. That phone gets one short ring;"
        " the last digits of the calling number are the code.",
    ),
    "test.need_key": (
        "کلید دسترسی ندارید؟ در صفحه‌ی یک سرویس صادرش کنید.",
        "No access key? Issue one on a service's page.",
    ),
    "test.key": ("کلید دسترسی", "Access key"),
    "test.phone": ("شماره تلفن", "Phone number"),
    "test.get_code": ("دریافت کد", "Get code"),
    "test.waiting": ("در انتظار زنگ…", "Waiting for the ring…"),
    "test.rang": ("تلفن زنگ خورد.", "The phone rang."),
    "test.handset": ("گوشی شبیه‌سازی‌شده: تماس بی‌پاسخ از", "Simulated handset: missed call from"),
    "test.code": ("رقم‌های آخر شماره تماس‌گیرنده", "The last digits of the calling number"),
    "test.verify": ("تأیید", "Verify"),
    "test.verified": ("شماره تأیید شد.", "The number is verified."),
    "test.not_verified": ("تأیید نشد", "Not verified"),
    "test.attempts_left": ("تلاش باقی‌مانده", "attempts left"),
    "test.failed": ("تماس برقرار نشد", "The call did not go through"),
    "test.details": ("جزئیات تماس", "Call details"),
    "reports.title": ("گزارش تماس‌ها", "Call reports"),
    "reports.filters": ("فیلترها", "Filters"),
    "reports.from": ("از تاریخ", "From"),
    "reports.to": ("تا تاریخ", "To"),
    "reports.day_hint": ("مثل ۱۴۰۵/۰۹/۰۶", "e.g. 2026-11-27"),
    "reports.service": ("سرویس", "Service"),
    "reports.key": ("کلید", "Key"),
    "reports.status": ("وضعیت", "Status"),
    "reports.phone": ("شماره تلفن", "Phone"),
    "reports.any": ("همه", "Any"),
    "reports.apply": ("اعمال", "Apply"),
    "reports.csv": ("دریافت CSV", "Download CSV"),
    "reports.xlsx": ("دریافت Excel", "Download Excel"),
    "reports.chart": ("تماس‌ها در هر روز", "Calls per day"),
    "reports.conversion": ("نرخ تأیید", "Conversion"),
    "reports.none": ("تماسی با این فیلترها نیست.", "No calls match these filters."),
    "reports.empty": (
        "هنوز تماسی ندارید. در «آزمایش سرویس» با یک کلید دسترسی، شماره‌ی خودتان را تأیید کنید؛"
        " تماس اینجا دیده می‌شود.",
        "No calls yet. On “Test service”, verify your own number with an access key; the call"
        " shows here.",
    ),
    "reports.next": ("صفحه بعد", "Next page"),
    "reports.first": ("صفحه اول", "First page"),
    "col.created_at": ("زمان", "Time"),
    "col.phone": ("تلفن", "Phone"),
    "col.status": ("وضعیت", "Status"),
    "col.reason": ("علت", "Reason"),
    "col.dialed_at": ("زمان شماره‌گیری", "Dialled at"),
    "col.expires_at": ("انقضای کد", "Code expires at"),
    "col.verified_at": ("زمان تأیید", "Verified at"),
    "col.caller": ("شماره تماس‌گیرنده", "Caller number"),
    "col.key": ("کلید", "Key"),
    "col.attempts": ("تلاش تأیید", "Verify attempts"),
    "col.cost": ("هزینه", "Cost"),
    "col.day": ("روز", "Day"),
    "col.requested": ("درخواست", "Requested"),
    "col.delivered": ("تحویل", "Delivered"),
    "col.verified": ("تأیید", "Verified"),
    "col.expired": ("منقضی", "Expired"),
    "col.waiting": ("در انتظار تأیید", "Awaiting verification"),
    "col.failed": ("ناموفق", "Failed"),
    "col.rejected": ("رد شده", "Rejected"),
    "credit.title": ("اعتبار", "Credit"),
    "credit.total": ("مانده کل", "Total balance"),
    "credit.total_limit": ("سقف بدهی کل", "Total credit limit"),
    "credit.account_status": ("وضعیت حساب", "Account status"),
    "credit.account_cut_off": (
        "بدهی کل حساب به سقف رسیده است؛"
        " تماس‌های همه سرویس‌ها تا افزایش اعتبار یکی از آن‌ها متوقف است.",
        "The account's total reached its credit limit; calls of every service stop until a"
        " top-up of any of them.",
    ),
    "credit.account_low": (
        "اعتبار کل حساب رو به پایان است.",
        "The account's total credit is running low.",
    ),
    "credit.ledger": ("دفتر حساب", "Ledger"),
    "credit.no_services": (
        "هنوز سرویسی ندارید؛ مانده و سقف بدهی هر سرویس اینجا دیده می‌شود.",
        "You have no services yet; each service's balance and limit show here.",
    ),
    "credit.no_entries": ("تراکنشی ثبت نشده است.", "No entries yet."),
    "credit.type": ("نوع", "Type"),
    "credit.amount": ("مبلغ", "Amount"),
    "credit.after": ("مانده پس از تراکنش", "Balance after"),
    "credit.reference": ("مرجع", "Reference"),
    "credit.debit": ("کسر بابت تماس", "call debit"),
    "credit.topup": ("افزایش اعتبار", "top-up"),
    "credit.low": (
        "اعتبار سرویس «{name}» رو به پایان است.",
        "Service “{name}” is running low on credit.",
    ),
    "credit.cut_off": (
        "سرویس «{name}» به سقف بدهی رسیده و تماس‌هایش متوقف است تا اعتبار افزایش یابد.",
        "Service “{name}” reached its credit limit; its calls stop until a top-up.",
    ),
    "rials": ("ریال", "rials"),
    "debtor": ("بدهکار", "owed"),
    "toman": ("تومان", "toman"),
    "account.title": ("حساب", "Account"),
    "account.token": ("توکن API", "API token"),
    "account.token_intro": (
        "توکن API حساب، سرویس‌ها و گزارش‌ها را از طریق API مدیریت می‌کند."
        " با ساخت توکن جدید، توکن قبلی بی‌درنگ باطل می‌شود.",
        "The account's API token manages services and reports through the API."
        " Rotating it makes the previous token stop working at once.",
    ),
    "account.rotate": ("ساخت توکن جدید", "Rotate token"),
    "account.new_token": (
        "توکن API حساب شما؛ فقط همین یک بار نمایش داده می‌شود. سرور شما با آن سرویس‌ها و"
        " کلیدها را مدیریت می‌کند و گزارش‌ها را می‌خواند (تماس‌ها را با کلید دسترسی هر سرویس"
        " می‌گیرید). آن را جایی امن نگه دارید:",
        "Your account's API token; it is shown only this once. Your server manages services"
        " and keys and reads reports with it (calls are placed with each service's access"
        " key). Keep it somewhere safe:",
    ),
    "account.continue": ("ادامه", "Continue"),
    "operator.accounts": ("حساب‌ها", "Accounts"),
    "ranges.title": ("بازه‌های شماره‌ی تماس‌گیرنده", "Caller ranges"),
    "ranges.pattern": ("بازه", "Range"),
    "ranges.pattern_hint": (
        "پیش‌شماره و سپس یک x برای هر رقم انتخابی، مانند ‎+98219100xxxxx",
        "Leading digits, then an x per chosen digit, e.g. +98219100xxxxx",
    ),
    "ranges.trunk": ("ترانک ترجیحی", "Preferred trunk"),
    "ranges.destinations": ("شبکه‌های مقصد", "Destination networks"),
    "ranges.destinations_hint": (
        "مانند IR-MCI Irancell؛ خالی یعنی همه‌ی شبکه‌ها",
        "e.g. IR-MCI Irancell; empty: every network",
    ),
    "ranges.every_network": ("همه‌ی شبکه‌ها", "Every network"),
    "ranges.any_trunk": ("به ترتیب ترانک‌ها", "Trunks in order"),
    "ranges.status": ("وضعیت", "Status"),
    "ranges.health": ("سلامت در هر شبکه", "Health per network"),
    "ranges.window": ("در {seconds} ثانیه‌ی اخیر", "Over the last {seconds} seconds"),
    "ranges.network": ("شبکه", "Network"),
    "ranges.dialled": ("شماره‌گیری", "Dialled"),
    "ranges.delivered": ("زنگ خورد", "Delivered"),
    "ranges.ratio": ("نسبت", "Ratio"),
    "ranges.quarantined_until": ("قرنطینه تا", "Quarantined until"),
    "ranges.no_traffic": ("هنوز تماسی نبوده است.", "No calls yet."),
    "ranges.add": ("افزودن بازه", "Add a range"),
    "ranges.added": ("بازه افزوده شد.", "Range added."),
    "ranges.pause": ("توقف", "Pause"),
    "ranges.resume": ("ادامه", "Resume"),
    "ranges.quarantines": ("قرنطینه‌ها", "Quarantines"),
    "ranges.since": ("از", "Since"),
    "ranges.strikes": ("بار پیاپی", "In a row"),
    "ranges.baseline": ("نسبت بازه‌های دیگر", "Other ranges' ratio"),
    "ranges.released": ("آزاد شد", "Released"),
    "ranges.open": ("برقرار", "In force"),
    "ranges.last_for_network": (
        "هیچ بازه‌ی سالم دیگری به این شبکه نمی‌رسد",
        "No other healthy range reaches this network",
    ),
    "ranges.no_quarantines": ("هیچ بازه‌ای قرنطینه نشده است.", "No range was quarantined."),
    "operator.price": ("قیمت هر تماس", "Price per call"),
    "operator.default_limit": ("سقف بدهی پیش‌فرض سرویس‌ها", "Default credit limit of services"),
    "operator.total_limit": ("سقف بدهی کل حساب", "Account-wide credit limit"),
    "operator.services": ("سرویس‌ها", "Services"),
    "operator.topup": ("افزایش اعتبار", "Top up"),
    "operator.amount": ("مبلغ (ریال)", "Amount (rials)"),
    "operator.reference": ("مرجع پرداخت", "Payment reference"),
    # Not filled by t(): {name} by the template, {amount} by panel.js at the click.
    "operator.confirm_topup": (
        "اعتبار سرویس «{name}» به مبلغ {amount} ریال افزایش یابد؟",
        "Top up service “{name}” by {amount} rials?",
    ),
    "operator.topped_up": ("اعتبار افزایش یافت.", "Credit topped up."),
    "nav.webhooks": ("وب‌هوک‌ها", "Webhooks"),
    "webhooks.title": ("وب‌هوک‌ها", "Webhooks"),
    "webhooks.intro": (
        "نشانی‌هایی که رویدادهای تماس‌ها و اعتبار، امضاشده، به آن‌ها فرستاده می‌شود.",
        "Addresses that get your calls' and credit's events, signed.",
    ),
    "webhooks.none": ("هنوز وب‌هوکی ندارید.", "No webhooks yet."),
    "webhooks.create": ("افزودن وب‌هوک", "Add a webhook"),
    "webhooks.url": ("نشانی", "URL"),
    "webhooks.events": ("رویدادها", "Events"),
    "webhooks.invalid": (
        "نشانی باید با {http} یا {https} آغاز شود، و دست‌کم یک رویداد لازم است.",
        "The URL must start with {http} or {https}, and at least one event is needed.",
    ),
    "webhooks.enabled": ("فعال", "Enabled"),
    "webhooks.disabled": ("غیرفعال", "Disabled"),
    "webhooks.secret": ("کلید امضا", "Signing secret"),
    "webhooks.secret_once": (
        "این کلید فقط همین یک بار نمایش داده می‌شود؛ آن را جایی امن نگه دارید.",
        "This secret is shown only now; keep it somewhere safe.",
    ),
    "webhooks.test": ("فرستادن رویداد آزمایشی", "Send a test event"),
    "webhooks.test_sent": ("رویداد آزمایشی در صف فرستادن است.", "A test event is on its way."),
    "webhooks.enable": ("فعال کردن", "Enable"),
    "webhooks.disable": ("غیرفعال کردن", "Disable"),
    "webhooks.rotate": ("کلید امضای تازه", "New signing secret"),
    "webhooks.delete": ("حذف", "Delete"),
    "webhooks.deliveries": ("ارسال‌ها", "Deliveries"),
    "webhooks.no_deliveries": ("هنوز چیزی فرستاده نشده است.", "Nothing sent yet."),
    "webhooks.event": ("رویداد", "Event"),
    "webhooks.attempts": ("تلاش‌ها", "Attempts"),
    "webhooks.answer": ("پاسخ", "Answer"),
    "webhooks.resend": ("فرستادن دوباره", "Send again"),
    "webhooks.resent": ("دوباره فرستاده می‌شود.", "It is being sent again."),
    "webhooks.d_pending": ("در انتظار", "Pending"),
    "webhooks.d_delivered": ("رسید", "Delivered"),
    "webhooks.d_failed": ("ناموفق", "Failed"),
    "operator.streams": ("ورود درخواست‌ها از کافکا", "Requests over Kafka"),
    "operator.streams_off": (
        "این حساب هنوز درخواست‌هایش را از کافکا نمی‌فرستد.",
        "This account does not send its requests over Kafka yet.",
    ),
    "operator.streams_enable": ("فعال کردن", "Enable"),
    "operator.streams_ingress": ("تاپیک ورودی", "Ingress topic"),
    "operator.streams_results": ("تاپیک نتیجه‌ها", "Results topic"),
    "operator.streams_enabled": ("ورود از کافکا فعال شد.", "Requests over Kafka enabled."),
}


def parse_day(text: str) -> date:
    """A day as typed: ISO (`2026-11-27`, what a date input sends) or Jalali (`1405/09/06`),
    in Latin, Persian or Arabic-Indic digits."""
    text = text.strip().translate(LATIN_DIGITS)
    if "/" in text:
        year, month, day = (int(part) for part in text.split("/"))
        gregorian: date = jdatetime.date(year, month, day).togregorian()
        return gregorian
    return date.fromisoformat(text)


def digits(text: object, lang: Lang) -> str:
    return str(text).translate(PERSIAN_DIGITS) if lang == "fa" else str(text)


@dataclass(frozen=True)
class Words:
    """What a template writes with: `t` for words, `num`, `money`, `when` for values."""

    lang: Lang
    timezone: str

    @property
    def dir(self) -> str:
        return "rtl" if self.lang == "fa" else "ltr"

    def t(self, key: str, **values: object) -> str:
        fa, en = MESSAGES[key]
        text = fa if self.lang == "fa" else en
        if not values:
            return text
        # Each value is isolated (<bdi>): a Latin name or a "+98…" keeps its punctuation in
        # place on a right-to-left line. Markup, so the template does not escape it again.
        isolated = {
            k: v if isinstance(v, Markup) else Markup("<bdi>{}</bdi>").format(digits(v, self.lang))
            for k, v in values.items()
        }
        return Markup(escape(text)).format(**isolated)

    def invalid(self, label: str, valid: str) -> str:
        """What a field must be (not only that it is wrong): label and valid are message keys."""
        return self.t("error.valid", field=self.t(label), valid=Markup(escape(self.t(valid))))

    def problem(self, code: str, detail: str) -> str:
        """An API problem as the panel says it: Persian pages use the panel's words (the API's
        English detail names API fields); English pages keep the detail, which says more."""
        if self.lang == "fa":
            return PROBLEMS.get(code, PROBLEMS["invalid_request"])[0]
        return detail

    def num(self, value: int | None) -> str:
        if value is None:
            return "—"
        text = f"{value:,}"
        return text.replace(",", "٬").translate(PERSIAN_DIGITS) if self.lang == "fa" else text

    def money(self, value: int | None) -> str:
        if value is None:
            return "—"
        if value < 0 and self.lang == "fa":
            # «۸٬۰۰۰-» puts the minus on the wrong side in a right-to-left line: say it.
            return f"{self.num(-value)} {self.t('rials')} {self.t('debtor')}"
        return f"{self.num(value)} {self.t('rials')}"

    def problems(self) -> dict[str, str]:
        """Every problem code and verdict reason in this language."""
        index = LANGS.index(self.lang)
        return {code: words[index] for code, words in PROBLEMS.items()}

    def toman(self, rials: int) -> str:
        """A hint beside rials: what people say (a toman is ten rials)."""
        return f"{self.num(rials // 10)} {self.t('toman')}"

    def word(self, value: str | None) -> str:
        """A status or failure reason."""
        if value is None:
            return "—"
        if f"status.{value}" in MESSAGES:
            return self.t(f"status.{value}")
        if self.lang == "fa":
            return PERSIAN_WORDS.get(value, value)
        return value.replace("_", " ").capitalize()

    def network(self, name: str) -> str:
        """A mobile network's name (Persian where the carrier data has one)."""
        return network_name_fa(name) if self.lang == "fa" else name

    def when(self, value: datetime | None) -> str:
        """A time in the panel's time zone; Jalali with Persian digits in Persian."""
        if value is None:
            return "—"
        local = value.astimezone(ZoneInfo(self.timezone))
        if self.lang == "fa":
            text = jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d %H:%M:%S")
            return digits(text, "fa")
        return local.strftime("%Y-%m-%d %H:%M:%S")

    def day(self, value: datetime) -> str:
        local = value.astimezone(ZoneInfo(self.timezone))
        if self.lang == "fa":
            return digits(jdatetime.date.fromgregorian(date=local.date()).strftime("%m/%d"), "fa")
        return local.strftime("%m-%d")

    def phone(self, value: str | None) -> str:
        """Phone numbers keep Latin digits and left-to-right order (bidi-isolated in HTML)."""
        return value or "—"
