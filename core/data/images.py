"""Image handling: validate and decode uploads, the bundled sample photos, model-size
preprocessing, and the conversions between PIL images and [0, 1] tensors.

Everything in ``core`` works on float tensors in [0, 1] of shape (N, 3, H, W); this module is
the one place where bytes and PIL images become such tensors and back.

Decoding untrusted bytes (:func:`decode_image`) follows three rules:

* **Limits before work.** The byte size is checked first; then only the header is parsed
  (``Image.open`` without ``load``) and the pixel count and side lengths are checked against
  :mod:`core.runtime.limits` *before* any pixel data is decoded, so a decompression bomb (a tiny file
  that claims a huge size) is refused without allocating its pixels. Pillow's own
  ``DecompressionBombWarning`` (at ``Image.MAX_IMAGE_PIXELS``, 89 MP by default) is silenced
  like every Pillow warning during decoding (our lower limit refuses those files with a
  clearer message; the others are notes such as "Corrupt EXIF data") and its
  ``DecompressionBombError`` (twice that) becomes an :class:`ImageError`; the module does not
  change Pillow's global.
* **Only the formats we mean to read.** ``Image.open`` is restricted to PNG, JPEG (including
  the MPO variant that cameras and phones write), WebP, BMP, TIFF and GIF, so no other Pillow
  parser ever sees untrusted bytes. The format is detected from the content, never from the
  file name. Animated GIF/WebP and multi-page TIFF give their first frame.
* **A decode budget for every format, from the file's structure.** Before ``Image.open``,
  :func:`check_structure` walks the container without decoding anything: a JPEG's marker
  segments are counted and its scans (SOS markers) are counted through the entropy-coded data;
  more than ``limits.MAX_JPEG_SCANS`` scans (a "scan bomb": decode time grows with scans x
  pixels) or ``limits.MAX_JPEG_SEGMENTS`` segments are refused. A PNG's chunks are counted and
  its metadata (text, ICC, EXIF and private chunks) is bounded in number and bytes
  (``limits.MAX_PNG_CHUNKS``, ``MAX_PNG_META_CHUNKS``, ``MAX_PNG_META_BYTES``); Pillow's own caps
  on decompressed text/ICC chunks are reported as metadata bombs, not as damage. The other
  formats' decode work is bounded by the pixel limits (BMP, GIF, WebP and TIFF decode their
  first frame in time linear in its pixels). Together: no accepted file takes more than a
  few seconds of one core.
* **Every failure is an ImageError with a sentence a user can act on.** Unexpected exceptions
  (including ``MemoryError``) inside decoding are converted; ``KeyboardInterrupt`` and
  ``SystemExit`` are not caught. Pillow's warnings are silenced with ``warnings.catch_warnings``
  around each decode; on Python < 3.14 that swaps a process-global filter list, so two decodes in
  parallel threads may briefly silence each other's warnings (harmless: the limits here do not
  rely on warnings).

Colour handling: EXIF orientation is applied (``ImageOps.exif_transpose``). Transparent images
(RGBA, LA, PA, palette or grayscale with a transparency key) are composited on white. 16-bit
grayscale is scaled with ``round(v / 257)`` (65535 -> 255). Pillow itself reads 16-bit RGB(A)
PNGs as 8-bit by keeping the high byte (65535 -> 255). 32-bit integer ("I") images are taken as
8-bit when their values lie in [0, 255], as 16-bit when in [0, 65535], else min-max scaled;
float ("F") images as [0, 1] or [0, 255] when they lie in those ranges, else min-max scaled.
CMYK goes through the embedded ICC profile to sRGB when there is one (LittleCMS via
``PIL.ImageCms``), else through Pillow's plain CMYK -> RGB conversion.

Preprocessing (:func:`resize_center_crop`) follows torchvision's ``Resize(int)`` +
``CenterCrop`` on PIL images exactly (same output sizes, same rounding of the crop offset,
Pillow's antialiased bicubic), which is the preprocessing that reproduces the official
EfficientNet-Lite accuracy (docs/ALGORITHMS.md, ImageNet classifiers).
"""
from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections import OrderedDict
import json
import math
import struct
import warnings
from pathlib import Path
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from core.runtime import limits
from core.runtime.paths import ASSETS

