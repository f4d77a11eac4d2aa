"""Accessibility checked in the page itself: axe-core's WCAG 2.2 A/AA rules, and our own basics
(every control has a label, text has a readable contrast, 4.5:1, against what it is drawn on)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from launch.platform import ROOT

# Fetched by `make test` (launch/fetch_assets.py), pinned.
AXE = ROOT / "var" / "test-assets" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_RUN_JS = """
async (tags) => {
  const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map(
    (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(", ")}`);
}
"""

PROBLEMS_JS = """
() => {
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) {
      problems.push(`no label: ${el.outerHTML.slice(0, 80)}`);
    }
  }
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const parts = rgb(getComputedStyle(node).backgroundColor);
      if (parts.length === 3 || (parts.length === 4 && parts[3] > 0.5)) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const texts = document.querySelectorAll(
    "a, button, label, th, td, p, h1, h2, h3, dt, dd, small, .status, .banner, li");
  for (const el of texts) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const fg = luminance(rgb(getComputedStyle(el).color).slice(0, 3));
    const bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.outerHTML.slice(0, 80)}`);
  }
  return problems;
}
"""


def problems(page: Page) -> list[str]:
    """axe-core's violations and ours, as one list (empty when the page is fine)."""
    found: list[str] = page.evaluate(PROBLEMS_JS)
    return found + axe_violations(page)


def axe_violations(page: Page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` fetches axe-core")
    # Evaluated through the DevTools protocol, so the page's CSP (scripts only from the app)
    # does not refuse it and needs no loosening for the test.
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(AXE.read_text("utf-8") + "\n;undefined")
    found: list[str] = page.evaluate(AXE_RUN_JS, AXE_TAGS)
    return found


def tab_reaches(page: Page, selector: str, presses: int = 30) -> bool:
    """Whether pressing Tab from the top of the page focuses `selector` (keyboard reachable)."""
    page.locator("body").focus()
    target = page.locator(selector).first.element_handle()
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return True
    return False
