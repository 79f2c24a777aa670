"""Sets of images for batch evaluation: an uploaded ZIP archive, a folder, or the bundled photos.

Reading an archive from a stranger follows the rules of :mod:`core.images` (limits before work,
a sentence for every refusal) plus the archive's own:

* the archive is at most ``limits.MAX_ZIP_BYTES``; at most ``limits.MAX_ZIP_MEMBERS`` entries
  are looked at (the rest are ignored, with a message);
* nothing is ever extracted to disk; entries with an absolute path, a drive letter or a ``..``
  component (path traversal) are **ignored** with a message, as are symbolic links, encrypted
  entries and hidden/system files (``__MACOSX/``, ``._*``, ``.DS_Store``, other dot files);
* each entry's declared size must be at most ``limits.MAX_UPLOAD_BYTES`` (the per-image limit),
  and it is read through a bounded read, so a header that lies cannot make it bigger; the
  declared sizes of everything read add up to at most ``limits.MAX_ZIP_TOTAL_BYTES`` (a zip
  bomb stops there);
* every entry is decoded with :func:`core.images.decode_image` (format sniffed from the content,
  pixel limits before decoding); non-images are skipped with its message;
* images are taken in order of their names (so a folder and a zip of it give the same order),
  at most ``limits.MAX_EVAL_IMAGES`` of them, each passed through ``prepare`` (e.g. the model's
  resize and crop) right after decoding, so full-size photos are not kept in memory.

A folder is read the same way (recursively, symbolic links not followed, names relative to the
folder). The bundled photos are read from ``assets/samples`` with the same code.
"""
from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Generic, Iterable, TypeVar

from PIL import Image

from core import limits
from core.images import ImageError, decode_image, list_samples

T = TypeVar("T")
MAX_MESSAGES = 50  # skip messages kept; the rest are counted


class ImageSetError(ValueError):
    """An archive or folder that cannot be used at all; ``str(err)`` is a sentence for the user."""