if TYPE_CHECKING:  # pragma: no cover
    from core.models.spec import ModelSpec

__all__ = [
    "ImageError",
    "SUPPORTED_FORMATS",
    "decode_image",
    "decode_image_cached",
    "decode_cache_has",
    "decode_cache_info",
    "clear_decode_cache",
    "check_structure",
    "image_header",
    "Sample",
    "SAMPLES_DIR",
    "list_samples",
    "load_sample",
    "resize_center_crop",
    "stretch",
    "prepare_for_model",
    "to_tensor",
    "to_pil",
    "quantize_8bit",
    "encode_png",
    "decode_png_tensor",
]

SAMPLES_DIR = ASSETS / "samples"
_MANIFEST = "SAMPLES.json"

# Pillow plugin names tried by Image.open; "MPO" (multi-picture JPEG) is produced by the JPEG
# plugin itself, so it is accepted as a result without being listed here.
_OPEN_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
_ACCEPTED_FORMATS = frozenset(_OPEN_FORMATS) | {"MPO"}
SUPPORTED_FORMATS = ("PNG", "JPEG", "WebP", "BMP", "TIFF", "GIF")
_SUPPORTED_TEXT = "PNG, JPEG, WebP, BMP, TIFF and GIF"


class ImageError(ValueError):
    """An image that cannot be used; ``str(err)`` is a complete sentence for the user."""


# --------------------------------------------------------------------------- decoding


def _fmt_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def _fmt_limit_bytes(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else _fmt_bytes(n)


_SUPPORTED_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8", "JPEG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)


def _sniff(data: bytes) -> str | None:
    """A short description of what some common non-image (or unsupported) files are."""
    head = data[:512]
    for magic, fmt in _SUPPORTED_MAGIC:
        if head.startswith(magic) and (fmt != "WebP" or head[8:12] == b"WEBP"):
            return f"it starts like a {fmt} file but is damaged or truncated"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<svg") or b"<svg" in stripped:
        return "it looks like SVG/XML text"
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "it looks like an HTML page"
    if head.startswith(b"%PDF"):
        return "it looks like a PDF document"
    if head.startswith(b"%!PS"):
        return "it looks like a PostScript/EPS document"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc"):
        return "it looks like a HEIC/HEIF photo; export it as JPEG or PNG first"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "it looks like an AVIF image; export it as JPEG or PNG first"
    if head.startswith(b"\x00\x00\x01\x00") and 0 < int.from_bytes(head[4:6], "little") <= 256:
        return "it looks like an ICO icon"
    if head.startswith(b"8BPS"):
        return "it looks like a Photoshop document"
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return "it looks like a JPEG 2000 image"
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive (or an Office document)"
    if head.startswith(b"\x1f\x8b"):
        return "it looks like a gzip archive"
    if head[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6") and head[2:3] in (b" ", b"\n", b"\r", b"\t"):
        return "it looks like a PPM/PGM/PBM image"
    try:
        head.decode("utf-8")
        if head and all(c >= 32 or c in (9, 10, 13) for c in head):
            return "it looks like plain text"
    except UnicodeDecodeError:
        pass
    return None


def _who(name: str) -> str:
    return f'The file "{name}"' if name else "This file"


def _to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map [lo, hi] -> [0, 255], rounded and clipped."""
    arr = arr.astype(np.float64)
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.clip(np.rint((arr - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _scale_wide_gray(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float single-channel image -> 8-bit "L" (see module doc)."""
    arr = np.asarray(im)
    if im.mode.startswith("I;16"):
        return Image.fromarray(_to_uint8(arr, 0, 65535), "L")
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if finite.size == 0:
        return Image.new("L", im.size, 0)
    lo, hi = float(finite.min()), float(finite.max())
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=hi, neginf=lo)
    if im.mode == "F":
        if lo >= 0 and hi <= 1:
            out = _to_uint8(arr, 0, 1)
        elif lo >= 0 and hi <= 255:
            out = _to_uint8(arr, 0, 255)
        else:
            out = _to_uint8(arr, lo, hi)
    else:  # "I"
        if lo >= 0 and hi <= 255:
            out = _to_uint8(arr, 0, 255)
        elif lo >= 0 and hi <= 65535:
            out = _to_uint8(arr, 0, 65535)
        else:
            out = _to_uint8(arr, lo, hi)
    return Image.fromarray(out, "L")


