// flashcall panel: copy buttons, the calls-per-day chart, the Jalali date picker, money
// fields, forms that submit once, and the test-service flow.
"use strict";

// Deferred scripts run before DOMContentLoaded, in order: by then the chart library is loaded.
function onReady(fn) {
  if (document.readyState === "complete") fn();
  else document.addEventListener("DOMContentLoaded", fn);
}

function copyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent.trim();
      await navigator.clipboard.writeText(text);
      button.textContent = button.dataset.copied;
    });
  });
  // "Test with this key": hand the new key to the test page without putting it in a URL.
  document.querySelectorAll("[data-test-key]").forEach((link) => {
    link.addEventListener("click", () => {
      const text = document.getElementById(link.dataset.testKey).textContent.trim();
      sessionStorage.setItem("flashcall-test-key", text);
    });
  });
}

const persian = document.documentElement.lang === "fa";
const PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹";

// A whole number as the page writes it: grouped, in Persian digits on a Persian page.
function grouped(n) {
  const text = n.toLocaleString("en-US");
  return persian ? text.replace(/,/g, "٬").replace(/\d/g, (d) => PERSIAN_DIGITS[d]) : text;
}

// The digits of what was typed, in any script (Persian, Arabic-Indic or Latin), as ASCII.
function asciiDigits(text) {
  return text.replace(/[۰-۹]/g, (d) => String(d.charCodeAt(0) - 0x06f0))
    .replace(/[٠-٩]/g, (d) => String(d.charCodeAt(0) - 0x0660));
}

function chart() {
  const data = document.getElementById("chart-data");
  const target = document.getElementById("chart");
  if (!data || !target || !window.Chartist) return;
  const { labels, series } = JSON.parse(data.textContent);
  new window.Chartist.BarChart(target, { labels, series }, {
    stackBars: true,
    height: "240px",
    axisY: { onlyInteger: true, labelInterpolationFnc: (value) => grouped(Number(value)) },
  });
}

// Report filters on a Persian page: a Jalali calendar under each day field (typing still works).
function datePicker() {
  if (!window.jalaliDatepicker || !document.querySelector("input[data-jdp]")) return;
  window.jalaliDatepicker.startWatch({ persianDigits: true, autoShow: true });
}

// Money is grouped as it is typed, and its amount is said beside it in rials and toman
// (people say toman; a toman is ten rials). The server takes the grouping out again.
function moneyFields() {
  document.querySelectorAll("input[data-money]").forEach((input) => {
    const hint = document.getElementById(`${input.id}-hint`);
    const show = () => {
      const digitsAfter = asciiDigits(input.value.slice(input.selectionEnd ?? input.value.length))
        .replace(/\D/g, "").length;
      const plain = asciiDigits(input.value).replace(/[\s,_٬،\u00a0\u202f]/g, "");
      if (!/^\d+$/.test(plain)) {
        if (hint) hint.textContent = "";
        return;
      }
      const amount = Number(plain);
      input.value = grouped(amount);
      // The caret stays before the same digits it was before.
      let at = input.value.length;
      for (let seen = 0; at > 0 && seen < digitsAfter; at--) {
        if (/\d|[۰-۹]/.test(input.value[at - 1])) seen++;
      }
      if (document.activeElement === input) input.setSelectionRange(at, at);
      if (hint) hint.textContent = `${grouped(amount)} ${input.dataset.rials} = ${grouped(Math.floor(amount / 10))} ${input.dataset.toman}`;
    };
    input.addEventListener("input", show);
    show();
  });
}

// Forms posted to the panel submit once: their buttons are disabled while the page loads the
// answer (a double click would send the form twice). A form with data-confirm asks first.
function submitOnce() {
  document.querySelectorAll("form[method=post]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.busy === "yes") {
        event.preventDefault();
        return;
      }
      if (form.dataset.confirm) {
        const amount = form.querySelector("input[data-money]");
        const question = form.dataset.confirm.replace("{amount}", amount ? amount.value : "");
        if (!window.confirm(question)) {
          event.preventDefault();
          return;
        }
      }
      form.dataset.busy = "yes";
      // After this event: a disabled submitter would not be sent with the form.
      setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }));
    });
  });
  // Back to a page kept in the browser's cache: its forms may be sent again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-busy=yes]").forEach((form) => {
      form.dataset.busy = "";
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    });
  });
}

async function api(path, key, body, missing, idempotencyKey) {
  const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
  // One key per attempt: a request sent again (a lost answer) places or judges nothing twice.
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // A call is readable a moment after it is accepted: pollers may treat 404 as "not yet".
  if (response.status === 404 && missing !== undefined) return missing;
  const json = await response.json();
  if (!response.ok) {
    const error = new Error(json.detail || json.title || response.statusText);
    error.code = json.code;
    throw error;
  }
  return json;
}

