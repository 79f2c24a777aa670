"""Sets of images for batch evaluation: an archive, a folder, a list file, the bundled photos, or
several uploaded files — read lazily, one member at a time, within a budget.

:func:`iter_images` is the one reader; it yields :class:`ImageItem` (display name, stable key,
prepared value) and holds at most one decoded image at a time, so memory does not grow with the
number of images. The ``read_*`` functions collect it into an :class:`ImageSet` for the pages,
with the app's budget (``limits.server_read_budget()``).

Reading from a stranger follows the rules of :mod:`core.data.images` (limits before work, a sentence
for every refusal, a decode budget per file) plus those of a set:

* **Budget** (:class:`core.runtime.limits.ReadBudget`), checked as members are read: the number of
  entries looked at (``max_members``; the rest are ignored with a note), the bytes of one member
  (``max_file_bytes``, declared size first, then a bounded read, so a header that lies cannot make
  it bigger), the declared uncompressed bytes of all members (``max_total_bytes``), the **declared
  pixels** of all image files read (``max_total_pixels``: width x height from each header *before*
  decoding, counted whether or not the file then decodes, so a set of cut or bomb-like images is
  bounded too), the wall-clock (``max_seconds``) and the images kept (``max_images``: a note, not
  an error). Going over the pixel, byte or time budget stops reading with an
  :class:`ImageSetError` naming the budget (the ``read_*`` wrappers keep the images read so far
  and turn it into a note when there are some).
* **Stop**: ``progress(done, total, name)`` is called before each member (``total`` is 0 when not
  known in advance, e.g. a folder walked lazily); raising :class:`core.runtime.progress.Cancelled` from it
  (or Streamlit's own interruption when the session ends or Stop is pressed) stops at once.
* **Names**: nothing is ever extracted to disk; entries with an absolute path, a drive letter, a
  ``..`` component or a NUL byte are ignored with a note, as are symbolic links, encrypted entries,
  hidden/system files (``__MACOSX/``, ``._*``, ``.DS_Store``, other dot files; ``.`` path components
  are harmless and dropped) and, in an archive, an entry whose name is not valid UTF-8 although
  flagged so (the other entries are still read). Names are kept raw: the caller escapes them for
  its sink (:mod:`core.data.safe_text`); notes quote names raw too.
* **Order**: by name (a folder is walked in the same order as a sorted archive of it), so a folder
  and a zip of it give the same items; each item's ``key`` is ``name#sha256(bytes)[:16]``.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar
from collections.abc import Callable, Iterable, Iterator

from PIL import Image

from core.runtime import limits
from core.data.images import ImageError, decode_image, image_header, list_samples
from core.runtime.limits import ReadBudget
from core.runtime.progress import ProgressFn

T = TypeVar("T")
MAX_MESSAGES = 50  # skip messages kept; the rest are counted
NoteFn = Callable[[str], None]


class ImageSetError(ValueError):
    """An archive or folder that cannot be used (or a budget that stopped reading it);
    ``str(err)`` is a sentence for the user."""


@dataclass(frozen=True)
class ImageItem(Generic[T]):
    """One image of a set: ``name`` (relative path inside the folder/archive, raw, unescaped),
    ``key`` (``f"{name}#{sha256(file bytes)[:16]}"``: the same file under the same name gets the
    same key, for per-image seeds and resuming), ``value`` (what ``prepare`` returned)."""

    name: str
    key: str
    value: T


@dataclass
class ImageSet(Generic[T]):
    """Named, prepared images and what was skipped (one sentence per skipped entry)."""

    items: list[tuple[str, T]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    more_skipped: int = 0  # messages beyond MAX_MESSAGES
    source: str = ""
    keys: list[str] = field(default_factory=list)  # ImageItem.key of each item

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.items]

    def note(self, message: str) -> None:
        if len(self.skipped) < MAX_MESSAGES:
            self.skipped.append(message)
        else:
            self.more_skipped += 1

    def messages(self) -> list[str]:
        return self.skipped + ([f"… and {self.more_skipped} more."] if self.more_skipped else [])


def _mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_name_reason(name: str) -> str | None:
    """Why an archive entry's name is refused (absolute, drive, ``..``, NUL), or None."""
    n = name.replace("\\", "/")
    if "\x00" in n:
        return "its name contains a NUL character"
    if n.startswith("/") or _DRIVE.match(n):
        return "it has an absolute path"
    if any(part == ".." for part in n.split("/")):
        return "its path leaves the archive (“..”)"
    return None