def _on_white(im: Image.Image) -> Image.Image:
    """Composite an RGBA image on a white background -> RGB."""
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            # imported here: ImageCms needs Pillow's optional LittleCMS extension; without it only
            # CMYK images with a colour profile lose the profile (the except below)
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None and out.mode == "RGB":
                return out
        except Exception:  # a broken or unusable profile: fall back to the plain conversion
            pass
    return im.convert("RGB")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> "RGB" (transparency composited on white)."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        im = _scale_wide_gray(im)
        mode = "L"
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    has_alpha_palette = mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info or has_alpha_palette:
        return _on_white(im)
    return im.convert("RGB")


def _check_size(width: int, height: int, who: str) -> None:
    pixels = width * height
    if width <= 0 or height <= 0:
        raise ImageError(f"{who} describes an image with no pixels ({width}×{height}).")
    if width > limits.MAX_IMAGE_SIDE or height > limits.MAX_IMAGE_SIDE:
        raise ImageError(
            f"The image is {width}×{height} pixels; the limit is {limits.MAX_IMAGE_SIDE} pixels "
            "per side. Please upload a smaller version."
        )
    if pixels > limits.MAX_IMAGE_PIXELS:
        raise ImageError(
            f"The image is {width}×{height} pixels ({pixels / 1e6:.1f} megapixels); the limit is "
            f"{limits.MAX_IMAGE_PIXELS / 1e6:g} megapixels. Please upload a smaller version."
        )



# --------------------------------------------------------------------------- decode budget
_JPEG_NO_LENGTH = frozenset([0x01, *range(0xD0, 0xD9)])  # TEM, RST0-7, SOI


def jpeg_structure(data: bytes) -> tuple[int, int]:
    """(marker segments before the first scan, scans) of a JPEG, from its markers alone.

    The entropy-coded data after each SOS is skipped to the next marker that is neither a
    stuffed ``FF 00`` nor a restart marker; fill bytes (``FF FF``) are skipped. Stops at EOI or
    at the end of the data (a truncated file counts what it has)."""
    n = len(data)
    i = 2  # after SOI
    segments = scans = 0
    while i < n:
        j = data.find(b"\xff", i)
        if j < 0 or j + 1 >= n:
            break
        k = j + 1
        while k < n and data[k] == 0xFF:  # fill bytes
            k += 1
        if k >= n:
            break
        m = data[k]
        i = k + 1
        if m == 0x00 or m in _JPEG_NO_LENGTH:
            continue
        if m == 0xD9:  # EOI
            break
        if i + 2 > n:
            break
        length = (data[i] << 8) | data[i + 1]
        i += length
        if m == 0xDA:  # SOS: skip the entropy-coded data
            scans += 1
            while i < n:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return segments, scans
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    i = j + 2 if nxt != 0xFF else j + 1
                    continue
                i = j
                break
        elif scans == 0:
            segments += 1
    return segments, scans


_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_CRITICAL = frozenset([b"IHDR", b"PLTE", b"IDAT", b"IEND"])


def png_structure(data: bytes) -> tuple[int, int, int]:
    """(chunks, metadata chunks, metadata bytes) of a PNG, from its chunk headers alone (no CRC
    check, no decompression); stops at IEND or the end of the data."""
    n = len(data)
    i = len(_PNG_SIG)
    chunks = meta = meta_bytes = 0
    while i + 8 <= n:
        length = int.from_bytes(data[i:i + 4], "big")
        typ = data[i + 4:i + 8]
        chunks += 1
        if typ not in _PNG_CRITICAL:
            meta += 1
            meta_bytes += min(length, n - i)
        if typ == b"IEND":
            break
        i += 12 + length
    return chunks, meta, meta_bytes


