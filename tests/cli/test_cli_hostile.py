"""The command line with hostile input: every bad option is refused before any work (one clear
line each, exit code 2, no traceback, no output written), names with terminal escape sequences
or carriage returns are printed harmlessly, and images.csv neutralises spreadsheet formulas."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runtime import limits
from core.cli.commands import main
from hostile_corpus import HOSTILE_NAMES, small_png

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 20.0  # each refusal must come long before an evaluation could have run


def run(args: list[str]) -> tuple[int, str, float]:
    err = io.StringIO()
    t0 = time.monotonic()
    code = main(["evaluate", *args], stderr=err)
    return code, err.getvalue(), time.monotonic() - t0


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "a.png").write_bytes(small_png(1))
    return d


BAD = [
    (["--steps", "0"], "--steps must be in 1.."),
    (["--steps", str(limits.MAX_ATTACK_STEPS + 1)], "--steps must be in 1.."),
    (["--restarts", "99"], "--restarts must be in 1.."),
    (["--eps", "1,999"], "--eps: each value must be in 0..64"),
    (["--eps", "nan"], "--eps"),
    (["--eps", "1,x"], "not a number in --eps"),
    (["--step-ratio", "-1"], "--step-ratio must be in"),
    (["--seed", "-5"], "--seed must be in"),
    (["--max-images", "0"], "--max-images must be at least 1"),
    (["--defense", "Nope"], "unknown defense"),
    (["--defense", "JPEG:quality=1000"], "quality must be in"),
    (["--model", "NoSuchModel"], "--model"),
    (["--attack", "PGD", "--norm", "l2", "--eps", "100"], "--eps: each value must be in 0..50"),
]


@pytest.mark.parametrize("extra,msg", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_options_fail_before_any_work(photos, tmp_path, extra, msg):
    out = tmp_path / "out"
    code, err, s = run([str(photos), "--out", str(out), *extra])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), err
    assert msg in err and "Traceback" not in err
    assert not out.exists()  # nothing was written: the command was refused as a whole
    assert s < BOUND_S


def test_output_folder_problems(photos, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    for out, msg in ((f, "is a file, not a folder"), (f / "sub", "which is a file"),
                     (Path("/proc/robustness-explorer-test"), "not a writable folder")):
        code, err, s = run([str(photos), "--out", str(out)])
        assert code == 2 and msg in err and err.count("\n") == 1, err
        assert s < BOUND_S


def test_several_problems_are_all_reported_at_once(photos, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    code, err, _ = run([str(tmp_path / "missing"), "--steps", "0", "--restarts", "99", "--out", str(f)])
    assert code == 2
    assert [line.split(" ")[1] for line in err.strip().splitlines()] == [str(tmp_path / "missing"), "--steps",
                                                                         "--restarts", "--out"]


def test_argparse_errors_and_the_real_process_never_show_a_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for extra in (["--restarts", "99"],):  # the case: it used to fail after the whole evaluation
        p = subprocess.run([sys.executable, "-m", "core", "evaluate", "bundled", "--out", str(tmp_path / "o"), *extra],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and "Traceback" not in p.stderr and "error:" in p.stderr, p.stderr


def test_hostile_names_reach_the_terminal_and_the_csv_harmlessly(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    names = [n for n in HOSTILE_NAMES if "/" not in n and "\x00" not in n]
    for i, n in enumerate(names[:6] + [n for n in names if n[:1] in "=+-@" or "\r" in n or "\x1b" in n]):
        (d / n).write_bytes(small_png(i))
    (d / "\x1b]0;owned\x07notes.txt").write_text("not an image")  # a skip note that quotes the name
    out = tmp_path / "out"
    code, err, _ = run([str(d), "--eps", "1", "--max-images", "4", "--out", str(out)])
    assert code == 0, err
    assert not any(c in err for c in "\x1b\x07\r\x9b\u202e"), repr(err)
    assert "\\x1b]0;owned\\x07" in err  # shown, visibly
    rows = list(csv.reader(open(out / "images.csv", encoding="utf-8", newline="")))
    header, body = rows[0], rows[1:]
    col = header.index("image")
    shown = {r[col] for r in body}
    assert shown and all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for r in body for c in r
                         if not _number(c)), shown
    assert any(c.startswith("'=") or c.startswith("'+") or c.startswith("'-") for c in shown), shown


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
