"""Soak test: one app server on 127.0.0.1, N browser sessions at once, each running attacks in
the Attack Lab for a bounded number of iterations and a bounded time.

It starts the server itself (``streamlit run app.py`` on a free loopback port; it never talks to
anything else), opens N pages of one headless Chromium (each page is its own Streamlit session,
its own websocket), and in every session repeats: open the Attack Lab with a configuration from
the URL (attacks, defenses, seeds and photos vary between sessions and iterations), wait until it
is ready, press **Run attack**, wait until the result is shown and the run has finished. It
reports

* throughput: finished runs per minute over the whole soak;
* latency percentiles (p50/p90/p99) of page loads (navigation → ready) and of runs
  (click → result shown and script finished), as the user sees them;
* the server's peak memory (``VmHWM`` of its process, sampled and read at the end) and its
  memory at the end (``VmRSS``), to show whether memory keeps growing;
* errors: pages showing a traceback, Streamlit's redacted error, or an attack error.

With ``--hostile K``, K more sessions upload hostile files for as long as the ordinary sessions
run, cycling through: a progressive JPEG with 20,000 scans (a scan bomb), a PNG of 50,000 chunks,
a valid 40-megapixel PNG (the most a single file may cost), a ZIP of 200 cut 40-megapixel PNGs to
the Batch page (an archive pixel bomb: stopped by the set's pixel budget), and a ZIP whose member
names are Markdown images/links. The ordinary sessions' latencies then show what the hostile
uploads cost other visitors; the hostile uploads' own latencies and any error are reported too.

The browser runs on the same machine, so on a small CPU its rendering competes with the server;
the latencies are what a user on that machine would see, not the server's alone.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/soak.py --sessions 8 --iterations 3 --max-seconds 600

Needs Debian's chromium (/usr/bin/chromium) and the playwright Python package (requirements-dev).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The workload: cheap-to-moderate Attack Lab runs at 224 px; session i, iteration j uses
# WORKLOAD[(i + j) % len(WORKLOAD)] with seed 100·i + j.
WORKLOAD = [
    {"attack": "FGSM"},
    {"attack": "PGD", "steps": "5"},
    {"attack": "N-FGSM", "sample": "coffee"},
    {"attack": "TRADES-KL", "steps": "3"},
    {"attack": "APGD-CE", "steps": "5", "sample": "coffee"},
    {"attack": "PGD", "steps": "3", "defense": "JPEG", "adaptive": "1"},
    {"attack": "FGSM", "defense": "Bit-depth reduction", "adaptive": "0", "sample": "coffee"},
    {"attack": "PGD", "steps": "3", "defense": "Median filter", "adaptive": "1"},
    {"attack": "CW-L2"},
]
ERROR_MARKERS = ("Traceback", "redacted", "Cannot run this attack")


def hostile_files() -> list[tuple[str, str, bytes, str]]:
    """(page, file name, bytes, text that shows the page has dealt with it)."""
    import io
    import zipfile

    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from hostile_corpus import _png_chunk, _png_raw, cut_png, zeros_png  # noqa: PLC0415 - the test corpus
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (120, 80, 40)).save(buf, "JPEG", quality=50, progressive=True)
    prog = buf.getvalue()
    last = prog.rfind(b"\xff\xda")
    scan_bomb = prog[:-2] + prog[last:-2] * 20_000 + b"\xff\xd9"
    rows = b"\x00" + bytes(12)
    chunks = _png_raw(4, 1, 8, 2, rows, extra=[_png_chunk(b"tEXt", b"k\x00v")] * 50_000)

    def zipped(entries) -> bytes:
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, d in entries:
                zf.writestr(n, d)
        return z.getvalue()

    cut = cut_png(7000, 5700)
    names = zipped([("![x](http://127.0.0.1:9/beacon.png).png", zeros_png(64, 48)),
                    (":red[**x**] $y$ <img src=x>.txt", b"not an image")])
    return [("attack_lab", "scan_bomb.jpg", scan_bomb, r"Could not use"),
            ("attack_lab", "chunks.png", chunks, r"Could not use"),
            ("attack_lab", "big_40MP.png", zeros_png(7000, 5700), r"Clean prediction \(top 5\)"),
            ("batch", "pixel_bomb.zip", zipped([(f"{i:03d}.png", cut) for i in range(200)]),
             r"for one set"),  # the set's pixel (or time) budget stopped reading
            ("batch", "names.zip", names, r"image\(s\):")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM and VmRSS of a process in MB (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(host: str = "127.0.0.1", timeout: float = 120):
    """``streamlit run app.py`` on a free loopback port; yields (url, process)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the soak test only runs against a loopback address")
    port = _free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", host, "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE")),
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            log.seek(0)
            raise RuntimeError("the server did not start: " + log.read().decode(errors="replace")[-2000:])
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Stats:
    hostile: list[tuple[str, float]] = field(default_factory=list)  # (file, seconds until dealt with)
    loads: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hwm_mb: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    unfinished: int = 0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (as numpy's default), q in [0, 100]."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


async def _wait_idle(page, timeout_ms: float) -> None:
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')", timeout=timeout_ms)


async def session(i: int, ctx, url: str, iterations: int, deadline: float, stats: Stats) -> None:
    page = await ctx.new_page()
    try:
        for j in range(iterations):
            left_ms = (deadline - time.monotonic()) * 1000
            if left_ms <= 0:
                stats.unfinished += iterations - j
                return
            cfg = dict(WORKLOAD[(i + j) % len(WORKLOAD)], seed=str(100 * i + j))
            try:
                t0 = time.perf_counter()
                await page.goto(f"{url}/attack_lab?{urlencode(cfg)}", wait_until="domcontentloaded")
                await page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=left_ms)
                await page.get_by_role("button", name="Run attack").wait_for(timeout=left_ms)
                await _wait_idle(page, left_ms)
                stats.loads.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await page.get_by_role("button", name="Run attack").click()
                await page.get_by_text("Replay the attack").first.wait_for(timeout=left_ms)
                await page.get_by_text("Prediction on the downloaded file").first.wait_for(timeout=left_ms)
                await _wait_idle(page, left_ms)
                stats.runs.append(time.perf_counter() - t0)
                body = await page.inner_text("body")
                bad = [m for m in ERROR_MARKERS if m in body]
                if bad:
                    stats.errors.append(f"session {i} run {j} {cfg}: {bad}")
            except Exception as e:  # noqa: BLE001 - a timeout or a crashed page is a result here
                if time.monotonic() >= deadline:
                    stats.unfinished += iterations - j
                    return
                stats.errors.append(f"session {i} run {j} {cfg}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        await page.close()


async def hostile_session(i: int, ctx, url: str, files, stop: asyncio.Event, stats: Stats) -> None:
    """Uploads hostile files one after another until ``stop`` is set."""
    page = await ctx.new_page()
    try:
        k = i * 3  # sessions start at different files (the archive pixel bomb among the first)
        while not stop.is_set():
            where, name, data, done_text = files[k % len(files)]
            k += 1
            try:
                t0 = time.perf_counter()
                if where == "attack_lab":
                    await page.goto(f"{url}/attack_lab?src=upload", wait_until="domcontentloaded")
                else:
                    await page.goto(f"{url}/batch?src=zip", wait_until="domcontentloaded")
                await page.locator("input[type=file]").first.wait_for(state="attached", timeout=300_000)
                await page.locator("input[type=file]").first.set_input_files(
                    files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])
                await page.get_by_text(re.compile(done_text)).first.wait_for(state="attached", timeout=300_000)
                await _wait_idle(page, 300_000)
                stats.hostile.append((name, time.perf_counter() - t0))
                if name == "pixel_bomb.zip":
                    note = await page.get_by_text(re.compile(done_text)).first.text_content()
                    stats.hostile.append((f"pixel_bomb.zip: {note[note.find('Stopped'):][:140]}", 0.0))
                body = await page.inner_text("body")
                bad = [m for m in ("Traceback", "redacted") if m in body]
                if bad or await page.locator("img[src*='beacon']").count():
                    stats.errors.append(f"hostile {i} {name}: {bad or 'beacon image'}")
            except Exception as e:  # noqa: BLE001
                if not stop.is_set():
                    stats.errors.append(f"hostile {i} {name}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        await page.close()


async def sampler(pid: int, stats: Stats, stop: asyncio.Event, t_start: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            s = proc_status(pid)
            stats.hwm_mb = max(stats.hwm_mb, s.get("VmHWM", 0.0))
            stats.rss_samples.append((time.perf_counter() - t_start, s.get("VmRSS", 0.0)))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def soak(url: str, pid: int, n: int, iterations: int, max_seconds: float,
               hostile: int = 0) -> tuple[Stats, float]:
    from playwright.async_api import async_playwright

    stats = Stats()
    profile = tempfile.mkdtemp(prefix="soak-chromium-")
    try:
        async with async_playwright() as pw:
            ctx = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1400, "height": 2000})
            stop = asyncio.Event()
            t0 = time.perf_counter()
            deadline = time.monotonic() + max_seconds
            mon = asyncio.create_task(sampler(pid, stats, stop, t0))
            stop_hostile = asyncio.Event()
            files = hostile_files() if hostile else []
            bad = [asyncio.create_task(hostile_session(i, ctx, url, files, stop_hostile, stats)) for i in range(hostile)]
            await asyncio.gather(*(session(i, ctx, url, iterations, deadline, stats) for i in range(n)))
            wall = time.perf_counter() - t0
            stop_hostile.set()
            for t in bad:
                t.cancel()
            await asyncio.gather(*bad, return_exceptions=True)
            stop.set()
            await mon
            await ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return stats, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=3, help="runs per session")
    ap.add_argument("--max-seconds", type=float, default=600, help="stop starting new work after this long")
    ap.add_argument("--hostile", type=int, default=0, help="extra sessions uploading hostile files meanwhile")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    if not (1 <= args.sessions <= 64 and 1 <= args.iterations <= 100 and 0 < args.max_seconds <= 3600
            and 0 <= args.hostile <= 16):
        raise SystemExit("--sessions 1..64, --iterations 1..100, --max-seconds up to 3600, --hostile 0..16")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")

    with server() as (url, proc):
        # Warm-up: one session loads the page once, so the model load is not in the numbers.
        warm, _ = asyncio.run(soak(url, proc.pid, 1, 1, 180))
        cpu0 = cpu_seconds(proc.pid)
        stats, wall = asyncio.run(soak(url, proc.pid, args.sessions, args.iterations, args.max_seconds, args.hostile))
        cpu = cpu_seconds(proc.pid) - cpu0
        end = proc_status(proc.pid)
        stats.hwm_mb = max(stats.hwm_mb, end.get("VmHWM", 0.0))

    done = len(stats.runs)
    rss = [r for _, r in stats.rss_samples]
    result = {
        "sessions": args.sessions, "iterations": args.iterations, "max_seconds": args.max_seconds,
        "hostile_sessions": args.hostile,
        "hostile_uploads": {n: [round(t, 1) for m, t in stats.hostile if m == n] for n in {m for m, _ in stats.hostile}},
        "runs_finished": done, "runs_unfinished": stats.unfinished, "errors": stats.errors,
        "wall_s": round(wall, 1), "throughput_runs_per_min": round(60 * done / wall, 2) if wall else None,
        "run_latency_s": {f"p{q}": round(percentile(stats.runs, q), 2) for q in (50, 90, 99)},
        "load_latency_s": {f"p{q}": round(percentile(stats.loads, q), 2) for q in (50, 90, 99)},
        "server_cpu_s": round(cpu, 1), "server_peak_rss_mb": round(stats.hwm_mb),
        "server_rss_first_last_mb": [round(rss[0]) if rss else None, round(end.get("VmRSS", 0.0))],
        "warmup_errors": warm.errors,
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, python {platform.python_version()}",
        "loadavg_at_end": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if stats.errors or warm.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