def check_structure(data: bytes, name: str = "") -> None:
    """The decode budget (module docstring): refuse a JPEG or PNG whose structure would make
    decoding (or reading its metadata) cost far more than its pixel count suggests, with an
    :class:`ImageError` naming the reason. Other formats pass (their cost is bounded by pixels)."""
    who = _who(name)
    if data[:2] == b"\xff\xd8":
        segments, scans = jpeg_structure(data)
        if scans > limits.MAX_JPEG_SCANS:
            raise ImageError(
                f"{who} is a JPEG with {scans} scans; at most {limits.MAX_JPEG_SCANS} are accepted (ordinary "
                "progressive JPEGs have about 10; this many make decoding take minutes: a scan bomb). "
                "It was not decoded.")
        if segments > limits.MAX_JPEG_SEGMENTS:
            raise ImageError(
                f"{who} is a JPEG with {segments} metadata segments before its image data; at most "
                f"{limits.MAX_JPEG_SEGMENTS} are accepted (a metadata bomb). It was not decoded.")
    elif data[:8] == _PNG_SIG:
        chunks, meta, meta_bytes = png_structure(data)
        if chunks > limits.MAX_PNG_CHUNKS:
            raise ImageError(
                f"{who} is a PNG made of {chunks} chunks; at most {limits.MAX_PNG_CHUNKS} are accepted "
                "(a chunk bomb). It was not decoded.")
        if meta > limits.MAX_PNG_META_CHUNKS or meta_bytes > limits.MAX_PNG_META_BYTES:
            raise ImageError(
                f"{who} is a PNG with {meta} metadata chunks ({_fmt_bytes(meta_bytes)}); at most "
                f"{limits.MAX_PNG_META_CHUNKS} chunks and {_fmt_limit_bytes(limits.MAX_PNG_META_BYTES)} of "
                "metadata are accepted (a metadata bomb). It was not decoded.")


_META_BOMB_TEXT = ("decompressed data too large", "too much memory used in text chunks", "too many")


def _metadata_bomb(e: BaseException, who: str, fmt: str) -> ImageError | None:
    """Pillow's caps on decompressed text/ICC chunks, as a metadata-bomb message (or None)."""
    msg = str(e).lower()
    if isinstance(e, ValueError) and any(t in msg for t in _META_BOMB_TEXT):
        return ImageError(f"{who} is a {fmt or 'PNG'} whose metadata (text or colour-profile chunks) inflates "
                          "beyond the decoder's limit (a metadata bomb). It was not used.")
    return None


