"""True labels for a set of images, and what happens without them.

A labelled set lets batch evaluation report **true accuracy** (the prediction equals the image's
label) and count an attack's success **only on images the model classified correctly when clean**,
as RobustBench does (robust accuracy = share of images still correct after the attack; an image
misclassified when clean counts as not robust and is not a "success"). Without labels the label
of an image is the bare model's clean prediction (*agreement mode*, :data:`AGREEMENT_NOTE`).

Where labels come from (:func:`parse_labels`, the command line's ``--labels``):

* ``folder`` — ImageFolder layout: the first folder of an image's path inside the set is its class,
  named by an ImageNet WordNet id (``n01440764``, ImageNet models only), a class index (``243``),
  or a class name as the model spells it (``bull mastiff``; case is ignored and ``_``, ``/`` and
  spaces are the same, so ``T-shirt_top`` names ``T-shirt/top``).
* a ``.csv`` or ``.json`` file mapping file names to labels: CSV with a header row naming a file
  column (``file``, ``filename``, ``image``, ``name`` or ``path``) and a label column (``label``,
  ``class``, ``class_index`` or ``target``) or two columns without a header; JSON as an object
  ``{"file": label}`` or a list of ``{"file": ..., "label": ...}``. A label is an index, a WordNet
  id or a class name. A file name matches an image by its path inside the set, or by its base
  name when that is unique in the file.
* ``pattern`` or ``pattern:REGEX`` — the label is a number in the file name: by default the last
  number before the extension (``imagenet_00_243.jpg`` → 243); a REGEX's group ``label`` (or its
  first group) otherwise.

Every kind of mistake is a :class:`LabelError` with a sentence naming the file, the line or image
and the problem: an unreadable or empty file, a missing column, a duplicate entry, an unknown class
name (with the nearest names), an ambiguous class name, a label out of range, a WordNet id that is
not an ImageNet-1k class, an image with no label, an image outside any class folder, a file name
that does not match the pattern.
"""
from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import importlib.util
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from collections.abc import Sequence

AGREEMENT_NOTE = ("No labels were given: each image's label is the bare model's prediction on the clean image, so "
                  "accuracy means agreement with the clean prediction (100 % for the bare model on clean images by "
                  "construction).")
TRUE_LABEL_NOTE = ("True labels ({source}): accuracy is true accuracy, and an attack's success is counted only on "
                   "images the model (or defense) classified correctly when clean, as RobustBench does; the "
                   "accuracy under attack is the robust accuracy.")

MAX_LABEL_FILE_BYTES = 64 * 1024 * 1024  # a mapping file of a few million rows
_FILE_COLS = ("file", "filename", "file_name", "image", "name", "path")
_LABEL_COLS = ("label", "class", "class_index", "target", "y")
_WNID = re.compile(r"^n\d{8}$")
_DEFAULT_PATTERN = r"(?P<label>\d+)\.[A-Za-z0-9]+$"


