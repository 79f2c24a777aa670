"""A generated corpus of hostile and odd image files, for tests/hostile/test_hostile_images.py and the
upload sample in tests/hostile/test_hostile_pages.py.

Nothing here is committed as data: :func:`build_corpus` makes every file from code (Pillow for
well-formed files, hand-written bytes for the malformed ones), deterministically.

Each :class:`Case` says what ``core.data.images.decode_image`` must do with it:

* ``"ok"``: decode to an RGB image (``size`` when given: exactly that (W, H); ``check``: an
  extra test of the pixels, returning an error text or None);
* ``"error"``: raise ``ImageError`` (``msg``: a substring the message must contain, any case);
* ``"either"``: an image or an ``ImageError`` (fuzzed and ambiguous files); never anything else.
"""
from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass
from typing import Optional
from collections.abc import Callable

import numpy as np
from PIL import Image

from core.runtime import limits

Check = Optional[Callable[[Image.Image], Optional[str]]]


@dataclass
class Case:
    name: str  # file name (extension chosen to mislead where that is the point)
    data: bytes
    expect: str  # "ok" | "error" | "either"
    group: str
    size: tuple[int, int] | None = None  # expected (W, H) for "ok"
    msg: str | None = None  # substring of the ImageError message for "error"
    check: Check = None