def image_header(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header alone, without decoding pixels; None when the
    header cannot be read (then :func:`decode_image` gives the reason). Cheap: used to count a
    set's declared pixels before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(bytes(data)), formats=list(_OPEN_FORMATS)) as im:
                return str(im.format), int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError:
        return "?", limits.MAX_IMAGE_SIDE + 1, limits.MAX_IMAGE_SIDE + 1
    except Exception:
        return None


def _decode(data: bytes, name: str) -> Image.Image:
    who = _who(name)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{who} could not be read (expected bytes, got {type(data).__name__}).")
    data = bytes(data)
    if len(data) == 0:
        raise ImageError(f"{who} is empty (0 bytes).")
    if len(data) > limits.MAX_UPLOAD_BYTES:
        raise ImageError(
            f"{who} is {_fmt_bytes(len(data))}; the limit is "
            f"{_fmt_limit_bytes(limits.MAX_UPLOAD_BYTES)} per image."
        )

    # 0. The decode budget, from the structure alone.
    check_structure(data, name)

    # 1. Header only: format, mode, size. Pillow's bomb warning is silenced (by the caller)
    # because our own, lower limit is checked right below with a clearer message; Pillow's
    # bomb error is converted.
    try:
        im = Image.open(io.BytesIO(data), formats=list(_OPEN_FORMATS))
    except Image.DecompressionBombError:
        raise ImageError(
            f"{who} claims an image size beyond the limit of "
            f"{limits.MAX_IMAGE_PIXELS / 1e6:g} megapixels (it may be a decompression bomb); "
            "it was not decoded."
        ) from None
    except UnidentifiedImageError:
        what = _sniff(data)
        if what and what.startswith("it starts like"):
            raise ImageError(f"{who} could not be read as an image ({what}).") from None
        detail = f" ({what})" if what else ""
        raise ImageError(
            f"{who} is not an image in a supported format{detail}. "
            f"Supported formats: {_SUPPORTED_TEXT}."
        ) from None
    except (OSError, EOFError, ValueError, SyntaxError, IndexError, TypeError, struct.error) as e:
        bomb = _metadata_bomb(e, who, "")
        if bomb is not None:
            raise bomb from None
        what = _sniff(data) or "it is damaged or truncated"
        raise ImageError(f"{who} could not be read as an image ({what}).") from None

    if im.format not in _ACCEPTED_FORMATS:  # defensive: Image.open was restricted already
        raise ImageError(
            f"{who} is a {im.format} image, which is not supported. "
            f"Supported formats: {_SUPPORTED_TEXT}."
        )
    width, height = im.size
    _check_size(width, height, who)

    # 2. Decode the first frame only.
    try:
        im.load()  # Image.open leaves a multi-frame file at frame 0
    except MemoryError:
        raise
    except Exception as e:
        bomb = _metadata_bomb(e, who, im.format)
        if bomb is not None:
            raise bomb from None
        msg = str(e).lower()
        if "truncat" in msg or isinstance(e, EOFError) or "premature" in msg:
            raise ImageError(
                f"{who} seems to be truncated or damaged: its {im.format} data ends early."
            ) from None
        raise ImageError(
            f"{who} could not be decoded as a {im.format} image; it may be damaged or use an "
            "unusual variant of the format."
        ) from None
    if im.size != (width, height):  # some decoders (e.g. JPEG draft) may change it
        _check_size(*im.size, who)

    # 3. Orientation, then colour.
    source = {"source_format": im.format or "", "source_mode": im.mode}
    try:
        oriented = ImageOps.exif_transpose(im)
        if oriented is not None:
            im = oriented
    except Exception:  # unreadable EXIF: keep the stored orientation rather than refuse
        pass
    rgb = _to_rgb(im)
    if rgb.mode != "RGB":  # pragma: no cover - every Pillow mode is handled above
        raise ImageError(f"{who} uses the colour mode {im.mode!r}, which cannot be shown.")
    if rgb is im:
        rgb = im.copy()
    rgb.info = source
    return rgb


def decode_image(data: bytes, name: str = "") -> Image.Image:
    """Decode an uploaded file's bytes into an RGB PIL image, or raise :class:`ImageError`.

    ``name`` (the uploaded file's name) is used only in messages; the format is detected from
    the content. Limits come from :mod:`core.runtime.limits` (read at call time): ``MAX_UPLOAD_BYTES``,
    then ``MAX_IMAGE_SIDE`` and ``MAX_IMAGE_PIXELS`` from the header before decoding. The result
    has mode "RGB", EXIF orientation applied, and ``info`` holding only ``source_format`` and
    ``source_mode`` (what the file was).
    """
    try:
        with warnings.catch_warnings():  # Pillow's notes on odd files (corrupt EXIF, ...)
            warnings.simplefilter("ignore")
            return _decode(data, name)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(
            f"{_who(name)} needs more memory to decode than the server has available."
        ) from None
    except Exception as e:  # never let a decoder's traceback reach the page
        raise ImageError(
            f"{_who(name)} could not be read as an image ({type(e).__name__}). "
            f"Supported formats: {_SUPPORTED_TEXT}."
        ) from None


# Decoded uploads, per file content: a rerun (another seed, attack or Run) and other visitors
# uploading the same file get the decoded image without decoding again; a file being decoded
# by one session is waited for, not decoded a second time. Refusals are remembered too.
DECODE_CACHE_BYTES = 256 * 1024 * 1024  # decoded RGB bytes kept in all
DECODE_CACHE_ENTRIES = 32
_CACHE: OrderedDict[tuple[bytes, str], tuple[Image.Image | None, str, int]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_INFLIGHT: dict[tuple[bytes, str], threading.Lock] = {}
_cache_bytes = 0


def _cache_get(key: tuple[bytes, str]) -> tuple[Image.Image | None, str, int] | None:
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
        return hit


def _cache_put(key: tuple[bytes, str], entry: tuple[Image.Image | None, str, int]) -> None:
    global _cache_bytes
    if entry[2] > DECODE_CACHE_BYTES:
        return
    with _CACHE_LOCK:
        if key in _CACHE:
            return
        _CACHE[key] = entry
        _cache_bytes += entry[2]
        while _CACHE and (_cache_bytes > DECODE_CACHE_BYTES or len(_CACHE) > DECODE_CACHE_ENTRIES):
            _, old = _CACHE.popitem(last=False)
            _cache_bytes -= old[2]


def clear_decode_cache() -> None:
    """Forget every cached decode (tests; memory measurements)."""
    global _cache_bytes
    with _CACHE_LOCK:
        _CACHE.clear()
        _cache_bytes = 0


def decode_cache_has(data: bytes, name: str = "") -> bool:
    """Whether :func:`decode_image_cached` would answer from the cache."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return False
    with _CACHE_LOCK:
        return (hashlib.sha256(data).digest(), str(name)) in _CACHE


def decode_cache_info() -> dict[str, int]:
    with _CACHE_LOCK:
        return {"entries": len(_CACHE), "bytes": _cache_bytes}


def decode_image_cached(data: bytes, name: str = "") -> Image.Image:
    """:func:`decode_image` with a process-wide cache keyed by the SHA-256 of the bytes (and the
    name, which the messages quote), bounded by ``DECODE_CACHE_BYTES`` of decoded pixels. Returns
    a fresh copy; a refusal raises the same :class:`ImageError` again without decoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return decode_image(data, name)
    key = (hashlib.sha256(data).digest(), str(name))
    hit = _cache_get(key)
    if hit is None:
        with _CACHE_LOCK:
            lock = _INFLIGHT.setdefault(key, threading.Lock())
        with lock:  # the same file uploaded in several tabs at once is decoded once
            hit = _cache_get(key)
            if hit is None:
                try:
                    im = decode_image(data, name)
                    hit = (im, "", im.size[0] * im.size[1] * 3)
                except ImageError as e:
                    hit = (None, str(e), 0)
                _cache_put(key, hit)
        with _CACHE_LOCK:
            if _INFLIGHT.get(key) is lock:
                del _INFLIGHT[key]
    im, err, _ = hit
    if im is None:
        raise ImageError(err)
    out = im.copy()
    out.info = dict(im.info)
    return out


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One bundled photo and where it comes from."""

    key: str
    title: str
    filename: str
    subject: str
    licence: str
    credit: str
    source: str

    @property
    def path(self) -> Path:
        return SAMPLES_DIR / self.filename


@functools.lru_cache(maxsize=1)
def _manifest() -> tuple[Sample, ...]:
    with open(SAMPLES_DIR / _MANIFEST, encoding="utf-8") as f:
        raw = json.load(f)
    names = [f.name for f in fields(Sample)]
    return tuple(Sample(**{k: entry[k] for k in names}) for entry in raw["samples"])


def list_samples() -> list[Sample]:
    """The bundled photos, in the manifest's order (``assets/samples/SAMPLES.json``)."""
    return list(_manifest())


@functools.lru_cache(maxsize=32)
def _sample_bytes(key: str) -> bytes:
    for s in _manifest():
        if s.key == key:
            return s.path.read_bytes()
    known = ", ".join(s.key for s in _manifest())
    raise KeyError(f"unknown sample {key!r}; known samples: {known}")


def load_sample(key: str) -> Image.Image:
    """A bundled photo as a fresh RGB image (a new object on every call)."""
    return decode_image(_sample_bytes(key), name=key)


# --------------------------------------------------------------------------- resizing


def _as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        h = w = size
    else:
        h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def resize_center_crop(
    img: Image.Image, size: int | tuple[int, int], resize_size: int | None = None
) -> Image.Image:
    """Resize the short side to ``resize_size`` (bicubic), then centre-crop to ``size``.

    ``size`` is an int (square) or (H, W). ``resize_size`` defaults to ``size + 32`` for an
    int size and ``max(H, W) + 32`` for a tuple. The resized sizes and the crop offsets match
    torchvision's ``Resize(resize_size)`` + ``CenterCrop(size)`` on PIL images. Deviation: if
    an explicit ``resize_size`` would leave the image smaller than the crop, the image is
    scaled up just enough to cover it (torchvision would pad with black). Deviation: when the
    resized image would exceed ``limits.MAX_RESIZE_PIXELS`` (a very elongated image, e.g.
    12000x1, whose full resize would take gigabytes), only the region that survives the crop
    is resized (Pillow's ``box``), which may differ from the full resize by a few levels.
    """
    h, w = _as_hw(size)
    if resize_size is None:
        resize_size = max(h, w) + 32
    if resize_size <= 0:
        raise ValueError(f"resize_size must be positive, got {resize_size!r}")
    img = _to_rgb(img)
    iw, ih = img.size
    short, long = (iw, ih) if iw <= ih else (ih, iw)
    new_short, new_long = resize_size, int(resize_size * long / short)
    new_w, new_h = (new_short, new_long) if iw <= ih else (new_long, new_short)
    if new_w < w or new_h < h:  # cover the crop
        scale = max(w / iw, h / ih)
        new_w, new_h = max(w, math.ceil(iw * scale)), max(h, math.ceil(ih * scale))
    top = int(round((new_h - h) / 2.0))
    left = int(round((new_w - w) / 2.0))
    if new_w * new_h > limits.MAX_RESIZE_PIXELS:  # resize only the part that the crop keeps
        sx, sy = iw / new_w, ih / new_h
        box = (left * sx, top * sy, (left + w) * sx, (top + h) * sy)
        return img.resize((w, h), Image.Resampling.BICUBIC, box=box)
    if (new_w, new_h) != (iw, ih):
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    return img.crop((left, top, left + w, top + h))


def stretch(img: Image.Image, size_hw: tuple[int, int]) -> Image.Image:
    """Resize to exactly (H, W), ignoring the aspect ratio (bilinear)."""
    h, w = _as_hw(size_hw)
    img = _to_rgb(img)
    if img.size == (w, h):
        return img.copy()
    return img.resize((w, h), Image.Resampling.BILINEAR)


def prepare_for_model(img: Image.Image, spec: ModelSpec) -> Image.Image:
    """The model's preprocessing: resize + centre crop when ``spec.resize_size > 0``,
    else a plain stretch to ``spec.input_size`` (e.g. MediaPipe segmentation)."""
    if spec.resize_size > 0:
        return resize_center_crop(img, tuple(spec.input_size), spec.resize_size)
    return stretch(img, tuple(spec.input_size))


# --------------------------------------------------------------------------- tensors


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image -> float32 tensor (1, 3, H, W) in [0, 1] (``uint8 / 255``)."""
    arr = np.asarray(_to_rgb(img), dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0)
    return t.to(torch.float32).div_(255.0)


def _levels(x: torch.Tensor) -> torch.Tensor:
    """round(clamp(x, 0, 1) * 255) in x's float dtype (NaN -> 0)."""
    if not x.is_floating_point():
        x = x.to(torch.float32)
    x = torch.nan_to_num(x.detach(), nan=0.0)
    return (x.clamp(0.0, 1.0) * 255.0).round()


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """``round(clamp(x, 0, 1) * 255) / 255``: the values an 8-bit file of ``x`` holds.

    Same shape, dtype and device as ``x``; no gradient flows through it (it is a
    measurement, not a differentiable layer).
    """
    return _levels(x) / 255.0


def _chw(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"expected shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x


def to_pil(x: torch.Tensor) -> Image.Image:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] -> RGB image, quantised with round."""
    levels = _levels(_chw(x)).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(levels), "RGB")


def encode_png(x: torch.Tensor) -> bytes:
    """An 8-bit RGB PNG of a (3, H, W) or (1, 3, H, W) tensor in [0, 1].

    ``decode_png_tensor(encode_png(x))`` equals ``quantize_8bit(x)`` exactly (float32 ``x``).
    """
    buf = io.BytesIO()
    to_pil(x).save(buf, format="PNG")
    return buf.getvalue()


def decode_png_tensor(b: bytes) -> torch.Tensor:
    """Bytes of an image (normally from :func:`encode_png`) -> (1, 3, H, W) float32 in [0, 1]."""
    return to_tensor(decode_image(b))