class LabelError(ValueError):
    """A label source that cannot be used; ``str(err)`` is one sentence for the user."""


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (sorted ids, the usual ImageNet
    class order), from the list that ships with the ``timm`` package (no download)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise LabelError("WordNet ids need the 'timm' package (its ImageNet class list); it is not installed.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "_info" / "imagenet_synsets.txt"
    ids = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(ids) != 1000 or list(ids) != sorted(ids):
        raise LabelError(f"{path} is not the ImageNet-1k list of 1000 sorted WordNet ids.")
    return ids


def _norm(s: str) -> str:
    return " ".join(s.replace("_", " ").replace("/", " ").split()).casefold()


class ClassResolver:
    """Turns a label written as an index, a WordNet id or a class name into a class index."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.n = len(self.class_names)
        by: dict[str, list[int]] = {}
        for i, c in enumerate(self.class_names):
            by.setdefault(_norm(c), []).append(i)
        self._by_name = by

    def __call__(self, text: object, where: str) -> int:
        if isinstance(text, bool):
            raise LabelError(f"{where}: the label {text!r} is not a class index or name.")
        if isinstance(text, int):
            return self._index(text, where)
        if isinstance(text, float):
            if text.is_integer():
                return self._index(int(text), where)
            raise LabelError(f"{where}: the label {text!r} is not a whole number.")
        if not isinstance(text, str):
            raise LabelError(f"{where}: the label {text!r} is not a class index or name.")
        s = text.strip()
        if not s:
            raise LabelError(f"{where}: the label is empty.")
        if re.fullmatch(r"[+-]?\d+", s):
            return self._index(int(s), where)
        if _WNID.match(s):
            if self.n != 1000:
                raise LabelError(f"{where}: “{s}” is a WordNet id, but the model has {self.n} classes, not the "
                                 "1000 ImageNet classes.")
            ids = imagenet_wnids()
            try:
                return ids.index(s)
            except ValueError:
                raise LabelError(f"{where}: “{s}” is not one of the 1000 ImageNet-1k WordNet ids.") from None
        hits = self._by_name.get(_norm(s))
        if hits is None:
            near = difflib.get_close_matches(_norm(s), list(self._by_name), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(self.class_names[self._by_name[m][0]]) for m in near)}?" if near else ""
            raise LabelError(f"{where}: “{s}” is not a class name of the model.{hint}")
        if len(hits) > 1:
            raise LabelError(f"{where}: the class name “{s}” is ambiguous (classes {', '.join(map(str, hits))}); "
                             "use the class index or the WordNet id.")
        return hits[0]

    def _index(self, i: int, where: str) -> int:
        if not 0 <= i < self.n:
            raise LabelError(f"{where}: the label {i} is out of range (the model has classes 0..{self.n - 1}).")
        return i


@dataclass(frozen=True)
class LabelSpec:
    """Where labels come from: ``kind`` is "none", "folder", "file" or "pattern"."""

    kind: str = "none"
    path: str = ""  # the mapping file (kind "file")
    pattern: str = ""  # the regular expression (kind "pattern")

    def describe(self) -> str:
        return {"none": "none (agreement with the clean prediction)", "folder": "class folders (ImageFolder)",
                "file": f"mapping file {PurePosixPath(self.path).name}",
                "pattern": ("file names (the number before the extension)" if self.pattern == _DEFAULT_PATTERN
                            else f"file-name pattern {self.pattern}")}[self.kind]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "pattern": self.pattern}


def parse_labels(text: str | None) -> LabelSpec:
    """The ``--labels`` argument: ``none`` (or empty), ``folder``, ``pattern``, ``pattern:REGEX``,
    or the path of a ``.csv``/``.json`` mapping file."""
    if text is None or text.strip() in ("", "none"):
        return LabelSpec()
    t = text.strip()
    if t == "folder":
        return LabelSpec("folder")
    if t == "pattern" or t.startswith("pattern:"):
        pat = t[len("pattern:"):] if t.startswith("pattern:") else _DEFAULT_PATTERN
        try:
            rx = re.compile(pat)
        except re.error as e:
            raise LabelError(f"The label pattern “{pat}” is not a valid regular expression ({e}).") from None
        if rx.groups == 0:
            raise LabelError(f"The label pattern “{pat}” has no group; put the label in a group, e.g. _(\\d+)\\.jpg$.")
        return LabelSpec("pattern", pattern=pat)
    p = Path(t)
    if p.suffix.lower() not in (".csv", ".json"):
        raise LabelError(f"--labels takes 'folder', 'pattern[:REGEX]', 'none' or a .csv/.json file, not “{t}”.")
    if not p.is_file():
        raise LabelError(f"The label file “{t}” does not exist.")
    return LabelSpec("file", path=str(p))


class Labeler:
    """The label of each image of a set, by its name inside the set (:meth:`label`)."""

    def __init__(self, spec: LabelSpec, class_names: Sequence[str]) -> None:
        self.spec = spec
        self.resolve = ClassResolver(class_names)
        self._map: dict[str, int] | None = None
        self._by_base: dict[str, int | None] = {}
        self.file_sha256 = ""
        if spec.kind == "file":
            self._load_file(Path(spec.path))
        self._rx = re.compile(spec.pattern) if spec.kind == "pattern" else None

    @property
    def labelled(self) -> bool:
        return self.spec.kind != "none"

    def note(self) -> str:
        return TRUE_LABEL_NOTE.format(source=self.spec.describe()) if self.labelled else AGREEMENT_NOTE

    def label(self, name: str) -> int | None:
        """The class index of the image ``name`` (its path inside the set), None in agreement
        mode; a :class:`LabelError` when it has none or a bad one."""
        kind = self.spec.kind
        if kind == "none":
            return None
        if kind == "folder":
            parts = PurePosixPath(name).parts
            if len(parts) < 2:
                raise LabelError(f"“{name}” is not inside a class folder (ImageFolder layout: <class>/<image>).")
            return self.resolve(parts[0], f"class folder “{parts[0]}” of “{name}”")
        if kind == "pattern":
            assert self._rx is not None
            m = self._rx.search(PurePosixPath(name).name)
            if m is None:
                raise LabelError(f"“{name}”: the file name does not match the label pattern {self.spec.pattern}.")
            g = m.group("label") if "label" in self._rx.groupindex else m.group(1)
            return self.resolve(g, f"“{name}”")
        assert self._map is not None
        if name in self._map:
            return self._map[name]
        base = PurePosixPath(name).name
        hit = self._by_base.get(base, -1)
        if hit is None:
            raise LabelError(f"“{name}”: the label file has several entries named “{base}” in different folders; "
                             "write the image's path inside the set.")
        if hit == -1:
            raise LabelError(f"“{name}” has no entry in the label file {PurePosixPath(self.spec.path).name}.")
        return hit

    # ------------------------------------------------------------------ mapping files
    def _load_file(self, path: Path) -> None:
        fname = path.name
        try:
            size = path.stat().st_size
            if size > MAX_LABEL_FILE_BYTES:
                raise LabelError(f"The label file {fname} is {size / 2**20:.0f} MB; the limit is "
                                 f"{MAX_LABEL_FILE_BYTES // 2**20} MB.")
            data = path.read_bytes()
        except OSError as e:
            raise LabelError(f"The label file {fname} cannot be read ({e.strerror or type(e).__name__}).") from None
        self.file_sha256 = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelError(f"The label file {fname} is not UTF-8 text.") from None
        if not text.strip():
            raise LabelError(f"The label file {fname} is empty.")
        pairs = self._json_pairs(text, fname) if path.suffix.lower() == ".json" else self._csv_pairs(text, fname)
        if not pairs:
            raise LabelError(f"The label file {fname} has no entries.")
        out: dict[str, int] = {}
        where_of: dict[str, str] = {}
        for key, value, where in pairs:
            k = str(key).strip().replace("\\", "/")
            if not k:
                raise LabelError(f"{fname}, {where}: the file name is empty.")
            if k in out:
                raise LabelError(f"{fname}, {where}: “{k}” is listed twice (first at {where_of[k]}).")
            out[k] = self.resolve(value, f"{fname}, {where} (“{k}”)")
            where_of[k] = where
        self._map = out
        for k, v in out.items():
            b = PurePosixPath(k).name
            self._by_base[b] = v if b not in self._by_base else None

    @staticmethod
    def _json_pairs(text: str, fname: str) -> list[tuple[object, object, str]]:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise LabelError(f"The label file {fname} is not valid JSON (line {e.lineno}: {e.msg}).") from None
        if isinstance(doc, dict):
            # json.loads keeps the last of duplicate keys: find duplicates with object_pairs_hook
            raw = json.loads(text, object_pairs_hook=lambda kv: kv)
            return [(k, v, f"entry {i + 1}") for i, (k, v) in enumerate(raw)]
        if isinstance(doc, list):
            out = []
            for i, e in enumerate(doc):
                where = f"entry {i + 1}"
                if not isinstance(e, dict):
                    raise LabelError(f"{fname}, {where}: expected an object with a file and a label.")
                fk = next((c for c in _FILE_COLS if c in e), None)
                lk = next((c for c in _LABEL_COLS if c in e), None)
                if fk is None or lk is None:
                    raise LabelError(f"{fname}, {where}: needs a file key ({'/'.join(_FILE_COLS)}) and a label key "
                                     f"({'/'.join(_LABEL_COLS)}).")
                out.append((e[fk], e[lk], where))
            return out
        raise LabelError(f"The label file {fname} must hold an object {{file: label}} or a list of entries.")

    @staticmethod
    def _csv_pairs(text: str, fname: str) -> list[tuple[object, object, str]]:
        try:
            rows = [r for r in csv.reader(io.StringIO(text))]
        except csv.Error as e:
            raise LabelError(f"The label file {fname} is not valid CSV ({e}).") from None
        numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
        if not numbered:
            raise LabelError(f"The label file {fname} is empty.")
        head = [c.strip().casefold() for c in numbered[0][1]]
        fi = next((head.index(c) for c in _FILE_COLS if c in head), None)
        li = next((head.index(c) for c in _LABEL_COLS if c in head), None)
        if fi is not None and li is not None:
            body = numbered[1:]
        elif fi is not None or li is not None:
            raise LabelError(f"The label file {fname} has a header without a "
                             f"{'label' if li is None else 'file'} column (expected one of "
                             f"{', '.join(_LABEL_COLS if li is None else _FILE_COLS)}).")
        else:
            if len(head) != 2:
                raise LabelError(f"The label file {fname} needs a header (file,label) or exactly two columns; line "
                                 f"{numbered[0][0]} has {len(head)}.")
            fi, li, body = 0, 1, numbered
        out = []
        for line, r in body:
            if len(r) <= max(fi, li):
                raise LabelError(f"{fname}, line {line}: expected {max(fi, li) + 1} columns, found {len(r)}.")
            out.append((r[fi], r[li], f"line {line}"))
        return out


__all__ = ["AGREEMENT_NOTE", "ClassResolver", "LabelError", "LabelSpec", "Labeler", "imagenet_wnids",
           "parse_labels"]
