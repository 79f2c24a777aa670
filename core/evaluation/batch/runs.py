"""Resumable, lossless batch runs: per-image results appended to a file in the output folder.

An output folder holds

* ``run.json`` — the settings that determine the numbers (attack, ε, defenses, seed, model, label
  source, threads per image; :func:`run_fingerprint`), written when the run starts;
* ``results.jsonl`` — one JSON line per finished image (:class:`core.evaluation.batch.evaluate.ImageEval` plus its
  key), appended and flushed (``os.fsync``) as each image finishes.

Re-running the same command with the same folder reads ``run.json``, refuses with a clear
:class:`RunMismatch` when a setting differs (never mixing two runs), and skips the images whose key
is already in ``results.jsonl``. A process killed while writing leaves at most one incomplete last
line, which is dropped (and truncated away) on the next open; a key written twice (a worker that
died after its result was sent) is kept once. The final tables are made from the file's images
sorted by key's order of first appearance in the image source, so an interrupted-then-resumed run
gives the same tables as an uninterrupted one. The tables hold the images of the source read this
time (a folder may be moved or mounted elsewhere: the source's path is not compared).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from core.evaluation.batch.evaluate import ImageEval

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
FORMAT = 1


class RunMismatch(ValueError):
    """The output folder holds a run with other settings; ``str(err)`` says which."""


def run_fingerprint(settings: Any, *, model: str, labels: dict, threads: int) -> dict:
    """What must be equal for two runs' per-image results to be interchangeable."""
    return {"format": FORMAT, "settings": settings.to_dict(), "model": model, "labels": labels,
            "threads_per_image": int(threads)}


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)} in the folder, {json.dumps(b)} now"]


_EVAL_FIELDS = {f.name for f in fields(ImageEval)}


def eval_to_json(ev: ImageEval) -> str:
    return json.dumps(asdict(ev), sort_keys=True, allow_nan=True)


def eval_from_json(line: str) -> ImageEval:
    d = json.loads(line)
    return ImageEval(**{k: v for k, v in d.items() if k in _EVAL_FIELDS})


class RunStore:
    """The append-only per-image results of one run in ``folder`` (module docstring)."""

    def __init__(self, folder: str | os.PathLike, fingerprint: dict) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_path = self.folder / RUN_FILE
        self.results_path = self.folder / RESULTS_FILE
        if self.run_path.exists():
            try:
                old = json.loads(self.run_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raise RunMismatch(f"{self.run_path} cannot be read; use another output folder.") from None
            diffs = _diff(old, fingerprint)
            if diffs:
                raise RunMismatch(f"{self.folder} holds a run with other settings ("
                                  + "; ".join(diffs[:5]) + ("; …" if len(diffs) > 5 else "")
                                  + "). Use another --out folder, or the same settings to resume it.")
        else:
            if self.results_path.exists():
                raise RunMismatch(f"{self.results_path} exists without {RUN_FILE}; use another output folder.")
            tmp = self.run_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.run_path)
        self.done: dict[str, ImageEval] = {}
        self.dropped_partial = False
        self._load()
        self._fh = open(self.results_path, "a", encoding="utf-8")

    def _load(self) -> None:
        if not self.results_path.exists():
            return
        data = self.results_path.read_bytes()
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:  # an incomplete last line: a process killed while writing it
                break
            line = data[pos:nl]
            try:
                ev = eval_from_json(line.decode("utf-8"))
            except (ValueError, TypeError):
                break  # a torn write in the middle: everything after it is dropped
            self.done.setdefault(ev.key, ev)
            pos = good_end = nl + 1
        if good_end < len(data):
            self.dropped_partial = True
            with open(self.results_path, "r+b") as f:
                f.truncate(good_end)

    def __contains__(self, key: str) -> bool:
        return key in self.done

    def add(self, ev: ImageEval) -> bool:
        """Append one finished image (flushed to disk); False when its key is already there."""
        if ev.key in self.done:
            return False
        self._fh.write(eval_to_json(ev) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done[ev.key] = ev
        return True

    def images(self, order: list[str] | None = None) -> list[ImageEval]:
        """The finished images: those whose keys are in ``order`` (the keys read from the source
        this time), in that order, when given; else all, by key. Images of another source
        evaluated into the same folder stay in the file but not in the tables."""
        if order is None:
            return [self.done[k] for k in sorted(self.done)]
        seen = set()
        out = []
        for k in order:
            if k in self.done and k not in seen:
                out.append(self.done[k])
                seen.add(k)
        return out

    def close(self) -> None:
        self._fh.close()

    def __iter__(self) -> Iterator[ImageEval]:
        return iter(self.done.values())


__all__ = ["RESULTS_FILE", "RUN_FILE", "RunMismatch", "RunStore", "eval_from_json", "eval_to_json",
           "run_fingerprint"]
