"""Click → result latency of every page's default action, measured in a real browser.

Starts the app (``streamlit run app.py``) on a free 127.0.0.1 port, drives Debian's Chromium
(/usr/bin/chromium) with playwright at 1440×900, and for each page: opens it in a fresh browser
session, waits until the first script run is idle, clicks the page's main button (found by its
label text; pages that compute on load are timed from navigation), and waits for the result.

"Result shown" means: one of the page's result markers (a text or a CSS selector, any of a
short list so that small layout changes do not break it) is visible in an element that is not
stale (Streamlit marks the previous run's elements ``data-stale="true"`` while a rerun is
going on), and either no spinner or unfinished progress bar is visible or the script run has
ended (a page may leave a bar on screen after its work). The script then also waits for the run
to end (the app root's script state leaves "running") and reports that as ``idle``.
The condition is watched inside the page (a MutationObserver, ``WATCH_JS``) and timed by the
page's own clock from the click event, so the measurement adds almost no load to the machine.
Every run uses a new browser context (a new Streamlit session), so an earlier run's result can
never be mistaken for the new one; the server process (and its model cache) is shared, so the
first run of a page includes loading its model and is reported separately from the median of
the others.

A page that shows an exception or an error, or no result within ``--timeout`` seconds, is
reported as failed (with the reason) and the benchmark carries on.

    .venv/bin/python bench/page_latency.py                      # every page, 3 runs each
    .venv/bin/python bench/page_latency.py --pages attack_lab,curves --runs 5
    .venv/bin/python bench/page_latency.py --presenter --screenshots /tmp/shots

The target of issue 16 is every page's default run within 3 s on a 2-core CPU. Timings depend on
the machine's load: record the machine and the load with the figures (docs/BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TARGET_S = 3.0

RUNNING = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'
SPINNER = '[data-testid="stSpinner"]'
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'


@dataclass
class PageSpec:
    """How to drive one page: its URL path, the labels its main button may have (tried in order,
    exact match), and result markers ("css:" + selector, or a text that must be visible). An empty
    ``buttons`` list means the page computes on load."""

    name: str
    path: str
    buttons: list[str]
    markers: list[str]
    title: str = ""
    notes: list[str] = field(default_factory=list)


PAGES: dict[str, PageSpec] = {p.name: p for p in [
    PageSpec("attack_lab", "attack_lab", ["Run attack", "Run", "Attack"],
             ["L∞ of δ", "Replay the attack", "css:[class*='st-key-lab_adv_bar']"], "Attack Lab"),
    PageSpec("defenses", "defenses", ["Run", "Run defenses", "Compare defenses"],
             ["Total time", "css:[class*='st-key-def_summary']"], "Defenses"),
    PageSpec("certify", "certify", ["Certify", "Run"],
             ["Votes of the n", "css:[class*='st-key-cert_compare']"], "Certify"),
    PageSpec("segmentation", "segmentation", ["Run attack", "Run"],
             ["Which pixels flipped", "IoU, attacked", "css:[class*='st-key-seg_compare']"], "Segmentation"),
    PageSpec("saliency", "saliency", ["Compute", "Run"],
             ["css:[class*='st-key-sal_fig_']", "What am I looking at?"], "Saliency"),
    PageSpec("channels", "channels", ["Compute", "Run"],
             ["Σ PR r·ā", "css:[class*='st-key-ch_profile_']"], "Channels"),
    PageSpec("feature_maps", "feature_maps", ["Compare", "Run"],
             ["the same Gaussian draw", "css:[class*='st-key-fm_sens']"], "Feature maps"),
    PageSpec("zoo", "zoo", ["Attack and explain", "Run"],
             ["The perturbations (amplified)", "css:[class*='st-key-zoo_outcome']"], "Model zoo"),
    PageSpec("curves", "curves", ["Run"],
             ["Markers: ✓", "css:[class*='st-key-cur_fig']"], "Robustness curves"),
    PageSpec("batch", "batch", ["Run"],
             ["share of images still classified", "css:[class*='st-key-batch_fig']"], "Batch evaluation"),
]}


# --------------------------------------------------------------------------- server and browser
# The test suite's server helper (free loopback port, health check, always stopped): one copy of it.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from browser_util import app_server  # noqa: E402


# --------------------------------------------------------------------------- one measurement
class PageFailed(Exception):
    pass


def _visible_count(page, selector: str) -> int:
    """How many elements matching ``selector`` are visible and not in a stale element container."""
    return page.evaluate(
        """(sel) => {
            let n = 0;
            for (const el of document.querySelectorAll(sel)) {
                const r = el.getBoundingClientRect();
                if (r.width === 0 && r.height === 0) continue;
                const c = el.closest('[data-testid="stElementContainer"]');
                if (c && c.getAttribute('data-stale') === 'true') continue;
                n += 1;
            }
            return n;
        }""", selector)


def _script_running(page) -> bool:
    """Whether a script run is going on (the app root's state attribute, with the status
    widget's running icon as a fallback)."""
    state = page.evaluate(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a ? a.getAttribute('data-test-script-state') : null; }")
    if state is not None:
        return state in ("initial", "running", "rerunRequested")
    return bool(_visible_count(page, RUNNING))


# The result is watched from inside the page, not polled from Python: a poll is several CDP round
# trips, each walking the whole DOM, every 40 ms, and on a 2-core machine that load fell on the same
# cores as the page it measured (its browser and its computation).
# The watcher below re-checks the same condition as before (a marker visible in a non-stale
# element, and no spinner or unfinished bar, or the run has ended) after DOM changes, at most
# every 16 ms, and stores the page's own clock at the click and at the first time it held.
WATCH_JS = """(markers) => {
    const visible = (el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) return false;
        const c = el.closest('[data-testid="stElementContainer"]');
        return !(c && c.getAttribute('data-stale') === 'true');
    };
    const textShown = (text) => {
        const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        let n;
        while ((n = w.nextNode())) {
            if (!n.textContent.includes(text)) continue;
            const el = n.parentElement;
            if (!el || !visible(el)) continue;
            if (el.closest('details:not([open]) > :not(summary)')) continue;
            return true;
        }
        return false;
    };
    const markerShown = () => {
        for (const m of markers) {
            if (m.startsWith('css:')) {
                for (const el of document.querySelectorAll(m.slice(4))) if (visible(el)) return m;
            } else if (textShown(m)) return m;
        }
        return null;
    };
    const busy = () => {
        for (const el of document.querySelectorAll('[data-testid="stSpinner"]')) if (visible(el)) return true;
        for (const el of document.querySelectorAll('[data-testid="stProgress"]')) {
            if (!visible(el)) continue;
            const bar = el.querySelector('[role="progressbar"]');
            const v = bar ? parseFloat(bar.getAttribute('aria-valuenow')) : NaN;
            if (!(v >= 100)) return true;
        }
        return false;
    };
    const running = () => {
        const a = document.querySelector('[data-testid="stApp"]');
        const st = a ? a.getAttribute('data-test-script-state') : null;
        return st === null ? false : ['initial', 'running', 'rerunRequested'].includes(st);
    };
    const w = {click: null, result: null, marker: null, pending: false};
    window.__pageLatency = w;
    const check = () => {
        w.pending = false;
        if (w.click === null || w.result !== null) return;
        const m = markerShown();
        if (m && (!busy() || !running())) { w.result = performance.now(); w.marker = m; obs.disconnect(); }
    };
    const obs = new MutationObserver(() => { if (!w.pending) { w.pending = true; setTimeout(check, 16); } });
    document.addEventListener('click', () => { if (w.click === null) w.click = performance.now(); }, true);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    w.check = check;
}"""


# Red boxes that are results, not failures: the pages show a verdict such as "the attack gets
# through the defense" in an error box. A failure is an exception, or an error box with one of the
# pages' error phrasings.
FAILURE_WORDS = ("cannot", "could not", "error", "exception", "traceback")


def _problem(page) -> str | None:
    """The text of a visible exception or error message (not a red verdict), if any."""
    for sel, what in ((EXCEPTION, "exception"), (ERROR, "error")):
        loc = page.locator(sel)
        for i in range(_visible_count(page, sel) and loc.count()):
            txt = " ".join(loc.nth(i).inner_text(timeout=2000).split())
            if what == "exception" or any(w in txt.lower() for w in FAILURE_WORDS):
                return f"{what}: {txt[:300]}"
    return None


def _wait_idle(page, timeout: float, quiet_s: float = 0.4) -> float:
    """Wait until no script run and no spinner has been seen for ``quiet_s``; returns the time it
    became idle. (Progress bars are not waited for: a page may leave a finished or stopped bar
    on screen.)"""
    deadline = time.perf_counter() + timeout
    quiet_since = None
    while time.perf_counter() < deadline:
        busy = _script_running(page) or _visible_count(page, SPINNER)
        now = time.perf_counter()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return quiet_since
        page.wait_for_timeout(50)
    raise PageFailed(f"the page was still busy after {timeout:.0f} s")


def _find_button(page, labels: list[str], timeout: float = 30):
    """The first visible, enabled button whose label is one of ``labels`` (exact), waiting up to
    ``timeout`` seconds for it (a loaded machine may draw the sidebar late)."""
    deadline = time.perf_counter() + timeout
    while True:
        for lab in labels:
            loc = page.get_by_role("button", name=lab, exact=True)
            for i in range(loc.count()):
                b = loc.nth(i)
                if b.is_visible() and b.is_enabled():
                    return b, lab
        if time.perf_counter() > deadline:
            raise PageFailed(f"no enabled button labelled {' / '.join(repr(b) for b in labels)}")
        page.wait_for_timeout(200)


@dataclass
class Measurement:
    ok: bool
    result_s: float | None = None  # click -> marker visible and no progress
    idle_s: float | None = None  # click -> the run has ended
    load_s: float | None = None  # navigation -> first run idle
    button: str = ""
    button_y: float | None = None  # top of the button before any scrolling (px from the viewport top)
    marker: str = ""
    error: str = ""
    payload_kb: float | None = None  # websocket bytes the browser received after the click
    server: dict | None = None  # the server's stages for the click's script runs (ui/timings.py)


def _server_stages(timings_file: Path | None, since: float, page_path: str) -> dict | None:
    """The click's script runs of ``page_path`` as ui/timings.py recorded them, summed: the script
    runs' seconds and each stage's seconds and count."""
    if timings_file is None or not timings_file.exists():
        return None
    total: dict = {"runs": 0, "seconds": 0.0, "stages": {}}
    for line in timings_file.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["t"] < since - 0.05 or rec["page"].strip("/") != page_path.strip("/"):
            continue
        total["runs"] += 1
        total["seconds"] += rec["seconds"]
        for k, v in rec["stages"].items():
            agg = total["stages"].setdefault(k, {"seconds": 0.0, "count": 0, "bytes": 0})
            for f in agg:
                agg[f] += v[f]
    return total if total["runs"] else None


def measure(ctx_factory, base_url: str, spec: PageSpec, timeout: float, presenter: bool,
            screenshot: Path | None, timings_file: Path | None = None) -> Measurement:
    ctx = ctx_factory()
    page = ctx.new_page()
    received = {"on": False, "bytes": 0}

    def on_ws(ws) -> None:
        def frame(payload) -> None:
            if received["on"]:
                received["bytes"] += len(payload)
        ws.on("framereceived", frame)

    page.on("websocket", on_ws)
    try:
        t_nav = time.perf_counter()
        page.goto(f"{base_url}/{spec.path}", wait_until="domcontentloaded")
        page.locator('[data-testid="stSidebar"]').first.wait_for(timeout=timeout * 1000)
        page.wait_for_timeout(300)  # let the first script run start
        t_loaded = _wait_idle(page, timeout)
        load_s = t_loaded - t_nav
        if presenter:  # the sidebar's switch (a session setting, not a URL parameter)
            page.get_by_text("Presenter mode", exact=False).first.click()
            page.wait_for_timeout(300)
            _wait_idle(page, timeout)
        if (p := _problem(page)) is not None:
            raise PageFailed(f"on load, {p}")
        if spec.buttons:
            button, label = _find_button(page, spec.buttons)
            box = button.bounding_box()
            button_y = None if box is None else box["y"]
            button.scroll_into_view_if_needed()
            page.evaluate(WATCH_JS, spec.markers)
            received["on"], wall0 = True, time.time()
            t0 = time.perf_counter()
            button.click()
        else:
            label, button_y, t0 = "(on load)", None, t_nav
            page.evaluate(WATCH_JS, spec.markers)  # the page's clock starts at its navigation: click = 0
            page.evaluate("() => { window.__pageLatency.click = 0; window.__pageLatency.check(); }")
            wall0 = time.time() - (time.perf_counter() - t_nav)
        deadline = t0 + timeout
        result_t = None
        marker = None
        while time.perf_counter() < deadline:
            if (p := _problem(page)) is not None:
                raise PageFailed(p)
            got = page.evaluate("() => { const w = window.__pageLatency;"
                                " return w && w.result !== null ? [w.click, w.result, w.marker] : null; }")
            if got is not None:
                click_ms, result_ms, marker = got
                # the page's own clock: from the click's event to the check that saw the result
                result_t = t0 + (result_ms - (click_ms if click_ms is not None else result_ms)) / 1000
                break
            page.wait_for_timeout(200)
        if result_t is None:
            raise PageFailed(f"no result marker ({', '.join(spec.markers)}) within {timeout:.0f} s")
        idle_t = _wait_idle(page, max(1.0, deadline - time.perf_counter()))
        if (p := _problem(page)) is not None:
            raise PageFailed(f"after the result, {p}")
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        return Measurement(True, result_t - t0, max(idle_t, result_t) - t0, load_s, label, button_y, marker or "",
                           payload_kb=received["bytes"] / 1024, server=_server_stages(timings_file, wall0, spec.path))
    except PageFailed as e:
        return Measurement(False, error=str(e))
    except Exception as e:  # playwright timeouts, a closed page …: report, do not crash
        return Measurement(False, error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
    finally:
        ctx.close()


def _median(vals: list) -> float:
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else 0.0


def print_breakdown(summary: list) -> None:
    """Where the time goes, per page (medians over the runs after the first, or the first alone):
    click → result in the browser; the server's script runs for that click and, inside them, the
    computation, the figures and the images; the rest of the server's time; the websocket payload;
    and what is left for the network and the browser's drawing."""
    print("\nBreakdown (seconds; medians):")
    print(f"{'page':<14} {'result':>7} {'server':>7} {'compute':>8} {'figures (n)':>12} {'images (n)':>11} "
          f"{'other':>6} {'browser':>8} {'payload':>9} {'reruns':>6}")
    for name, first, rest in summary:
        runs = [m for m in (rest or [first]) if m.ok and m.server]
        if not runs:
            continue

        def stage(m: Measurement, k: str, f: str = "seconds") -> float:
            return m.server["stages"].get(k, {}).get(f, 0)

        res, srv = _median([m.result_s for m in runs]), _median([m.server["seconds"] for m in runs])
        comp, figs, imgs = (_median([stage(m, k) for m in runs]) for k in ("compute", "figures", "images"))
        nfig, nimg = (_median([stage(m, k, "count") for m in runs]) for k in ("figures", "images"))
        print(f"{name:<14} {res:>7.2f} {srv:>7.2f} {comp:>8.2f} {figs:>7.2f} ({nfig:>2.0f}) {imgs:>6.2f} ({nimg:>2.0f}) "
              f"{srv - comp - figs - imgs:>6.2f} {res - srv:>8.2f} {_median([m.payload_kb for m in runs]):>7.0f}KB "
              f"{_median([m.server['runs'] for m in runs]):>6.0f}")
    print("server = the click's script runs on the server (ui/timings.py); compute = run_and_show's computation "
          "(model calls, analysis); figures / images = building and sending plotly charts / pictures (count); "
          "other = the rest of the script (widgets, predictions outside compute, tables); browser = result − "
          "server (network, drawing; negative when the marker shows before the script ends); payload = websocket "
          "bytes received after the click; reruns = script runs for the click.")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the server (finally)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", default=",".join(PAGES),
                    help=f"comma-separated, from: {', '.join(PAGES)} (default: all)")
    ap.add_argument("--runs", type=int, default=3, help="runs per page; the first is reported separately")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per run before a page counts as failed")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--presenter", action="store_true", help="switch presenter mode on (the sidebar toggle) before each run")
    ap.add_argument("--screenshots", type=Path, default=None, help="folder for a screenshot after each page's last run")
    ap.add_argument("--url", default=None, help="measure an app already running at this URL instead of starting one")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.pages.split(",") if n.strip()]
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        ap.error(f"unknown page(s) {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"page_latency: {len(names)} page(s) × {args.runs} run(s), viewport {args.width}×{args.height}"
          f"{', presenter mode' if args.presenter else ''}; {os.cpu_count()} CPU(s), load average {load:.2f}",
          flush=True)
    timings_file = None
    if not args.url:  # the server we start records where its time goes (ui/timings.py)
        timings_file = Path(tempfile.mkdtemp(prefix="page-latency-")) / "timings.jsonl"
        os.environ["EXPLORER_TIMINGS"] = str(timings_file)
    server = contextlib.nullcontext(args.url.rstrip("/")) if args.url else app_server()
    summary: list[tuple[str, Measurement | None, list[Measurement]]] = []
    with server as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            def new_context():
                return browser.new_context(viewport={"width": args.width, "height": args.height})

            header = f"{'page':<14} {'first':>7} {'median':>7} {'idle':>7} {'load':>6} {'btn y':>6} {'cpu l':>5}  runs"
            print(header, flush=True)
            for name in names:
                spec = PAGES[name]
                runs: list[Measurement] = []
                for r in range(args.runs):
                    shot = (args.screenshots / f"{name}{'_presenter' if args.presenter else ''}.png"
                            if args.screenshots and r == args.runs - 1 else None)
                    m = measure(new_context, url, spec, args.timeout, args.presenter, shot, timings_file)
                    runs.append(m)
                    if not m.ok and r == 0:
                        break  # the first run failed: do not wait for the others to fail too
                first, rest = runs[0], runs[1:]
                summary.append((name, first, rest))
                if not first.ok:
                    print(f"{name:<14} FAILED: {first.error}", flush=True)
                    continue
                ok_rest = [m for m in rest if m.ok]
                med = statistics.median(m.result_s for m in ok_rest) if ok_rest else None
                med_idle = statistics.median(m.idle_s for m in ok_rest) if ok_rest else first.idle_s
                med_load = statistics.median(m.load_s for m in ok_rest) if ok_rest else first.load_s
                f = lambda v: "—" if v is None else f"{v:.2f}"
                print(f"{name:<14} {f(first.result_s):>7} {f(med):>7} {f(med_idle):>7} {f(med_load):>6} "
                      f"{'—' if first.button_y is None else f'{first.button_y:.0f}':>6} {os.getloadavg()[0]:>5.1f}  "
                      + " ".join(f"{m.result_s:.2f}" if m.ok else "FAIL" for m in runs)
                      + ("" if all(m.ok for m in rest) else
                         "  (" + "; ".join(m.error for m in rest if not m.ok) + ")"), flush=True)
        finally:
            browser.close()

    print_breakdown(summary)
    print("\nfirst = first run (includes loading the page's model); median = median of the other runs, "
          "click → result shown; idle = click → run finished; load = navigation → first script run idle; "
          f"btn y = top of the main button at {args.width}×{args.height} before scrolling (> {args.height}: off-screen); "
          "cpu l = the machine's 1-minute load average after the page (more than the CPU count: timings inflated).")
    failed = [n for n, first, rest in summary if not first.ok or any(not m.ok for m in rest)]
    timed = {n: (statistics.median(m.result_s for m in rest if m.ok) if any(m.ok for m in rest) else first.result_s)
             for n, first, rest in summary if first.ok}
    over = sorted((n for n, t in timed.items() if t > TARGET_S), key=lambda n: -timed[n])
    print(f"SUMMARY: {len(timed) - len(over)}/{len(summary)} page(s) within {TARGET_S:g} s"
          + (f"; over: {', '.join(f'{n} {timed[n]:.1f} s' for n in over)}" if over else "")
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 0 if not over and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
