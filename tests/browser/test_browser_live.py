"""The Attack Lab in a real browser while the attack runs: intermediate states of the adversarial
image appear before the final result, and Stop keeps the best example found so far."""
from __future__ import annotations

import re

import pytest

from tests.browser_util import app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Records every live caption the page shows (a MutationObserver sees states a poll would miss) and
# the src of the image above it, so the test can tell that the picture itself changed.
OBSERVE = """() => {
  window.__live = [];
  const seen = new Set();
  const grab = () => {
    document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"], figure, div').forEach(el => {
      const t = el.innerText || '';
      const m = t.match(/^Live, step (\\d+) of (\\d+)/m);
      if (!m) return;
      const img = el.querySelector('img');
      const key = m[1] + '|' + (img ? img.src.length + ':' + img.src.slice(-40) : '');
      if (!seen.has(key)) { seen.add(key); window.__live.push({step: +m[1], total: +m[2], src: img ? img.src.slice(-60) : ''}); }
    });
  };
  new MutationObserver(grab).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_live_states_then_result_and_stop_keeps_the_best():
    require_browser()
    with app_server() as url, browser_page(width=1440, height=1800) as page:
        page.goto(f"{url}/attack_lab?attack=PGD&steps=60", wait_until="networkidle")
        page.get_by_role("button", name="Run attack").wait_for(timeout=90_000)
        page.evaluate(OBSERVE)
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text("Replay the attack", exact=False).first.wait_for(timeout=120_000)
        states = page.evaluate("window.__live")
        steps = sorted({s["step"] for s in states})
        assert len(steps) >= 2, f"fewer than two intermediate states were shown: {states}"
        assert all(s["total"] == 60 and s["step"] < 60 for s in states)
        assert len({s["src"] for s in states}) >= 2  # the image itself changed, not only its caption
        assert page.get_by_text("Live, step", exact=False).count() == 0  # the live view is gone

        # A long run, stopped: the page keeps the best example found so far.
        page.goto(f"{url}/attack_lab?attack=PGD&steps=200", wait_until="networkidle")
        page.get_by_role("button", name="Run attack").wait_for(timeout=90_000)
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text("Live, step", exact=False).first.wait_for(timeout=120_000)
        page.get_by_role("button", name="⏹ Stop").click()
        page.get_by_text("Stopped at step", exact=False).first.wait_for(timeout=60_000)
        text = page.inner_text("body")
        m = re.search(r"Stopped at step (\d+) of 200\. The best example so far \(step (\d+)\)", text)
        assert m, text[-3000:]
        assert 1 <= int(m.group(2)) <= int(m.group(1)) < 200
        assert "Best so far:" in text  # the kept image's caption
        page.screenshot(path="tests/_artifacts/attack_lab_stopped.png")