# --------------------------------------------------------------------------- helpers
def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with four distinct quadrants and a gradient (orientation-revealing)."""
    rng = np.random.default_rng(seed)
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (230, 20, 20)
    a[: h // 2, w // 2:] = (20, 230, 20)
    a[h // 2:, : w // 2] = (20, 20, 230)
    a[h // 2:, w // 2:] = (230, 230, 20)
    a[..., 2] = np.clip(a[..., 2].astype(int) + (np.arange(w)[None, :] * 3 % 40), 0, 255)
    a ^= (rng.integers(0, 4, a.shape, dtype=np.uint8))
    return a


def _rgb(w: int = 48, h: int = 32, seed: int = 0) -> Image.Image:
    return Image.fromarray(_pattern(w, h, seed), "RGB")


def _png_chunk(typ: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data) & 0xFFFFFFFF)


PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_raw(w: int, h: int, bit_depth: int, color_type: int, rows: bytes | None = None, *,
             idat: bytes | None = None, extra: list[bytes] = (), iend: bool = True) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(rows or b"")
    out = PNG_SIG + _png_chunk(b"IHDR", ihdr) + b"".join(extra) + _png_chunk(b"IDAT", idat)
    return out + (_png_chunk(b"IEND", b"") if iend else b"")


def _rows(arr: np.ndarray) -> bytes:
    """Filter type 0 scanlines of a (H, W[, C]) big-endian-ready array."""
    h = arr.shape[0]
    flat = arr.reshape(h, -1)
    return b"".join(b"\x00" + flat[i].tobytes() for i in range(h))


def _zeros_zlib(n: int, level: int = 9) -> bytes:
    """zlib stream of ``n`` zero bytes, compressed in pieces (no n-byte buffer)."""
    c = zlib.compressobj(level)
    block = bytes(1 << 20)
    out = []
    while n > 0:
        k = min(n, len(block))
        out.append(c.compress(block[:k]))
        n -= k
    out.append(c.flush())
    return b"".join(out)


def _bmp_header(w: int, h: int, bpp: int = 24, compression: int = 0, data: bytes = b"",
                file_size: int | None = None, offset: int = 54) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, compression, len(data), 2835, 2835, 0, 0)
    size = file_size if file_size is not None else 14 + len(info) + len(data)
    return b"BM" + struct.pack("<IHHI", size, 0, 0, offset) + info + data


def _tiff(w: int, h: int, *, bits: int = 8, spp: int = 1, photometric: int = 1, compression: int = 1,
          strip: bytes = b"\x00", strip_count: int | None = None, next_ifd: int = 0,
          extra_tags: list[tuple[int, int, int, int]] = ()) -> bytes:
    """A little-endian baseline TIFF with one strip; tags as (tag, type, count, value)."""
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, bits), (259, 3, 1, compression),
            (262, 3, 1, photometric), (273, 4, 1, 0), (277, 3, 1, spp), (278, 4, 1, h),
            (279, 4, 1, len(strip) if strip_count is None else strip_count), *extra_tags]
    tags.sort()
    ifd_off = 8
    ifd_len = 2 + 12 * len(tags) + 4
    data_off = ifd_off + ifd_len
    ifd = struct.pack("<H", len(tags))
    for tag, typ, count, value in tags:
        if tag == 273:
            value = data_off
        if typ == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value & 0xFFFFFFFF)
    ifd += struct.pack("<I", next_ifd if next_ifd >= 0 else ifd_off)
    return b"II*\x00" + struct.pack("<I", ifd_off) + ifd + strip


def _jpeg_with_sof_size(w: int, h: int) -> bytes:
    """A small JPEG whose SOF0 marker is patched to claim (w, h)."""
    data = bytearray(_save(_rgb(16, 16), "JPEG", quality=80))
    i = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, h, w)
    return bytes(data)


def _gif_screen(w: int, h: int) -> bytes:
    """A 1x1 GIF whose logical screen claims (w, h)."""
    data = bytearray(_save(Image.new("P", (1, 1), 0), "GIF"))
    struct.pack_into("<HH", data, 6, w, h)
    return bytes(data)


def _webp_vp8x(w: int, h: int) -> bytes:
    """A VP8X header claiming a (w, h) canvas, followed by a tiny real VP8L bitstream."""
    small = _save(_rgb(4, 4), "WEBP", lossless=True)
    body = small[12:]  # the VP8L chunk
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    payload = b"WEBP" + vp8x + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _exif(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


# EXIF orientation (EXIF 2.3, tag 0x0112): how the stored rows/columns must be moved so that the
# image displays upright. ``DISPLAY[o](stored)`` -> displayed, written with numpy from the spec,
# independently of Pillow's table.
DISPLAY = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored horizontally
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1, :],  # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),  # mirrored horizontally, then rotated 270 CW
    6: lambda a: np.rot90(a, k=-1),  # rotate 90 CW to display
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored horizontally, then rotated 90 CW
    8: lambda a: np.rot90(a, k=1),  # rotate 90 CCW to display
}
# The inverse of each: stored = STORE[o](displayed).
STORE = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=-1),
}


def _close_to(expected: np.ndarray, tol: float) -> Check:
    def check(im: Image.Image) -> str | None:
        got = np.asarray(im, dtype=np.int16)
        if got.shape != expected.shape:
            return f"shape {got.shape} != {expected.shape}"
        err = float(np.abs(got - expected.astype(np.int16)).mean())
        return None if err <= tol else f"mean abs error {err:.1f} > {tol}"
    return check


def _pixel(xy: tuple[int, int], rgb: tuple[int, int, int], tol: int = 0) -> Check:
    def check(im: Image.Image) -> str | None:
        got = im.getpixel(xy)
        if max(abs(int(a) - int(b)) for a, b in zip(got, rgb)) > tol:
            return f"pixel {xy} is {got}, expected {rgb}"
        return None
    return check


def _all(*checks: Check) -> Check:
    def check(im: Image.Image) -> str | None:
        for c in checks:
            r = c(im) if c else None
            if r:
                return r
        return None
    return check


# --------------------------------------------------------------------------- the corpus
def valid_cases() -> list[Case]:
    """Well-formed files in every supported format and many colour modes."""
    out: list[Case] = []
    base = _rgb(48, 32)
    arr = np.asarray(base)
    for fmt, ext, kw, tol in [("PNG", "png", {}, 0), ("JPEG", "jpg", {"quality": 95}, 8),
                              ("JPEG", "jpg", {"quality": 30, "progressive": True}, 20),
                              ("WEBP", "webp", {"lossless": True}, 0), ("WEBP", "webp", {"quality": 80}, 20),
                              ("BMP", "bmp", {}, 0), ("TIFF", "tif", {}, 0),
                              ("TIFF", "tiff", {"compression": "tiff_lzw"}, 0),
                              ("TIFF", "tiff", {"compression": "tiff_adobe_deflate"}, 0),
                              ("TIFF", "tiff", {"compression": "jpeg"}, 20),
                              ("TIFF", "tiff", {"compression": "packbits"}, 0)]:
        tag = "_".join(f"{k}-{v}" for k, v in kw.items())
        out.append(Case(f"valid_rgb_{fmt.lower()}_{tag}.{ext}", _save(base, fmt, **kw), "ok", "valid",
                        size=(48, 32), check=_close_to(arr, tol)))
    # GIF: palette quantisation loses colour; check size and the quadrant colours roughly.
    out.append(Case("valid_rgb.gif", _save(base, "GIF"), "ok", "valid", size=(48, 32), check=_close_to(arr, 40)))
    # Every mode Pillow writes per format.
    modes = {
        "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"],
        "TIFF": ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "LAB"],
        "BMP": ["1", "L", "P", "RGB", "RGBA"],
        "JPEG": ["L", "RGB", "CMYK", "YCbCr"],
        "WEBP": ["RGB", "RGBA"],
        "GIF": ["L", "P", "1"],
    }
    for fmt, ms in modes.items():
        for m in ms:
            try:
                im = base.convert(m) if m not in ("I;16", "I", "F") else Image.fromarray(
                    (np.asarray(base.convert("L")).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[m])
                     * {"I;16": 257, "I": 1, "F": 1}[m]))
                data = _save(im, fmt)
            except (OSError, ValueError, KeyError):
                continue
            out.append(Case(f"mode_{m.replace(';', '')}.{fmt.lower()}", data, "ok", "modes", size=(48, 32)))
    # Tiny and thin images.
    for w, h in [(1, 1), (1, 2), (2, 1), (limits.MAX_IMAGE_SIDE, 1), (1, limits.MAX_IMAGE_SIDE), (3000, 2)]:
        im = Image.new("RGB", (w, h), (10, 200, 30))
        out.append(Case(f"thin_{w}x{h}.png", _save(im, "PNG"), "ok", "sizes", size=(w, h),
                        check=_pixel((0, 0), (10, 200, 30))))
    # Close below the pixel limit (a real, large but allowed image).
    side = int(limits.MAX_IMAGE_PIXELS ** 0.5) - 8
    big = Image.new("L", (side, side), 128)
    out.append(Case(f"near_limit_{side}x{side}.png", _save(big, "PNG", compress_level=1), "ok", "sizes",
                    size=(side, side), check=_pixel((side - 1, side - 1), (128, 128, 128))))
    return out


def transparency_cases() -> list[Case]:
    out: list[Case] = []
    # RGBA: left half transparent black, right half opaque red -> white | red.
    a = np.zeros((16, 32, 4), np.uint8)
    a[:, 16:] = (255, 0, 0, 255)
    rgba = Image.fromarray(a, "RGBA")
    white_red = _all(_pixel((2, 2), (255, 255, 255)), _pixel((30, 2), (255, 0, 0)))
    out.append(Case("rgba.png", _save(rgba, "PNG"), "ok", "transparency", (32, 16), check=white_red))
    out.append(Case("rgba.webp", _save(rgba, "WEBP", lossless=True), "ok", "transparency", (32, 16), check=white_red))
    out.append(Case("rgba.tiff", _save(rgba, "TIFF"), "ok", "transparency", (32, 16), check=white_red))
    # Half-transparent red on white -> (255, 127/128, 127/128).
    a2 = np.zeros((8, 8, 4), np.uint8)
    a2[:] = (255, 0, 0, 128)
    out.append(Case("rgba_half.png", _save(Image.fromarray(a2, "RGBA"), "PNG"), "ok", "transparency", (8, 8),
                    check=_pixel((4, 4), (255, 127, 127), tol=1)))
    # LA: transparent -> white.
    la = Image.fromarray(np.stack([np.full((8, 8), 10, np.uint8), np.zeros((8, 8), np.uint8)], -1), "LA")
    out.append(Case("la_transparent.png", _save(la, "PNG"), "ok", "transparency", (8, 8),
                    check=_pixel((0, 0), (255, 255, 255))))
    # Palette with one transparent index (tRNS) and palette with per-entry alpha.
    p = Image.new("P", (16, 8), 0)
    p.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    p.paste(1, (8, 0, 16, 8))
    chk = _all(_pixel((1, 1), (255, 255, 255)), _pixel((12, 1), (0, 0, 255)))
    out.append(Case("palette_trns.png", _save(p, "PNG", transparency=0), "ok", "transparency", (16, 8), check=chk))
    out.append(Case("palette_trns.gif", _save(p, "GIF", transparency=0), "ok", "transparency", (16, 8), check=chk))
    out.append(Case("palette_alpha_table.png", _save(p, "PNG", transparency=bytes([0, 255])), "ok", "transparency",
                    (16, 8), check=chk))
    # Hand-made palette PNG with a tRNS table shorter than the palette, and a PLTE of 1 entry
    # with pixel indices beyond it.
    rows = _rows(np.array([[0, 1, 2, 3]] * 4, np.uint8))
    plte = _png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]))
    trns = _png_chunk(b"tRNS", bytes([0, 128]))
    out.append(Case("palette_short_trns.png", _png_raw(4, 4, 8, 3, rows, extra=[plte, trns]), "ok", "transparency",
                    (4, 4), check=_pixel((0, 0), (255, 255, 255))))
    plte1 = _png_chunk(b"PLTE", bytes([1, 2, 3]))
    out.append(Case("palette_index_out_of_range.png", _png_raw(4, 4, 8, 3, rows, extra=[plte1]), "either",
                    "transparency"))
    # Grayscale/RGB with a tRNS colour key.
    g = Image.new("L", (8, 8), 7)
    out.append(Case("gray_trns_key.png", _save(g, "PNG", transparency=7), "ok", "transparency", (8, 8),
                    check=_pixel((0, 0), (255, 255, 255))))
    c = Image.new("RGB", (8, 8), (1, 2, 3))
    out.append(Case("rgb_trns_key.png", _save(c, "PNG", transparency=(1, 2, 3)), "ok", "transparency", (8, 8),
                    check=_pixel((0, 0), (255, 255, 255))))
    return out


def deep_cases() -> list[Case]:
    """16-bit PNGs (written by hand where Pillow cannot) and wide TIFFs."""
    out: list[Case] = []
    # 16-bit grayscale: 65535 -> 255, 257*100 -> 100 (round(v / 257)).
    g16 = np.array([[65535, 25700, 0, 1000]] * 3, dtype=">u2")
    out.append(Case("gray16.png", _png_raw(4, 3, 16, 0, _rows(g16)), "ok", "16-bit", (4, 3),
                    check=_all(_pixel((0, 0), (255, 255, 255)), _pixel((1, 0), (100, 100, 100)),
                               _pixel((2, 0), (0, 0, 0)), _pixel((3, 0), (4, 4, 4)))))
    # 16-bit RGB and RGBA (Pillow keeps the high byte).
    rgb16 = np.zeros((3, 4, 3), dtype=">u2")
    rgb16[..., 0] = 0xFF00
    rgb16[..., 1] = 0x8001
    out.append(Case("rgb16.png", _png_raw(4, 3, 16, 2, _rows(rgb16)), "ok", "16-bit", (4, 3),
                    check=_pixel((0, 0), (255, 128, 0), tol=1)))
    rgba16 = np.zeros((3, 4, 4), dtype=">u2")
    rgba16[..., 0] = 0xFFFF
    rgba16[..., 3] = 0xFFFF
    out.append(Case("rgba16.png", _png_raw(4, 3, 16, 6, _rows(rgba16)), "ok", "16-bit", (4, 3),
                    check=_pixel((0, 0), (255, 0, 0), tol=1)))
    la16 = np.zeros((3, 4, 2), dtype=">u2")
    la16[..., 0] = 0xFFFF
    la16[..., 1] = 0xFFFF
    out.append(Case("la16.png", _png_raw(4, 3, 16, 4, _rows(la16)), "ok", "16-bit", (4, 3),
                    check=_pixel((0, 0), (255, 255, 255), tol=1)))
    # Sub-byte bit depths.
    for bd in (1, 2, 4):
        row = bytes([0b10101010]) * ((4 * bd + 7) // 8)
        out.append(Case(f"gray{bd}bit.png", _png_raw(4, 2, bd, 0, (b"\x00" + row) * 2), "ok", "16-bit", (4, 2)))
    # Float TIFFs with NaN/inf, negative and huge values; int32 beyond 16 bits.
    f = np.array([[np.nan, np.inf, -np.inf, 0.5], [1e30, -1e30, 0.0, 1.0]], np.float32)
    out.append(Case("float_nan_inf.tiff", _save(Image.fromarray(f, "F"), "TIFF"), "ok", "16-bit", (4, 2)))
    out.append(Case("float_all_nan.tiff", _save(Image.fromarray(np.full((2, 2), np.nan, np.float32), "F"), "TIFF"),
                    "ok", "16-bit", (2, 2)))
    i32 = np.array([[-(2**31), 2**31 - 1], [0, 70000]], np.int32)
    out.append(Case("int32_extremes.tiff", _save(Image.fromarray(i32, "I"), "TIFF"), "ok", "16-bit", (2, 2)))
    # 16-bit RGB TIFF (written by hand: Pillow reads it as RGB).
    rgb48 = np.full((2, 3, 3), 0xFFFF, "<u2").tobytes()
    out.append(Case("rgb48.tiff", _tiff(3, 2, bits=16, spp=3, photometric=2, strip=rgb48,
                                        extra_tags=[]), "either", "16-bit"))
    return out


def cmyk_cases() -> list[Case]:
    out: list[Case] = []
    cmyk = Image.new("CMYK", (24, 16), (0, 255, 255, 0))  # red in CMYK
    red = _pixel((5, 5), (255, 0, 0), tol=40)
    out.append(Case("cmyk.jpg", _save(cmyk, "JPEG", quality=95), "ok", "cmyk", (24, 16), check=red))
    out.append(Case("cmyk.tiff", _save(cmyk, "TIFF"), "ok", "cmyk", (24, 16), check=red))
    out.append(Case("cmyk_garbage_icc.jpg", _save(cmyk, "JPEG", quality=95, icc_profile=b"not a profile" * 10),
                    "ok", "cmyk", (24, 16), check=red))
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out.append(Case("cmyk_with_rgb_icc.jpg", _save(cmyk, "JPEG", quality=95, icc_profile=srgb), "ok", "cmyk",
                    (24, 16), check=red))
    out.append(Case("rgb_with_garbage_icc.png", _save(_rgb(), "PNG", icc_profile=b"\x00" * 200), "ok", "cmyk", (48, 32)))
    out.append(Case("cmyk_progressive.jpg", _save(cmyk, "JPEG", quality=70, progressive=True), "ok", "cmyk",
                    (24, 16), check=red))
    # Inverted-CMYK (Adobe) JPEG flagged by an APP14 marker, as Photoshop writes it.
    return out


def exif_cases() -> list[Case]:
    """Every EXIF orientation, in JPEG, PNG (eXIf), WebP and TIFF; odd orientation values."""
    out: list[Case] = []
    shown = _pattern(40, 24, seed=3)  # what the user should see: 40 wide, 24 high
    for o in range(1, 9):
        stored = np.ascontiguousarray(STORE[o](shown))
        assert np.array_equal(DISPLAY[o](stored), shown)
        im = Image.fromarray(stored, "RGB")
        exif = _exif(o)
        for fmt, ext, kw, tol in [("JPEG", "jpg", {"quality": 95}, 10), ("PNG", "png", {}, 0),
                                  ("WEBP", "webp", {"lossless": True}, 0), ("TIFF", "tiff", {}, 0)]:
            out.append(Case(f"exif_orientation_{o}.{ext}", _save(im, fmt, exif=exif, **kw), "ok", "exif", (40, 24),
                            check=_close_to(shown, tol)))
    # Values outside 1..8 and broken EXIF blocks: the stored orientation is kept or refused.
    plain = Image.fromarray(shown, "RGB")
    for bad in (0, 9, 255, 65535):
        out.append(Case(f"exif_orientation_bad_{bad}.jpg", _save(plain, "JPEG", quality=95, exif=_exif(bad)), "ok",
                        "exif", (40, 24)))
    jpg = _save(plain, "JPEG", quality=95)
    for i, junk in enumerate([b"Exif\x00\x00" + b"\xff" * 40, b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",
                              b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 20,
                              b"Exif\x00\x00" + random.Random(7).randbytes(300)]):
        seg = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
        out.append(Case(f"exif_broken_{i}.jpg", jpg[:2] + seg + jpg[2:], "either", "exif"))
    # An EXIF IFD that points to itself (a loop) with an orientation tag.
    loop = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x08\x00\x00\x00"
    seg = b"\xff\xe1" + struct.pack(">H", len(loop) + 2) + loop
    out.append(Case("exif_ifd_loop.jpg", jpg[:2] + seg + jpg[2:], "either", "exif"))
    return out


def animated_cases() -> list[Case]:
    out: list[Case] = []
    frames = [Image.new("RGB", (20, 10), (i * 8 % 256, 0, 255 - i * 8 % 256)) for i in range(30)]
    first = _pixel((1, 1), (0, 0, 255), tol=8)
    out.append(Case("animated.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0,
                                          duration=20), "ok", "animated", (20, 10), check=first))
    out.append(Case("animated.png", _save(frames[0], "PNG", save_all=True, append_images=frames[1:]), "ok",
                    "animated", (20, 10), check=first))
    out.append(Case("animated.webp", _save(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                           lossless=True), "ok", "animated", (20, 10), check=first))
    out.append(Case("multipage.tiff", _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]), "ok",
                    "animated", (20, 10), check=first))
    many = [Image.new("P", (8, 8), i % 200) for i in range(600)]
    out.append(Case("animated_600_frames.gif", _save(many[0], "GIF", save_all=True, append_images=many[1:]),
                    "ok", "animated", (8, 8)))
    # Frames larger than the logical screen, and a frame placed far outside it.
    g = bytearray(_save(Image.new("P", (4, 4), 1), "GIF"))
    i = g.find(b"\x2c")  # image descriptor
    struct.pack_into("<HH", g, i + 1, 60000, 60000)  # frame offset far outside the screen
    out.append(Case("gif_frame_outside_screen.gif", bytes(g), "either", "animated"))
    g2 = bytearray(_save(Image.new("P", (4, 4), 1), "GIF"))
    struct.pack_into("<HH", g2, i + 5, 30000, 30000)  # frame size beyond the screen
    out.append(Case("gif_frame_bigger_than_screen.gif", bytes(g2), "either", "animated"))
    return out


def bomb_cases() -> list[Case]:
    """Headers that claim huge sizes, and real decompression bombs: all refused before decoding
    (or, for bombs inside the pixel limit, decoded without inflating beyond the image)."""
    out: list[Case] = []
    side, px = limits.MAX_IMAGE_SIDE, limits.MAX_IMAGE_PIXELS
    over_px = int(px ** 0.5) + 16  # square, over the pixel limit, under the side limit
    claims = [(100_000, 100_000), (side + 1, 1), (1, side + 1), (over_px, over_px), (65535, 65535),
              (2**31 - 1, 2**31 - 1), (0, 10), (10, 0)]
    for w, h in claims:
        msg = None
        tiny_idat = zlib.compress(b"\x00" * 64)
        out.append(Case(f"png_claims_{w}x{h}.png", _png_raw(w, h, 8, 2, idat=tiny_idat), "error", "bomb", msg=msg))
        if w < 65536 and h < 65536:
            out.append(Case(f"gif_claims_{w}x{h}.gif", _gif_screen(w, h), "error" if 0 not in (w, h) else "either",
                            "bomb"))
            out.append(Case(f"jpeg_claims_{w}x{h}.jpg", _jpeg_with_sof_size(w, h), "error" if 0 not in (w, h) else "either",
                            "bomb"))
        if 0 not in (w, h) and w < 2**24 and h < 2**24:
            out.append(Case(f"webp_claims_{w}x{h}.webp", _webp_vp8x(w, h), "error", "bomb"))
        if 0 not in (w, h):
            out.append(Case(f"bmp_claims_{w}x{h}.bmp", _bmp_header(min(w, 2**31 - 1), min(h, 2**31 - 1), data=b"\x00" * 64),
                            "error", "bomb"))
            out.append(Case(f"tiff_claims_{w}x{h}.tiff", _tiff(w, h, strip=b"\x00" * 64), "error", "bomb"))
    out.append(Case("bmp_negative_huge_height.bmp", _bmp_header(4, -(2**31), data=b"\x00" * 64), "error", "bomb"))
    out.append(Case("bmp_negative_width.bmp", _bmp_header(-4, 4, data=b"\x00" * 64), "error", "bomb"))
    # Real bombs: a PNG whose zeros inflate to a 6400x6400 RGB image (123 MB), ~120 KB on disk.
    n = over_px
    out.append(Case(f"real_bomb_{n}x{n}.png", _png_raw(n, n, 8, 2, idat=_zeros_zlib(n * (3 * n + 1))), "error",
                    "bomb"))
    # Beyond Pillow's own bomb limit (2x 89 MP -> DecompressionBombError at open).
    out.append(Case("pillow_bomb_20000x20000.gif", _gif_screen(20000, 20000), "error", "bomb"))
    # A zip-bomb-like PNG inside the limits: 64x64 RGB whose IDAT inflates to 64 MB.
    out.append(Case("idat_inflates_64MB.png", _png_raw(64, 64, 8, 2, idat=_zeros_zlib(64 << 20)), "either", "bomb"))
    # Text and ICC chunks that inflate to 16 MB (Pillow caps text chunks at 1 MB).
    rows = _rows(np.zeros((4, 4, 3), np.uint8))
    ztxt = _png_chunk(b"zTXt", b"bomb\x00\x00" + _zeros_zlib(16 << 20))
    out.append(Case("ztxt_bomb.png", _png_raw(4, 4, 8, 2, rows, extra=[ztxt]), "error", "bomb", msg="metadata bomb"))
    iccp = _png_chunk(b"iCCP", b"icc\x00\x00" + _zeros_zlib(16 << 20))
    out.append(Case("iccp_bomb.png", _png_raw(4, 4, 8, 2, rows, extra=[iccp]), "error", "bomb", msg="metadata bomb"))
    itxt = _png_chunk(b"iTXt", b"bomb\x00\x01\x00\x00\x00" + _zeros_zlib(16 << 20))
    out.append(Case("itxt_bomb.png", _png_raw(4, 4, 8, 2, rows, extra=[itxt]), "error", "bomb", msg="metadata bomb"))
    # 50,000 one-byte IDAT chunks.
    z = zlib.compress(rows)
    many = PNG_SIG + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    many += b"".join(_png_chunk(b"IDAT", z[i:i + 1]) for i in range(len(z)))
    many += b"".join(_png_chunk(b"tEXt", b"k\x00v") for _ in range(50_000)) + _png_chunk(b"IEND", b"")
    out.append(Case("png_50000_chunks.png", many, "error", "bomb", msg="chunk bomb"))
    # 600 small text chunks in a well-formed PNG: a metadata bomb by count, not damage
    meta = _png_raw(4, 4, 8, 2, rows, extra=[_png_chunk(b"tEXt", f"k{i}".encode() + b"\x00v") for i in range(600)])
    out.append(Case("png_600_text_chunks.png", meta, "error", "bomb", msg="metadata bomb"))
    # A BMP with RLE8 data that claims a large (but allowed) size and ends early.
    out.append(Case("bmp_rle8_short.bmp", _bmp_header(6000, 6000, bpp=8, compression=1, data=b"\x00\x01" * 10,
                                                      offset=54 + 1024), "either", "bomb"))
    # TIFF strips whose byte count claims 4 GB; TIFF tag with a huge count; IFD loop.
    out.append(Case("tiff_strip_4GB.tiff", _tiff(64, 64, strip=b"\x00" * 64, strip_count=0xFFFFFFFF), "either", "bomb"))
    out.append(Case("tiff_huge_tag_count.tiff", _tiff(8, 8, strip=b"\x00" * 64,
                                                      extra_tags=[(270, 2, 0x3FFFFFFF, 8)]), "either", "bomb"))
    out.append(Case("tiff_ifd_loop.tiff", _tiff(8, 8, strip=b"\x00" * 64, next_ifd=-1), "either", "bomb"))
    # JPEG with 2,000 repeated progressive scans (a "scan bomb").
    prog = _save(_rgb(64, 64), "JPEG", quality=50, progressive=True)
    last_sos = prog.rfind(b"\xff\xda")
    scan = prog[last_sos:-2]
    out.append(Case("jpeg_2000_scans.jpg", prog[:-2] + scan * 2000 + b"\xff\xd9", "error", "bomb", msg="scan bomb"))
    # The scan bomb at full size: a flat 12000x3333 progressive JPEG whose last (65-byte) scan is
    # repeated to 20,000 scans: 1.6 MB that took 52 s of a core to decode before the scan count.
    flat = _save(Image.new("RGB", (12000, 3333), (120, 80, 40)), "JPEG", quality=50, progressive=True)
    last = flat.rfind(b"\xff\xda")
    out.append(Case("jpeg_20000_scans_12000x3333.jpg", flat[:-2] + flat[last:-2] * 20_000 + b"\xff\xd9", "error",
                    "bomb", msg="scan bomb"))
    # 5,000 APP segments before the image data
    soi, body = prog[:2], prog[2:]
    out.append(Case("jpeg_5000_app_segments.jpg", soi + b"\xff\xe5\x00\x04ab" * 5000 + body, "error", "bomb",
                    msg="metadata bomb"))
    # Over the byte limit.
    out.append(Case("too_many_bytes.png", _save(_rgb(8, 8), "PNG") + bytes(limits.MAX_UPLOAD_BYTES), "error",
                    "bomb", msg="limit"))
    return out


def disguise_cases() -> list[Case]:
    """Non-images and unsupported formats under image names."""
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
           b'<script>alert(1)</script><circle r="50"/></svg>')
    bare_svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'
    billion = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
                          for i in range(1, 10))
               + b']><svg>&lol9;</svg>')
    html = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"
    out = [
        Case("vector.svg", svg, "error", "disguised", msg="SVG"),
        Case("cat.png", svg, "error", "disguised", msg="SVG"),
        Case("bare_svg.jpg", bare_svg, "error", "disguised", msg="SVG"),
        Case("bom_svg.gif", b"\xef\xbb\xbf  \n" + bare_svg, "error", "disguised", msg="SVG"),
        Case("billion_laughs.svg.png", billion, "error", "disguised", msg="SVG"),
        Case("page.jpg", html, "error", "disguised", msg="HTML"),
        Case("upper_html.png", b"<HTML><HEAD><TITLE>x</TITLE></HEAD></HTML>", "error", "disguised", msg="HTML"),
        Case("script.gif", b"<script>alert(document.cookie)</script>", "error", "disguised"),
        Case("doc.pdf.png", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "error", "disguised", msg="PDF"),
        Case("eps.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "error", "disguised",
             msg="PostScript"),
        Case("archive.png", _zip_with_png(), "error", "disguised", msg="ZIP"),
        Case("gz.png", __import__("gzip").compress(_save(_rgb(8, 8), "PNG")), "error", "disguised", msg="gzip"),
        Case("heic.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "error", "disguised",
             msg="HEIC"),
        Case("avif.png", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 64, "error", "disguised",
             msg="AVIF"),
        Case("favicon.png", _save(Image.new("RGB", (16, 16)), "ICO"), "error", "disguised", msg="icon"),
        Case("layers.png", b"8BPS\x00\x01" + b"\x00" * 100, "error", "disguised", msg="Photoshop"),
        Case("j2k.jpg", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 64, "error", "disguised", msg="JPEG 2000"),
        Case("netpbm.png", _save(_rgb(8, 8), "PPM"), "error", "disguised", msg="PPM"),
        Case("pcx.png", _save(_rgb(8, 8), "PCX"), "error", "disguised"),
        Case("tga.jpg", _save(_rgb(8, 8), "TGA"), "error", "disguised"),
        Case("eps_from_pillow.png", _save(_rgb(8, 8), "EPS") if _has_gs() else b"%!PS-Adobe-3.0\n", "error",
             "disguised"),
        Case("im.png", _save(_rgb(8, 8), "IM"), "error", "disguised"),
        Case("notes.txt.png", "Hello, this is text — not an image. ✓\n".encode(), "error", "disguised", msg="text"),
        Case("json.png", b'{"image": "data:image/png;base64,iVBORw0KGgo="}', "error", "disguised", msg="text"),
        Case("python.png", b"import os\nos.system('rm -rf /')\n", "error", "disguised", msg="text"),
        Case("pickle.png", __import__("pickle").dumps({"a": 1}), "error", "disguised"),
        Case("torch_like.png", b"PK\x03\x04" + b"\x00" * 26 + b"archive/data.pkl", "error", "disguised"),
        Case("elf.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 120, "error", "disguised"),
        Case("exe.jpg", b"MZ\x90\x00" + b"\x00" * 120, "error", "disguised"),
        Case("whitespace.png", b" \n\t\r\n   ", "error", "disguised"),
        Case("nul_bytes.png", b"\x00" * 1000, "error", "disguised"),
        Case("ff_bytes.jpg", b"\xff" * 1000, "error", "disguised"),
        Case("data_uri.png", b"data:image/png;base64," + __import__("base64").b64encode(_save(_rgb(4, 4), "PNG")),
             "error", "disguised"),
    ]
    return out


def _has_gs() -> bool:
    import shutil

    return shutil.which("gs") is not None


def _zip_with_png() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner.png", _save(_rgb(8, 8), "PNG"))
    return buf.getvalue()


def polyglot_cases() -> list[Case]:
    out: list[Case] = []
    png = _save(_rgb(24, 16), "PNG")
    jpg = _save(_rgb(24, 16), "JPEG", quality=90)
    gif = _save(_rgb(24, 16), "GIF")
    html = b"<html><script>alert(1)</script></html>"
    out.append(Case("png_plus_zip.png", png + _zip_with_png(), "ok", "polyglot", (24, 16)))
    out.append(Case("png_plus_html.png", png + html, "ok", "polyglot", (24, 16)))
    out.append(Case("jpg_plus_php.jpg", jpg + b"<?php system($_GET['c']); ?>", "ok", "polyglot", (24, 16)))
    out.append(Case("gif_plus_js.gif", gif + b"*/=alert(1);//", "ok", "polyglot", (24, 16)))
    out.append(Case("html_then_png.png", html + png, "error", "polyglot", msg="HTML"))
    out.append(Case("svg_then_png.png", b"<svg>" + png, "error", "polyglot", msg="SVG"))
    # The classic GIF/JavaScript polyglot header ("GIF89a/*...").
    js = b"GIF89a/*\x0a\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;*/=alert(1);"
    out.append(Case("gif_js_polyglot.gif", js, "either", "polyglot"))
    # Text chunks with scripts and a comment with a JPEG COM marker holding HTML.
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    info.add_text("Title", "'; DROP TABLE images; --", zip=True)
    out.append(Case("png_script_text.png", _save(_rgb(24, 16), "PNG", pnginfo=info), "ok", "polyglot", (24, 16)))
    com = b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html
    out.append(Case("jpeg_html_comment.jpg", jpg[:2] + com + jpg[2:], "ok", "polyglot", (24, 16)))
    out.append(Case("jpeg_in_pdf.pdf", b"%PDF-1.4\n" + jpg + b"\n%%EOF", "error", "polyglot", msg="PDF"))
    out.append(Case("two_pngs.png", png + _save(_rgb(8, 8), "PNG"), "ok", "polyglot", (24, 16)))
    return out


def truncated_cases() -> list[Case]:
    """Prefixes of valid files, zero-byte and header-only files."""
    out: list[Case] = [Case("empty.png", b"", "error", "truncated", msg="empty"),
                       Case("empty.jpg", b"", "error", "truncated", msg="empty"),
                       Case("one_byte.gif", b"G", "error", "truncated")]
    sources = {
        "png": _save(_rgb(64, 48), "PNG"),
        "jpg": _save(_rgb(64, 48), "JPEG", quality=90),
        "progressive.jpg": _save(_rgb(64, 48), "JPEG", quality=90, progressive=True),
        "gif": _save(_rgb(64, 48), "GIF"),
        "bmp": _save(_rgb(64, 48), "BMP"),
        "tiff": _save(_rgb(64, 48), "TIFF"),
        "webp": _save(_rgb(64, 48), "WEBP", quality=80),
        "lossless.webp": _save(_rgb(64, 48), "WEBP", lossless=True),
    }
    for ext, data in sources.items():
        n = len(data)
        for frac in (0.02, 0.25, 0.5, 0.75, 0.95):
            cut = max(1, int(n * frac))
            out.append(Case(f"truncated_{int(frac * 100)}pct.{ext}", data[:cut], "either", "truncated"))
        out.append(Case(f"truncated_minus1.{ext}", data[:-1], "either", "truncated"))
    magics = {"png": PNG_SIG, "jpg": b"\xff\xd8\xff\xe0", "gif": b"GIF89a", "bmp": b"BM",
              "tiff": b"II*\x00", "webp": b"RIFF\x00\x00\x00\x00WEBP"}
    for ext, m in magics.items():
        out.append(Case(f"magic_only.{ext}", m, "error", "truncated"))
    # A PNG with no IDAT, no IEND, a bad CRC, an IHDR with bad fields.
    rows = _rows(np.zeros((4, 4, 3), np.uint8))
    good = _png_raw(4, 4, 8, 2, rows)
    out.append(Case("png_no_iend.png", _png_raw(4, 4, 8, 2, rows, iend=False), "either", "truncated"))
    out.append(Case("png_no_idat.png", PNG_SIG + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
                    + _png_chunk(b"IEND", b""), "error", "truncated"))
    bad_crc = bytearray(good)
    bad_crc[29] ^= 0xFF  # IHDR CRC
    out.append(Case("png_bad_crc.png", bytes(bad_crc), "either", "truncated"))
    for bd, ct in [(3, 2), (8, 5), (16, 3), (0, 0), (8, 7)]:
        out.append(Case(f"png_ihdr_bd{bd}_ct{ct}.png", _png_raw(4, 4, bd, ct, rows), "error", "truncated"))
    out.append(Case("png_interlace_bogus.png", PNG_SIG + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 9))
                    + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""), "either", "truncated"))
    out.append(Case("png_idat_not_zlib.png", _png_raw(4, 4, 8, 2, idat=b"not zlib data at all"), "error", "truncated"))
    out.append(Case("png_idat_short.png", _png_raw(64, 64, 8, 2, idat=zlib.compress(b"\x00" * 100)), "either",
                    "truncated"))
    # BMP headers with bad offsets and sizes.
    out.append(Case("bmp_offset_beyond_file.bmp", _bmp_header(4, 4, data=b"\x00" * 48, offset=10**6), "either",
                    "truncated"))
    out.append(Case("bmp_bpp_7.bmp", _bmp_header(4, 4, bpp=7, data=b"\x00" * 48), "error", "truncated"))
    out.append(Case("bmp_bpp_0.bmp", _bmp_header(4, 4, bpp=0, data=b"\x00" * 48), "error", "truncated"))
    out.append(Case("bmp_compression_99.bmp", _bmp_header(4, 4, compression=99, data=b"\x00" * 48), "error",
                    "truncated"))
    # TIFF with an IFD offset beyond the file, zero tags, unknown photometric.
    out.append(Case("tiff_ifd_beyond_file.tiff", b"II*\x00\xff\xff\xff\x7f", "error", "truncated"))
    out.append(Case("tiff_zero_tags.tiff", b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00", "error", "truncated"))
    out.append(Case("tiff_photometric_99.tiff", _tiff(4, 4, photometric=99, strip=b"\x00" * 16), "either",
                    "truncated"))
    out.append(Case("tiff_bits_3.tiff", _tiff(4, 4, bits=3, strip=b"\x00" * 16), "either", "truncated"))
    out.append(Case("tiff_compression_unknown.tiff", _tiff(4, 4, compression=12345, strip=b"\x00" * 16), "either",
                    "truncated"))
    out.append(Case("tiff_strip_offset_beyond.tiff", _tiff(16, 16, strip=b"", strip_count=256), "either",
                    "truncated"))
    out.append(Case("jpeg_soi_eoi.jpg", b"\xff\xd8\xff\xd9", "error", "truncated"))
    out.append(Case("jpeg_zero_height.jpg", _jpeg_with_sof_size(16, 0), "either", "truncated"))
    return out


def random_cases(n_plain: int = 30, n_magic: int = 5) -> list[Case]:
    rng = random.Random(1234)
    out: list[Case] = []
    exts = ["png", "jpg", "gif", "bmp", "tiff", "webp", "jpeg", "tif"]
    for i in range(n_plain):
        size = rng.choice([1, 2, 7, 64, 512, 4096, 65536, 300_000])
        out.append(Case(f"random_{i}.{exts[i % len(exts)]}", rng.randbytes(size), "either", "random"))
    magics = {"png": PNG_SIG, "jpg": b"\xff\xd8\xff", "gif": b"GIF89a", "bmp": b"BM", "tiff": b"II*\x00",
              "tif": b"MM\x00*", "webp": b"RIFF\x10\x00\x00\x00WEBPVP8 "}
    for ext, m in magics.items():
        for j in range(n_magic):
            out.append(Case(f"magic_random_{j}.{ext}", m + rng.randbytes(rng.choice([4, 20, 200, 5000])), "either",
                            "random"))
    return out


def fuzz_cases(per_format: int = 8) -> list[Case]:
    """Valid files with random bytes overwritten (seeded)."""
    rng = random.Random(99)
    out: list[Case] = []
    bases = {"png": _save(_rgb(32, 24), "PNG"), "jpg": _save(_rgb(32, 24), "JPEG", quality=85),
             "gif": _save(_rgb(32, 24), "GIF"), "bmp": _save(_rgb(32, 24), "BMP"),
             "tiff": _save(_rgb(32, 24), "TIFF"), "webp": _save(_rgb(32, 24), "WEBP", lossless=True)}
    for ext, data in bases.items():
        for j in range(per_format):
            b = bytearray(data)
            for _ in range(rng.choice([1, 3, 10, 40])):
                pos = rng.randrange(min(len(b), 120 if j % 2 == 0 else len(b)))  # half hit the header
                b[pos] = rng.randrange(256)
            out.append(Case(f"fuzz_{j}.{ext}", bytes(b), "either", "fuzz"))
    return out


def misnamed_cases() -> list[Case]:
    """Valid images with misleading, odd or hostile file names."""
    png = _save(_rgb(20, 12), "PNG")
    jpg = _save(_rgb(20, 12), "JPEG", quality=90)
    names = [("png_named.jpg", png), ("jpg_named.png", jpg), ("jpg_named.gif", jpg), ("png_named.bmp", png),
             ("no_extension", png), ("photo.png.exe", png), ("UPPER.PNG", png), ("ünïcödé_🐱.jpg", jpg),
             ("<img src=x onerror=alert(1)>.png", png), ("**bold** [link](javascript:alert(1)).png", png),
             ("../../etc/passwd.png", png), ("a" * 300 + ".png", png), ("space name .jpg", jpg),
             ("%00null.png", png), ("rtl\u202egnp.exe", png)]
    return [Case(n, d, "ok", "misnamed", (20, 12)) for n, d in names]


# --------------------------------------------------------------------------- sets and names
# Hostile names for every sink (Markdown, HTML, terminal, CSV): each would do something if a sink
# interpreted it (an image beacon, a link, Streamlit directives, KaTeX, HTML, terminal escapes that
# set the title / clear the screen / forge a line, spreadsheet formulas, bidi overrides).
BEACON = "http://127.0.0.1:9/beacon.png"
HOSTILE_NAMES = [
    f"![x]({BEACON}).png",
    "[click](javascript:alert(1)).png",
    f"<img src={BEACON}>.png",
    "<script>alert(1)</script>.png",
    ":red[**RED**] :material/home: :smile:.png",
    "$\\frac{a}{b}$.png",
    "# heading\n- item.png",
    "www.example.com.png",
    "user@example.com.png",
    "`code` *em* _u_ ~~s~~.png",
    "\x1b]0;owned\x07\x1b[2J.png",
    "ok.png\rnote: all 200 images are fine",
    "=HYPERLINK(\"http://x\",\"y\").png",
    "+1+2.png", "-2+3.png", "@SUM(A1).png", "\tx.png",
    "rtl\u202egnp.exe.png",
]


def scan_bomb_jpeg(w: int, h: int, scans: int, seed: int = 0) -> bytes:
    """A progressive JPEG of w x h whose last scan is repeated until it has ``scans`` scans (a
    valid file that libjpeg decodes, in time that grows with scans x pixels)."""
    prog = _save(_rgb(w, h, seed), "JPEG", quality=50, progressive=True)
    last_sos = prog.rfind(b"\xff\xda")
    have = prog.count(b"\xff\xda")
    return prog[:-2] + prog[last_sos:-2] * max(0, scans - have) + b"\xff\xd9"


def cut_png(w: int, h: int) -> bytes:
    """A PNG that declares w x h but whose pixel data stops after a few rows (the decoder still
    allocates and works on the declared size before it finds out)."""
    rows = b"".join(b"\x00" + bytes(3 * w) for _ in range(4))
    return _png_raw(w, h, 8, 2, idat=zlib.compress(rows), iend=False)


def zeros_png(w: int, h: int) -> bytes:
    """A complete, valid w x h black PNG (tiny on disk, w*h*3 bytes when decoded)."""
    return _png_raw(w, h, 8, 2, idat=_zeros_zlib(h * (3 * w + 1)))


def make_zip(entries: list[tuple[str, bytes]], method: int = 8) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def patch_zip_name(data: bytes, old: bytes, new: bytes, utf8_flag: bool = False) -> bytes:
    """Replace a member's name bytes (same length) in its local and central headers; optionally
    set the "name is UTF-8" flag (bit 11) in both: names that zipfile would never write."""
    assert len(old) == len(new)
    out = bytearray(data.replace(old, new))
    if utf8_flag:
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = out.find(sig)
            while i >= 0:
                n_off = 26 if sig == b"PK\x03\x04" else 28
                nlen = int.from_bytes(out[i + n_off:i + n_off + 2], "little")
                start = i + (30 if sig == b"PK\x03\x04" else 46)
                if bytes(out[start:start + nlen]) == new:
                    flags = int.from_bytes(out[i + off:i + off + 2], "little") | 0x800
                    out[i + off:i + off + 2] = flags.to_bytes(2, "little")
                i = out.find(sig, i + 4)
    return bytes(out)


def small_png(seed: int = 0, w: int = 20, h: int = 12) -> bytes:
    return _save(_rgb(w, h, seed), "PNG")


def build_corpus() -> list[Case]:
    cases = (valid_cases() + transparency_cases() + deep_cases() + cmyk_cases() + exif_cases() + animated_cases()
             + bomb_cases() + disguise_cases() + polyglot_cases() + truncated_cases() + random_cases()
             + fuzz_cases() + misnamed_cases())
    seen: set[str] = set()
    for c in cases:  # unique names (the tests write every case to disk)
        base, k = c.name, 1
        while c.name in seen:
            k += 1
            c.name = f"{k}_{base}"
        seen.add(c.name)
    return cases


def safe_filename(name: str, index: int) -> str:
    """A file-system-safe name for a case (the hostile names stay in ``Case.name``)."""
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80].lstrip(".")
    return f"{index:03d}_{keep or 'file'}"