def _parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _hidden(name: str) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in _parts(name))


def _clean(name: str) -> str:
    """``a\\b/./c.png`` -> ``a/b/c.png`` (``.`` components and backslashes)."""
    return "/".join(_parts(name))


def _shown(name: str) -> str:
    return name[:120]


# ----------------------------------------------------------------------------- members
@dataclass
class _Member:
    name: str
    size: int | None = None  # declared size, when known before reading
    read: Callable[[int], bytes] | None = None  # read(limit) -> at most limit + 1 bytes
    skip: str | None = None  # a note: the member is not read


@dataclass
class _Members:
    members: Iterator[_Member]
    total: int  # 0 when not known in advance
    describe: str = "set"


def _utf8_flag_fix(data: bytes) -> tuple[bytes, set[int]] | None:
    """Clear the "name is UTF-8" flag of central-directory entries whose name is not valid UTF-8
    (``zipfile`` refuses the whole archive for one such name); returns the patched bytes and the
    indexes (in central-directory order) of the entries patched, or None when the central
    directory cannot be walked here (ZIP64)."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + 22 > len(data):
        return None
    count = int.from_bytes(data[eocd + 10:eocd + 12], "little")
    size = int.from_bytes(data[eocd + 12:eocd + 16], "little")
    if count == 0xFFFF or size == 0xFFFFFFFF:
        return None
    buf = bytearray(data)
    bad: set[int] = set()
    i = eocd - size
    for idx in range(count):
        if i < 0 or i + 46 > eocd or buf[i:i + 4] != b"PK\x01\x02":
            break
        flags = int.from_bytes(buf[i + 8:i + 10], "little")
        nlen, elen, clen = (int.from_bytes(buf[i + o:i + o + 2], "little") for o in (28, 30, 32))
        if flags & 0x800:
            try:
                bytes(buf[i + 46:i + 46 + nlen]).decode("utf-8")
            except UnicodeDecodeError:
                buf[i + 8:i + 10] = (flags & ~0x800).to_bytes(2, "little")
                bad.add(idx)
        i += 46 + nlen + elen + clen
    return bytes(buf), bad


def _open_zip(data: bytes) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo], set[int]]:
    bad: set[int] = set()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        return zf, zf.infolist(), bad
    except UnicodeDecodeError:
        fixed = _utf8_flag_fix(data)
        if fixed is None or not fixed[1]:
            raise ImageSetError("The file is not a ZIP archive that can be read.") from None
        data, bad = fixed
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImageSetError("The file is not a ZIP archive that can be read.") from None
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        return zf, zf.infolist(), bad
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImageSetError("The file is not a ZIP archive that can be read.") from None


def _zip_members(data: bytes, budget: ReadBudget, note: NoteFn) -> _Members:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageSetError("The archive could not be read (expected bytes).")
    data = bytes(data)
    cap = budget.max_archive_bytes
    if cap is not None and len(data) > cap:
        raise ImageSetError(f"The archive is {_mb(len(data))}; the limit is {_mb(cap)}.")
    zf, infos, bad = _open_zip(data)
    indexed = [(i, info) for i, info in enumerate(infos) if not info.is_dir()]
    if budget.max_members is not None and len(infos) > budget.max_members:
        note(f"The archive has {len(infos)} entries; only the first {budget.max_members} were looked at.")
        keep = {id(info) for info in infos[: budget.max_members]}
        indexed = [(i, info) for i, info in indexed if id(info) in keep]
    indexed.sort(key=lambda e: e[1].orig_filename)

    def member(idx: int, info: zipfile.ZipInfo) -> _Member:
        raw = info.orig_filename  # before zipfile cuts it at a NUL byte
        name = _clean(raw) or raw
        if idx in bad:
            return _Member(name, skip=f"An entry was ignored: its name is not valid UTF-8 (shown as “{_shown(raw)}”).")
        why = unsafe_name_reason(raw)
        if why:
            return _Member(raw, skip=f"“{_shown(raw)}” was ignored: {why}.")
        if _hidden(raw):
            return _Member(name, skip=f"“{_shown(raw)}” was ignored: a hidden or system file.")
        mode = (info.external_attr >> 16) & 0xFFFF
        if mode and stat.S_ISLNK(mode):
            return _Member(name, skip=f"“{_shown(raw)}” was ignored: a symbolic link.")
        if info.flag_bits & 0x1:
            return _Member(name, skip=f"“{_shown(raw)}” was ignored: it is encrypted.")

        def read(limit: int, info: zipfile.ZipInfo = info) -> bytes:
            with zf.open(info) as f:
                return f.read(limit + 1)

        return _Member(name, size=info.file_size, read=read)

    return _Members((member(i, info) for i, info in indexed), len(indexed), "archive")


def _file_reader(path: Path) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    return read


def _folder_members(folder: Path, budget: ReadBudget, note: NoteFn) -> _Members:
    if not folder.is_dir():
        raise ImageSetError(f"“{folder}” is not a folder.")

    def walk(rel: str) -> Iterator[_Member]:
        here = folder / rel if rel else folder
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError as e:
            yield _Member(rel or ".", skip=f"“{_shown(rel or '.')}” could not be listed ({type(e).__name__}).")
            return
        is_dir = {e.name: e.is_dir(follow_symlinks=False) for e in entries}
        for e in sorted(entries, key=lambda e: e.name + ("/" if is_dir[e.name] else "")):
            r = f"{rel}/{e.name}" if rel else e.name
            if is_dir[e.name]:
                if not (e.name.startswith(".") or e.name == "__MACOSX"):
                    yield from walk(r)
                continue
            if _hidden(r):
                yield _Member(r, skip=f"“{_shown(r)}” was ignored: a hidden or system file.")
            elif e.is_symlink() or not e.is_file(follow_symlinks=False):
                yield _Member(r, skip=f"“{_shown(r)}” was ignored: not a regular file.")
            else:
                yield _Member(r, size=e.stat(follow_symlinks=False).st_size, read=_file_reader(Path(e.path)))

    def capped() -> Iterator[_Member]:
        for n, m in enumerate(walk("")):
            if budget.max_members is not None and n >= budget.max_members:
                note(f"The folder has more than {budget.max_members} files; only the first {budget.max_members} "
                     "were looked at.")
                return
            yield m

    return _Members(capped(), 0, "folder")


def _list_members(list_file: Path, budget: ReadBudget, note: NoteFn) -> _Members:
    """A text file with one image path per line (relative to the list file's folder; empty lines
    and lines starting with ``#`` are ignored)."""
    try:
        size = list_file.stat().st_size
        if size > 64 * 1024 * 1024:
            raise ImageSetError(f"The list “{list_file}” is {_mb(size)}; the limit for a list file is 64 MB.")
        lines = [ln.strip() for ln in list_file.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise ImageSetError(f"The list “{list_file}” is not UTF-8 text.") from None
    except OSError as e:
        raise ImageSetError(f"The list “{list_file}” could not be read ({type(e).__name__}).") from None
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if budget.max_members is not None and len(lines) > budget.max_members:
        note(f"The list has {len(lines)} entries; only the first {budget.max_members} were looked at.")
        lines = lines[: budget.max_members]
    base = list_file.parent

    def member(line: str) -> _Member:
        if "\x00" in line:
            return _Member(line, skip=f"“{_shown(line)}” was ignored: its name contains a NUL character.")
        p = Path(line) if Path(line).is_absolute() else base / line
        if not p.is_file():
            return _Member(line, skip=f"“{_shown(line)}” was skipped: no such file.")
        return _Member(line, size=p.stat().st_size, read=_file_reader(p))

    return _Members((member(ln) for ln in lines), len(lines), "list")


def _pairs_members(pairs: Iterable[tuple[str, Any]], budget: ReadBudget, note: NoteFn,
                   describe: str = "files") -> _Members:
    """(name, bytes) pairs: several uploaded files or the bundled photos, in name order."""
    pairs = sorted(((str(n), b) for n, b in pairs), key=lambda e: e[0])
    if budget.max_members is not None and len(pairs) > budget.max_members:
        note(f"{len(pairs)} files were given; only the first {budget.max_members} (by name) were looked at.")
        pairs = pairs[: budget.max_members]

    def member(name: str, blob: Any) -> _Member:
        if "\x00" in name:
            return _Member(name, skip=f"“{_shown(name)}” was ignored: its name contains a NUL character.")
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            return _Member(name, skip=f"“{_shown(name)}” could not be read (expected bytes).")
        data = bytes(blob)
        return _Member(name, size=len(data), read=lambda limit, d=data: d[: limit + 1])

    return _Members((member(n, b) for n, b in pairs), len(pairs), describe)


# Named sources besides "bundled": word -> a function giving a folder or list-file path.
NAMED_SOURCES: dict[str, Callable[[], str | os.PathLike]] = {}


def register_named_source(word: str, path: Callable[[], str | os.PathLike]) -> None:
    """Make ``word`` a source of :func:`iter_images` (e.g. a labelled sample shipped in assets/)."""
    NAMED_SOURCES[word] = path


def _members(source: Any, budget: ReadBudget, note: NoteFn) -> _Members:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _zip_members(source, budget, note)
    if isinstance(source, (list, tuple)):
        return _pairs_members(source, budget, note)
    if str(source) == "bundled":
        return _pairs_members([(s.filename, s.path.read_bytes()) for s in list_samples()], budget, note, "bundled")
    if str(source) in NAMED_SOURCES:
        source = NAMED_SOURCES[str(source)]()
    p = Path(source)
    if p.is_dir():
        return _folder_members(p, budget, note)
    if p.is_file():
        if p.suffix.lower() == ".txt":
            return _list_members(p, budget, note)
        size = p.stat().st_size
        if budget.max_archive_bytes is not None and size > budget.max_archive_bytes:
            raise ImageSetError(f"“{source}” is {_mb(size)}; the limit for an archive is "
                                f"{_mb(budget.max_archive_bytes)}.")
        return _zip_members(p.read_bytes(), budget, note)
    words = ", ".join(["'bundled'", *(repr(w) for w in NAMED_SOURCES)])
    raise ImageSetError(f"“{source}” is neither a folder nor a file (nor one of the words {words}).")


# ----------------------------------------------------------------------------- the reader
def _budget_error(what: str) -> ImageSetError:
    return ImageSetError(f"Stopped reading: {what}.")


def iter_images(source: Any, prepare: Callable[[Image.Image], T], *, budget: ReadBudget,
                progress: ProgressFn = None, note: NoteFn | None = None) -> Iterator[ImageItem[T]]:
    """The images of ``source`` one at a time (module docstring), each passed through
    ``prepare`` right after decoding.

    ``source``: a folder path, a ``.zip`` path or its bytes, a ``.txt`` list file (one path per
    line, relative to it), a list of (name, bytes) pairs (uploaded files), ``"bundled"``, or a
    word registered with :func:`register_named_source`. Raises :class:`ImageSetError` for a
    source that cannot be read at all and when a pixel, byte or time budget is exceeded; skipped
    members go to ``note`` (raw text)."""
    note = note if note is not None else (lambda _m: None)
    t0 = time.monotonic()
    ms = _members(source, budget, note)
    cap = budget.max_images
    kept = 0
    pixels = 0
    total_bytes = 0
    for done, m in enumerate(ms.members):
        if budget.max_seconds is not None and time.monotonic() - t0 > budget.max_seconds:
            raise _budget_error(f"reading took longer than the limit of {budget.max_seconds:g} s for one set "
                                f"(at “{_shown(m.name)}”, after {kept} image{'s' if kept != 1 else ''})")
        if progress is not None:
            progress(done, ms.total, m.name)
        if m.skip is not None:
            note(m.skip)
            continue
        if cap is not None and kept >= cap:
            rest = ms.total - done if ms.total else 0
            more = f"{rest} more file{'s' if rest != 1 else ''}" if rest else "the other files"
            note(f"Only the first {cap} images (by name) are used; {more} not looked at.")
            return
        limit = budget.max_file_bytes
        if m.size is not None and m.size > limit:
            note(f"“{_shown(m.name)}” was skipped: {_mb(m.size)}; the limit per image is {_mb(limit)}.")
            continue
        if budget.max_total_bytes is not None and total_bytes + (m.size or 0) > budget.max_total_bytes:
            raise _budget_error(f"at “{_shown(m.name)}” the files read so far and this one add up to more than "
                                f"{_mb(budget.max_total_bytes)} uncompressed")
        try:
            blob = m.read(limit) if m.read is not None else b""
        except Exception as e:  # zlib/bz2/lzma/CRC errors and the like: never a traceback for the user
            note(f"“{_shown(m.name)}” could not be read ({type(e).__name__}).")
            continue
        if len(blob) > limit:
            note(f"“{_shown(m.name)}” was skipped: larger than its header says and than the limit per image.")
            continue
        total_bytes += max(len(blob), m.size or 0)
        head = image_header(blob)
        if head is not None:
            _, w, h = head
            if 0 < w <= limits.MAX_IMAGE_SIDE and 0 < h <= limits.MAX_IMAGE_SIDE and w * h <= limits.MAX_IMAGE_PIXELS:
                if budget.max_total_pixels is not None and pixels + w * h > budget.max_total_pixels:
                    raise _budget_error(
                        f"at “{_shown(m.name)}” ({w}×{h}) the images read so far add up to more than "
                        f"{budget.max_total_pixels / 1e6:g} megapixels, the limit for one set")
                pixels += w * h
        try:
            img = decode_image(blob, name=m.name.rsplit("/", 1)[-1])
        except ImageError as e:
            note(f"“{_shown(m.name)}” was skipped: {e}")
            continue
        value = prepare(img)
        del img
        kept += 1
        yield ImageItem(m.name, f"{m.name}#{hashlib.sha256(blob).hexdigest()[:16]}", value)


# ----------------------------------------------------------------------------- ImageSet wrappers
def _budget_for(max_images: int | None, budget: ReadBudget | None) -> ReadBudget:
    b = budget if budget is not None else limits.server_read_budget()
    if max_images is not None:
        ceiling = b.max_images if b.max_images is not None else int(max_images)
        b = replace(b, max_images=max(0, min(int(max_images), ceiling)))
    return b


def collect(source: Any, prepare: Callable[[Image.Image], T], *, budget: ReadBudget, progress: ProgressFn = None,
            label: str = "", notes: Iterable[str] = ()) -> ImageSet[T]:
    """:func:`iter_images` into an :class:`ImageSet`. A budget that stops reading after some
    images becomes the last note (the images read so far are kept); with no image read it is
    raised."""
    out: ImageSet[T] = ImageSet(source=label)
    for m in notes:
        out.note(m)
    try:
        for item in iter_images(source, prepare, budget=budget, progress=progress, note=out.note):
            out.items.append((item.name, item.value))
            out.keys.append(item.key)
    except ImageSetError as e:
        if not out.items:
            raise
        out.note(str(e))
    return out


def read_zip(data: bytes, prepare: Callable[[Image.Image], T], *, max_images: int | None = None,
             budget: ReadBudget | None = None, progress: ProgressFn = None) -> ImageSet[T]:
    """An uploaded archive, safely (module docstring)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageSetError("The archive could not be read (expected bytes).")
    return collect(bytes(data), prepare, budget=_budget_for(max_images, budget), progress=progress, label="zip")


def read_files(files: Iterable[tuple[str, bytes]], prepare: Callable[[Image.Image], T], *,
               max_images: int | None = None, budget: ReadBudget | None = None,
               progress: ProgressFn = None) -> ImageSet[T]:
    """Several uploaded files (name, bytes), in name order; at most ``limits.MAX_UPLOAD_FILES``
    (more is refused as a whole: the visitor chose them at once)."""
    files = list(files)
    if len(files) > limits.MAX_UPLOAD_FILES:
        raise ImageSetError(f"{len(files)} files were uploaded; the limit is {limits.MAX_UPLOAD_FILES} files at once "
                            "(put more into a ZIP archive).")
    return collect(files, prepare, budget=_budget_for(max_images, budget), progress=progress, label="files")


def read_folder(folder: str | os.PathLike, prepare: Callable[[Image.Image], T], *, max_images: int | None = None,
                budget: ReadBudget | None = None, progress: ProgressFn = None) -> ImageSet[T]:
    """A folder of images (module docstring)."""
    if not Path(folder).is_dir():
        raise ImageSetError(f"“{folder}” is not a folder.")
    return collect(Path(folder), prepare, budget=_budget_for(max_images, budget), progress=progress,
                   label=str(folder))


def bundled_entries(keys: Iterable[str] | None = None) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The bundled photos (all, or those with the given sample keys) as (file name, bytes),
    sorted by file name: the same order and names as reading ``assets/samples`` as a folder."""
    samples = list_samples()
    if keys is not None:
        wanted = list(keys)
        known = {s.key for s in samples}
        unknown = [k for k in wanted if k not in known]
        if unknown:
            raise ImageSetError(f"Unknown bundled photos: {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        samples = [s for s in samples if s.key in set(wanted)]
    return sorted(((s.filename, s.path.read_bytes()) for s in samples), key=lambda e: e[0]), []


def read_bundled(prepare: Callable[[Image.Image], T], keys: Iterable[str] | None = None, *,
                 max_images: int | None = None, budget: ReadBudget | None = None,
                 progress: ProgressFn = None) -> ImageSet[T]:
    """The bundled photos (all or some, by sample key)."""
    entries, _ = bundled_entries(keys)
    return collect(entries, prepare, budget=_budget_for(max_images, budget), progress=progress,
                   label="bundled photos")


def read_source(source: str | os.PathLike, prepare: Callable[[Image.Image], T], *, max_images: int | None = None,
                budget: ReadBudget | None = None, progress: ProgressFn = None) -> ImageSet[T]:
    """A folder, a ``.zip`` file, a ``.txt`` list, ``bundled`` or a registered word (the command
    line passes ``limits.cli_read_budget()``; default: the app's budget)."""
    if str(source) == "bundled":
        return read_bundled(prepare, max_images=max_images, budget=budget, progress=progress)
    return collect(source, prepare, budget=_budget_for(max_images, budget), progress=progress, label=str(source))


def decode_entries(entries: list[tuple[str, bytes]], prepare: Callable[[Image.Image], T], *,
                   notes: list[str] | None = None, max_images: int | None = None,
                   source: str = "") -> ImageSet[T]:
    """(name, bytes) entries read as a set with the app's budget (kept for older callers)."""
    return collect(list(entries), prepare, budget=_budget_for(max_images, None), notes=notes or (), label=source)


def zip_entries(data: bytes) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The (name, bytes) of the archive's regular files that pass the safety rules, sorted by
    name, and a message for each entry ignored (no decoding; the app's budget)."""
    notes: list[str] = []
    budget = limits.server_read_budget()
    ms = _zip_members(data, budget, notes.append)
    out: list[tuple[str, bytes]] = []
    total = 0
    for m in ms.members:
        if m.skip:
            notes.append(m.skip)
            continue
        if m.size is not None and m.size > budget.max_file_bytes:
            notes.append(f"“{_shown(m.name)}” was skipped: {_mb(m.size)} uncompressed; the limit per image is "
                         f"{_mb(budget.max_file_bytes)}.")
            continue
        if budget.max_total_bytes is not None and total + (m.size or 0) > budget.max_total_bytes:
            notes.append(f"Stopped reading at “{_shown(m.name)}”: more than {_mb(budget.max_total_bytes)} in all.")
            break
        try:
            blob = m.read(budget.max_file_bytes)
        except Exception as e:
            notes.append(f"“{_shown(m.name)}” could not be read from the archive ({type(e).__name__}).")
            continue
        if len(blob) > budget.max_file_bytes:
            notes.append(f"“{_shown(m.name)}” was skipped: larger than its header says and than the limit per image.")
            continue
        total += m.size or 0
        out.append((m.name, blob))
    return out, notes


__all__ = ["ImageItem", "ImageSet", "ImageSetError", "NAMED_SOURCES", "bundled_entries", "collect", "decode_entries",
           "iter_images", "read_bundled", "read_files", "read_folder", "read_source", "read_zip",
           "register_named_source", "unsafe_name_reason", "zip_entries"]