@dataclass
class ImageSet(Generic[T]):
    """Named, prepared images and what was skipped (one sentence per skipped entry)."""

    items: list[tuple[str, T]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    more_skipped: int = 0  # messages beyond MAX_MESSAGES
    source: str = ""

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
    return f"{n / (1024 * 1024):g} MB"


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_name_reason(name: str) -> str | None:
    """Why an archive entry's name is refused (absolute, drive, ``..``), or None."""
    n = name.replace("\\", "/")
    if n.startswith("/") or _DRIVE.match(n):
        return "it has an absolute path"
    if any(part == ".." for part in n.split("/")):
        return "its path leaves the archive (“..”)"
    if "\x00" in n:
        return "its name contains a NUL character"
    return None


def _hidden(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def zip_entries(data: bytes) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The (name, bytes) of the archive's regular files that pass the safety rules (module
    docstring), sorted by name, and a message for each entry ignored. Raises
    :class:`ImageSetError` for an archive that cannot be read at all."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageSetError("The archive could not be read (expected bytes).")
    data = bytes(data)
    if len(data) > limits.MAX_ZIP_BYTES:
        raise ImageSetError(f"The archive is {_mb(len(data))}; the limit is {_mb(limits.MAX_ZIP_BYTES)}.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImageSetError("The file is not a ZIP archive that can be read.") from None
    notes: list[str] = []
    if len(infos) > limits.MAX_ZIP_MEMBERS:
        notes.append(f"The archive has {len(infos)} entries; only the first {limits.MAX_ZIP_MEMBERS} were looked at.")
        infos = infos[: limits.MAX_ZIP_MEMBERS]
    out: list[tuple[str, bytes]] = []
    total = 0
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename
        shown = name[:120]
        if info.is_dir():
            continue
        why = unsafe_name_reason(name)
        if why:
            notes.append(f"“{shown}” was ignored: {why}.")
            continue
        if _hidden(name):
            notes.append(f"“{shown}” was ignored: a hidden or system file.")
            continue
        mode = (info.external_attr >> 16) & 0xFFFF
        if mode and stat.S_ISLNK(mode):
            notes.append(f"“{shown}” was ignored: a symbolic link.")
            continue
        if info.flag_bits & 0x1:
            notes.append(f"“{shown}” was ignored: it is encrypted.")
            continue
        if info.file_size > limits.MAX_UPLOAD_BYTES:
            notes.append(f"“{shown}” was skipped: {_mb(info.file_size)} uncompressed; the limit per image is "
                         f"{_mb(limits.MAX_UPLOAD_BYTES)}.")
            continue
        if total + info.file_size > limits.MAX_ZIP_TOTAL_BYTES:
            notes.append(f"Stopped reading at “{shown}”: the files read so far and this one add up to more than "
                         f"{_mb(limits.MAX_ZIP_TOTAL_BYTES)} uncompressed.")
            break
        try:
            with zf.open(info) as f:
                blob = f.read(limits.MAX_UPLOAD_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError, EOFError) as e:
            notes.append(f"“{shown}” could not be read from the archive ({type(e).__name__}).")
            continue
        except Exception as e:  # zlib/bz2/lzma errors and the like: never a traceback for the user
            notes.append(f"“{shown}” could not be read from the archive ({type(e).__name__}).")
            continue
        if len(blob) > limits.MAX_UPLOAD_BYTES:
            notes.append(f"“{shown}” was skipped: larger than its header says and than the limit per image.")
            continue
        total += info.file_size
        out.append((PurePosixPath(name.replace("\\", "/")).as_posix(), blob))
    return out, notes


def folder_entries(folder: str | os.PathLike) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The (relative name, bytes) of the files under ``folder`` (recursively, symbolic links not
    followed, hidden files ignored), sorted by name, with the same limits as an archive."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageSetError(f"“{folder}” is not a folder.")
    notes: list[str] = []
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for fn in sorted(filenames):
            found.append(Path(dirpath) / fn)
            if len(found) > limits.MAX_ZIP_MEMBERS:
                break
        if len(found) > limits.MAX_ZIP_MEMBERS:
            notes.append(f"The folder has more than {limits.MAX_ZIP_MEMBERS} files; only the first "
                         f"{limits.MAX_ZIP_MEMBERS} were looked at.")
            found = found[: limits.MAX_ZIP_MEMBERS]
            break
    out: list[tuple[str, bytes]] = []
    total = 0
    for p in sorted(found, key=lambda q: q.relative_to(root).as_posix()):
        rel = p.relative_to(root).as_posix()
        if _hidden(rel):
            notes.append(f"“{rel}” was ignored: a hidden or system file.")
            continue
        if p.is_symlink() or not p.is_file():
            notes.append(f"“{rel}” was ignored: not a regular file.")
            continue
        size = p.stat().st_size
        if size > limits.MAX_UPLOAD_BYTES:
            notes.append(f"“{rel}” was skipped: {_mb(size)}; the limit per image is {_mb(limits.MAX_UPLOAD_BYTES)}.")
            continue
        if total + size > limits.MAX_ZIP_TOTAL_BYTES:
            notes.append(f"Stopped reading at “{rel}”: more than {_mb(limits.MAX_ZIP_TOTAL_BYTES)} in all.")
            break
        total += size
        out.append((rel, p.read_bytes()))
    return out, notes


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


def decode_entries(entries: list[tuple[str, bytes]], prepare: Callable[[Image.Image], T], *,
                   notes: list[str] | None = None, max_images: int | None = None,
                   source: str = "") -> ImageSet[T]:
    """Decode each entry (:func:`core.images.decode_image`), skip non-images with their message,
    and keep ``prepare(image)`` for at most ``max_images`` images (default and ceiling:
    ``limits.MAX_EVAL_IMAGES``)."""
    cap = limits.MAX_EVAL_IMAGES if max_images is None else max(0, min(int(max_images), limits.MAX_EVAL_IMAGES))
    out: ImageSet[T] = ImageSet(source=source)
    for m in notes or []:
        out.note(m)
    for i, (name, blob) in enumerate(entries):
        if len(out.items) >= cap:
            rest = len(entries) - i
            out.note(f"Only the first {cap} images (by name) are used; {rest} more file{'s' if rest != 1 else ''} "
                     "not looked at.")
            break
        try:
            img = decode_image(blob, name=name.rsplit("/", 1)[-1])
        except ImageError as e:
            out.note(f"“{name[:120]}” was skipped: {e}")
            continue
        out.items.append((name, prepare(img)))
    return out


def read_zip(data: bytes, prepare: Callable[[Image.Image], T], *, max_images: int | None = None) -> ImageSet[T]:
    """An uploaded archive, safely (module docstring)."""
    entries, notes = zip_entries(data)
    return decode_entries(entries, prepare, notes=notes, max_images=max_images, source="zip")


def read_folder(folder: str | os.PathLike, prepare: Callable[[Image.Image], T], *,
                max_images: int | None = None) -> ImageSet[T]:
    """A folder of images (module docstring)."""
    entries, notes = folder_entries(folder)
    return decode_entries(entries, prepare, notes=notes, max_images=max_images, source=str(folder))


def read_bundled(prepare: Callable[[Image.Image], T], keys: Iterable[str] | None = None, *,
                 max_images: int | None = None) -> ImageSet[T]:
    """The bundled photos (all or some, by sample key)."""
    entries, notes = bundled_entries(keys)
    return decode_entries(entries, prepare, notes=notes, max_images=max_images, source="bundled photos")


def read_source(source: str | os.PathLike, prepare: Callable[[Image.Image], T], *,
                max_images: int | None = None) -> ImageSet[T]:
    """A folder, a ``.zip`` file, or the word ``bundled`` (the bundled photos): for the command line."""
    if str(source) == "bundled":
        return read_bundled(prepare, max_images=max_images)
    p = Path(source)
    if p.is_dir():
        return read_folder(p, prepare, max_images=max_images)
    if p.is_file():
        size = p.stat().st_size
        if size > limits.MAX_ZIP_BYTES:
            raise ImageSetError(f"“{source}” is {_mb(size)}; the limit for an archive is {_mb(limits.MAX_ZIP_BYTES)}.")
        return read_zip(p.read_bytes(), prepare, max_images=max_images)
    raise ImageSetError(f"“{source}” is neither a folder nor a file (or the word 'bundled').")


__all__ = ["ImageSet", "ImageSetError", "bundled_entries", "decode_entries", "folder_entries", "read_bundled",
           "read_folder", "read_source", "read_zip", "unsafe_name_reason", "zip_entries"]