async function until(read, done, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

// While a form's request is in flight its submit buttons are disabled: a double click sends
// one request, never two (two calls placed and billed, two verification attempts spent).
async function inFlight(form, work) {
  const buttons = form.querySelectorAll("button[type=submit], button:not([type])");
  if (form.dataset.busy === "yes") return;
  form.dataset.busy = "yes";
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await work();
  } finally {
    form.dataset.busy = "";
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function testService() {
  const form = document.getElementById("test-form");
  if (!form) return;
  const words = JSON.parse(document.getElementById("test-words").textContent);
  const status = document.getElementById("test-status");
  const handset = document.getElementById("handset");
  const verifyCard = document.getElementById("verify-card");
  const verifyForm = document.getElementById("verify-form");
  const result = document.getElementById("verify-result");
  const detailsCard = document.getElementById("details-card");
  const details = document.getElementById("call-details");
  const keyInput = document.getElementById("test-key");
  const handed = sessionStorage.getItem("flashcall-test-key");
  if (handed) {
    keyInput.value = handed;
    sessionStorage.removeItem("flashcall-test-key");
  }
  let call = null;

  // The call as a report row reads, rendered by the panel (its words, zone and calendar).
  async function show(c) {
    const response = await fetch(`/panel/test/calls/${c.id}`);
    if (!response.ok) return;
    details.innerHTML = await response.text();
    detailsCard.hidden = false;
  }

  // Each step of the call's workflow as it happens: its details are read again every second
  // while the call is open (a later call placed here stops the watch of an earlier one).
  let watched = null;
  async function watch(id) {
    watched = id;
    const deadline = Date.now() + 15 * 60 * 1000;
    while (watched === id && Date.now() < deadline) {
      await show({ id });
      if (details.querySelector("[data-open=no]")) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    inFlight(form, placeCall);
  });

  async function placeCall() {
    const key = keyInput.value.trim();
    handset.hidden = true;
    verifyCard.hidden = true;
    result.textContent = "";
    status.textContent = words.waiting;
    try {
      const phone = document.getElementById("test-phone").value;
      call = await api("/v1/calls", key, { phone }, undefined, crypto.randomUUID());
      const placed = call;
      watch(placed.id);
      call = await until(() => api(`/v1/calls/${placed.id}`, key, undefined, placed),
        (c) => !["queued", "dialing"].includes(c.status));
      await show(call);
      if (call.status !== "delivered") {
        const why = call.failure_reason;
        const reason = why ? ` (${words.reasons[why] || why})` : "";
        status.textContent = `${words.failed}: ${words.statuses[call.status] || call.status}${reason}`;
        return;
      }
      status.textContent = words.rang;
      verifyCard.hidden = false;
      if (form.dataset.sim === "yes") {
        const seen = await until(async () => {
          const response = await fetch(`/panel/test/handset/${call.id}`);
          return response.ok ? response.json() : null;
        }, (r) => r !== null, 10000);
        if (seen) {
          // The number reads left to right even in a right-to-left page: its last digits
          // (the code) must stay at its end.
          const number = document.createElement("bdi");
          number.dir = "ltr";
          number.id = "caller-number";
          number.textContent = seen.caller_number;
          handset.replaceChildren(`${words.handset} `, number, ` · ${seen.rang_at}`);
          handset.hidden = false;
        }
      }
      document.getElementById("test-code").focus();
    } catch (error) {
      status.textContent = words.problems[error.code] || error.message;
    }
  }

  verifyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (call) inFlight(verifyForm, verify);
  });

  async function verify() {
    const key = keyInput.value.trim();
    try {
      const code = document.getElementById("test-code").value.trim();
      const verdict = await api(`/v1/calls/${call.id}/verify`, key, { code });
      // Verified already (by this page a moment ago): that is a success, not a failure.
      const verified = verdict.verified || verdict.reason === "already_verified";
      result.textContent = verified
        ? words.verified
        : `${words.not_verified}: ${words.problems[verdict.reason] || verdict.reason}`
          + ` · ${verdict.attempts_left} ${words.attempts_left}`;
      result.className = verified ? "banner ok" : "banner error";
      // The call's record catches up with the verdict a moment later.
      await show(await until(() => api(`/v1/calls/${call.id}`, key),
        (c) => !verified || c.status === "verified", 5000));
    } catch (error) {
      result.textContent = words.problems[error.code] || error.message;
      result.className = "banner error";
    }
  }
}

onReady(() => {
  copyButtons();
  chart();
  datePicker();
  moneyFields();
  submitOnce();
  testService();
});
