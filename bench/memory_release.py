"""Does the server give memory back when the last tab closes?

Starts the app on a free loopback port (bench/soak.py's ``server``), loads the Batch page once
(model loaded: the baseline), then opens ``--tabs`` sessions that each upload ``--files`` large
images (generated JPEGs of ``--side`` x 3/4 ``--side``) to the Batch page's "Image files" and wait
until they are read. Then every tab is closed, and the server's resident memory (VmRSS) is sampled
for ``--watch`` seconds. At ``--poke`` seconds after the close, one new tab opens and closes the
home page (Streamlit reaps the stored sessions of closed tabs lazily, when its session storage is
next written). Prints the baseline, the peak, and RSS at fixed times after the close.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/memory_release.py --tabs 4 --files 10 --watch 240
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import CHROMIUM, FLAGS, proc_status, server  # noqa: E402


def big_jpeg(side: int, seed: int) -> bytes:
    h = side * 3 // 4
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:side]
    base = ((x * (seed + 1) + y * 3) % 256).astype(np.uint8)
    arr = np.stack([base, base[::-1], np.roll(base, seed * 7, axis=1)], -1)
    arr = (arr ^ g.integers(0, 32, arr.shape, dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=92)
    return buf.getvalue()


async def run(url: str, pid: int, tabs: int, files: list[Path], watch: float, poke: float) -> dict:
    from playwright.async_api import async_playwright

    samples: list[tuple[float, float]] = []
    out: dict = {}
    profile = tempfile.mkdtemp(prefix="mem-chromium-")
    try:
        async with async_playwright() as pw:
            ctx = await pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                              args=FLAGS, viewport={"width": 1400, "height": 1600})
            page = await ctx.new_page()
            await page.goto(f"{url}/batch?src=bundled", wait_until="domcontentloaded")
            await page.get_by_text("image(s):", exact=False).first.wait_for(timeout=300_000)
            await page.close()
            await asyncio.sleep(15)
            out["baseline_rss_mb"] = round(proc_status(pid)["VmRSS"])
            peak = 0.0

            async def one(i: int) -> None:
                p = await ctx.new_page()
                await p.goto(f"{url}/batch?src=files", wait_until="domcontentloaded")
                await p.locator("input[type=file]").first.wait_for(state="attached", timeout=300_000)
                await p.locator("input[type=file]").first.set_input_files(files=[str(f) for f in files])
                await p.get_by_text(f"{len(files)} image(s):", exact=False).first.wait_for(timeout=600_000)

            t0 = time.monotonic()
            task = asyncio.gather(*(one(i) for i in range(tabs)))
            while not task.done():
                peak = max(peak, proc_status(pid)["VmRSS"])
                await asyncio.sleep(0.5)
            await task
            out["read_s"] = round(time.monotonic() - t0, 1)
            out["rss_all_tabs_open_mb"] = round(proc_status(pid)["VmRSS"])
            await ctx.close()  # every tab closes
            t_close = time.monotonic()
            poked = False
            while (t := time.monotonic() - t_close) < watch:
                rss = proc_status(pid)["VmRSS"]
                peak = max(peak, rss)
                samples.append((round(t, 1), round(rss)))
                if not poked and t >= poke:
                    poked = True
                    ctx2 = await pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM,
                                                                       headless=True, args=FLAGS)
                    p = await ctx2.new_page()
                    await p.goto(url, wait_until="domcontentloaded")
                    await asyncio.sleep(5)
                    await ctx2.close()
                await asyncio.sleep(2)
            out["peak_rss_mb"] = round(max(peak, proc_status(pid)["VmHWM"]))
    finally:
        shutil.rmtree(profile, ignore_errors=True)

    def at(s: float) -> float | None:
        near = [r for t, r in samples if t >= s]
        return near[0] if near else None

    out["rss_after_close_mb"] = {f"{s}s": at(s) for s in (5, 30, 60, 120, poke + 10, watch - 5)}
    out["samples"] = samples
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tabs", type=int, default=4)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--side", type=int, default=4000)
    ap.add_argument("--watch", type=float, default=240)
    ap.add_argument("--poke", type=float, default=150)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mem-files-"))
    files = []
    for i in range(a.files):
        files.append(tmp / f"big_{i:02d}.jpg")
        files[-1].write_bytes(big_jpeg(a.side, i))
    try:
        with server() as (url, proc):
            run_result = asyncio.run(run(url, proc.pid, a.tabs, files, a.watch, a.poke))
        sizes = [f.stat().st_size for f in files]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"tabs": a.tabs, "files_per_tab": a.files, "mb_per_file": round(np.mean(sizes) / 1e6, 2),
           "pixels_per_file_mp": round(a.side * (a.side * 3 // 4) / 1e6, 1), **run_result,
           "env": {k: os.environ.get(k) for k in ("MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")},
           "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, python {platform.python_version()}",
           "loadavg_at_end": os.getloadavg()}
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
