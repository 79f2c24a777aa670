"""Tests for core/data/images.py: decoding uploads, limits, colour conversion, EXIF orientation,
preprocessing (against torchvision as an independent reference), tensor <-> PNG round trips
and the bundled samples. Every input file is generated here with Pillow (or written byte by
byte where Pillow cannot write the variant)."""
from __future__ import annotations

import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import images as I
from core.runtime import limits
from core.data.images import ImageError, decode_image

# ----------------------------------------------------------------------------- helpers

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def marked(w: int = 64, h: int = 32, block: int = 12) -> np.ndarray:
    """An asymmetric RGB image: red top-left, green top-right, blue bottom-left, grey rest."""
    a = np.full((h, w, 3), 128, np.uint8)
    a[:block, :block] = RED
    a[:block, -block:] = GREEN
    a[-block:, :block] = BLUE
    return a


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None) -> bytes:
    """A PNG written by hand; ``rows=None`` gives a header-only file with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 16)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def px(img: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in img.getpixel((x, y)))


def close(a, b, tol: int) -> bool:
    return all(abs(int(p) - int(q)) <= tol for p, q in zip(a, b))


# ----------------------------------------------------------------------------- formats

@pytest.mark.parametrize("fmt,kw,tol", [
    ("PNG", {}, 0),
    ("JPEG", {"quality": 95}, 16),
    ("WEBP", {"lossless": True}, 0),
    ("BMP", {}, 0),
    ("TIFF", {}, 0),
    ("TIFF", {"compression": "tiff_lzw"}, 0),
    ("GIF", {}, 0),
])
def test_supported_formats_decode(fmt, kw, tol):
    a = marked()
    data = save(Image.fromarray(a), fmt, **kw)
    im = decode_image(data, f"x.{fmt.lower()}")
    assert im.mode == "RGB" and im.size == (64, 32)
    assert im.info["source_format"] == fmt
    diff = np.abs(np.asarray(im).astype(int) - a)
    if tol == 0:
        assert diff.max() == 0
    else:  # lossy: small on average, right colours at the marks
        assert diff.mean() <= 4
        assert close(px(im, 5, 5), RED, tol) and close(px(im, 58, 5), GREEN, tol)
        assert close(px(im, 5, 26), BLUE, tol)


def test_mpo_jpeg_from_cameras_is_accepted_first_frame():
    first, second = Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE)
    data = save(first, "MPO", save_all=True, append_images=[second])
    im = decode_image(data, "photo.jpg")
    assert im.info["source_format"] == "MPO"
    assert close(px(im, 20, 15), RED, 8)


def test_wrong_extension_decodes_by_content():
    data = save(Image.fromarray(marked()), "PNG")
    for name in ("photo.jpg", "photo.gif", "photo.svg", "noextension", ""):
        assert np.array_equal(np.asarray(decode_image(data, name)), marked())


# ----------------------------------------------------------------------------- EXIF orientation

def stored_for_orientation(d: np.ndarray, o: int) -> np.ndarray:
    """The pixel array a camera stores so that a viewer honouring EXIF orientation ``o`` shows
    ``d`` (EXIF 2.3, tag 0x0112), written with numpy, independently of Pillow's transposes."""
    return {
        1: lambda: d,
        2: lambda: d[:, ::-1],                       # mirrored horizontally
        3: lambda: d[::-1, ::-1],                    # rotated 180
        4: lambda: d[::-1, :],                       # mirrored vertically
        5: lambda: d.transpose(1, 0, 2),             # transposed (row 0 is the left column)
        6: lambda: np.rot90(d, 1),                   # viewer rotates 90 deg clockwise
        7: lambda: d[::-1, ::-1].transpose(1, 0, 2),  # transversed
        8: lambda: np.rot90(d, -1),                  # viewer rotates 90 deg counter-clockwise
    }[o]()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation(orientation, fmt):
    d = marked(64, 32, 12)
    stored = Image.fromarray(np.ascontiguousarray(stored_for_orientation(d, orientation)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    im = decode_image(data, "phone.jpg")
    assert im.size == (64, 32)
    tol = 16 if fmt == "JPEG" else 0
    assert close(px(im, 5, 5), RED, tol)
    assert close(px(im, 58, 5), GREEN, tol)
    assert close(px(im, 5, 26), BLUE, tol)
    assert close(px(im, 58, 26), (128, 128, 128), tol)


def test_broken_exif_keeps_image():
    a = marked()
    data = save(Image.fromarray(a), "JPEG", quality=95, exif=b"Exif\x00\x00garbage-not-tiff")
    im = decode_image(data)
    assert im.size == (64, 32) and close(px(im, 5, 5), RED, 16)


# ----------------------------------------------------------------------------- colour modes

def test_16bit_grayscale_png_is_scaled_not_clipped():
    values = np.array([[0, 257, 128 * 257, 65535, 1000, 65534]], dtype=np.uint16)
    data = save(Image.fromarray(values), "PNG")
    assert data[24] == 16  # IHDR bit depth: really a 16-bit file
    im = decode_image(data)
    got = np.asarray(im)[0, :, 0].tolist()
    assert got == [0, 1, 128, 255, 4, 255]  # round(v / 257)
    assert (np.asarray(im)[..., 0] == np.asarray(im)[..., 2]).all()


def test_16bit_grayscale_tiff_is_scaled():
    values = np.array([[0, 65535, 32896]], dtype=np.uint16)
    im = decode_image(save(Image.fromarray(values), "TIFF"))
    assert np.asarray(im)[0, :, 1].tolist() == [0, 255, 128]


def test_16bit_rgb_png_written_by_hand():
    pixels = [(65535, 0x8000, 0), (0, 65535, 257)]
    row = b"\x00" + b"".join(struct.pack(">HHH", *p) for p in pixels)
    im = decode_image(raw_png(2, 1, 16, 2, row))
    assert px(im, 0, 0) == (255, 128, 0)
    assert px(im, 1, 0) == (0, 255, 1)


def test_16bit_rgba_png_written_by_hand():
    row = b"\x00" + struct.pack(">HHHH", 0, 0, 0, 0) + struct.pack(">HHHH", 65535, 0, 0, 65535)
    im = decode_image(raw_png(2, 1, 16, 6, row))
    assert px(im, 0, 0) == WHITE and px(im, 1, 0) == RED


def test_cmyk_conversion():
    cmyk = Image.new("CMYK", (4, 1))
    for x, v in enumerate([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255), (0, 255, 255, 0)]):
        cmyk.putpixel((x, 0), v)
    for fmt in ("TIFF", "JPEG"):
        im = decode_image(save(cmyk.resize((32, 8), Image.Resampling.NEAREST), fmt,
                               **({"quality": 100} if fmt == "JPEG" else {})))
        tol = 0 if fmt == "TIFF" else 6
        assert close(px(im, 4, 4), WHITE, tol)
        assert close(px(im, 12, 4), (0, 255, 255), tol)  # cyan
        assert close(px(im, 20, 4), BLACK, tol)
        assert close(px(im, 28, 4), RED, tol)


def test_cmyk_with_broken_icc_profile_falls_back():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    im = decode_image(save(cmyk, "TIFF", icc_profile=b"not an icc profile"))
    assert px(im, 3, 3) == RED


def test_palette_with_transparent_index():
    p = Image.new("P", (3, 1))
    p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    for x in range(3):
        p.putpixel((x, 0), x)
    for fmt in ("PNG", "GIF"):
        im = decode_image(save(p, fmt, transparency=1))
        assert [px(im, x, 0) for x in range(3)] == [RED, WHITE, BLUE], fmt


def test_palette_with_partial_alpha():
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    im = decode_image(save(p, "PNG", transparency=bytes([128, 255])))
    r, g, b = px(im, 0, 0)
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1  # red at 50% over white
    assert px(im, 1, 0) == BLUE


def test_palette_without_transparency():
    p = Image.fromarray(marked()).quantize(colors=8)
    assert p.mode == "P"
    assert np.array_equal(np.asarray(decode_image(save(p, "PNG"))), marked())


def test_la_and_rgba_composited_on_white():
    la = Image.new("LA", (3, 1))
    for x, v in enumerate([(0, 0), (0, 255), (100, 128)]):
        la.putpixel((x, 0), v)
    im = decode_image(save(la, "PNG"))
    assert px(im, 0, 0) == WHITE and px(im, 1, 0) == BLACK
    assert close(px(im, 2, 0), (177, 177, 177), 1)  # 100*128/255 + 255*127/255

    rgba = Image.new("RGBA", (3, 1))
    for x, v in enumerate([(0, 255, 0, 0), (0, 255, 0, 255), (0, 0, 255, 64)]):
        rgba.putpixel((x, 0), v)
    for fmt in ("PNG", "WEBP", "TIFF"):
        kw = {"lossless": True, "exact": True} if fmt == "WEBP" else {}
        im = decode_image(save(rgba, fmt, **kw))
        assert px(im, 0, 0) == WHITE and px(im, 1, 0) == GREEN, fmt
        assert close(px(im, 2, 0), (191, 191, 255), 1), fmt  # 255*(1-64/255)


def test_rgb_png_with_transparent_colour_key():
    im = Image.fromarray(marked())
    out = decode_image(save(im, "PNG", transparency=(255, 0, 0)))
    assert px(out, 5, 5) == WHITE and px(out, 58, 5) == GREEN


def test_grayscale_modes():
    l8 = Image.fromarray(np.array([[0, 77, 255]], np.uint8))
    assert [px(decode_image(save(l8, "PNG")), x, 0) for x in range(3)] == [(0,) * 3, (77,) * 3, (255,) * 3]
    one = Image.fromarray(np.array([[0, 1, 0, 1]], bool))
    assert one.mode == "1"
    assert [px(decode_image(save(one, "PNG")), x, 0)[0] for x in range(4)] == [0, 255, 0, 255]
    i32 = Image.fromarray(np.array([[0, 77, 255]], np.int32))
    assert i32.mode == "I"
    assert [px(decode_image(save(i32, "TIFF")), x, 0)[0] for x in range(3)] == [0, 77, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert f.mode == "F"
    assert [px(decode_image(save(f, "TIFF")), x, 0)[0] for x in range(3)] == [0, 128, 255]


def test_animated_gif_webp_and_multipage_tiff_give_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    for fmt, kw in (("GIF", {}), ("WEBP", {"lossless": True}), ("TIFF", {})):
        data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **kw)
        with Image.open(io.BytesIO(data)) as check:
            assert getattr(check, "n_frames", 1) == 3, fmt
        assert px(decode_image(data), 8, 8) == RED, fmt


# ----------------------------------------------------------------------------- limits and bad files

def test_upload_byte_limit(monkeypatch):
    data = save(Image.fromarray(marked()), "PNG")
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", len(data) - 1)
    with pytest.raises(ImageError, match="limit"):
        decode_image(data, "big.png")
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", len(data))
    assert decode_image(data).size == (64, 32)


def test_pixel_limit_with_a_real_compressible_png(monkeypatch):
    data = save(Image.new("L", (300, 300)), "PNG")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 300 * 300 - 1)
    with pytest.raises(ImageError, match=r"300×300 pixels.*limit"):
        decode_image(data)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 300 * 300)
    assert decode_image(data).size == (300, 300)


@pytest.mark.parametrize("w,h,pattern", [
    (8000, 8000, r"8000×8000 pixels \(64\.0 megapixels\); the limit is 40 megapixels"),
    (9500, 9500, r"9500×9500 pixels"),  # above Pillow's warning threshold (89.5 MP)
    (100_000, 100_000, r"decompression bomb"),  # above Pillow's error threshold
    (12_001, 10, r"12001×10 pixels; the limit is 12000 pixels per side"),
])
def test_decompression_bomb_refused_from_header_alone(w, h, pattern):
    """The files hold a header and 16 zero bytes of pixel data: decoding them would fail with a
    'truncated' message, so the size message proves they were refused before decoding."""
    data = raw_png(w, h, 8, 0, rows=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        with pytest.raises(ImageError, match=pattern):
            decode_image(data, "bomb.png")


@pytest.mark.parametrize("data,pattern", [
    (b"", r"empty"),
    (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", r"SVG/XML"),
    (b"<svg width='10' height='10'></svg>", r"SVG"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", r"HTML"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", r"PDF"),
    (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), r"not an image"),
    (b"\x00\x00\x01\x00\x01\x00" + bytes(100), r"ICO"),
])
def test_bad_files_get_a_message(data, pattern):
    with pytest.raises(ImageError, match=pattern) as err:
        decode_image(data, "upload.png")
    msg = str(err.value)
    assert msg.endswith(".") and "Traceback" not in msg
    if data:
        assert "PNG, JPEG, WebP, BMP, TIFF and GIF" in msg


def test_real_ico_and_ppm_are_refused():
    img = Image.new("RGB", (16, 16), RED)
    for fmt in ("ICO", "PPM", "TGA"):
        with pytest.raises(ImageError, match="Supported formats"):
            decode_image(save(img, fmt))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_files(fmt):
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = save(noise, fmt)
    for cut in (len(data) // 2, 20):
        with pytest.raises(ImageError, match="truncated") as err:
            decode_image(data[:cut], "cut." + fmt.lower())
        assert str(err.value).endswith(".")


def test_unexpected_errors_become_image_errors(monkeypatch):
    data = save(Image.fromarray(marked()), "PNG")

    def boom(im):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(I, "_to_rgb", boom)
    with pytest.raises(ImageError, match="could not be read") as err:
        decode_image(data, "a.png")
    assert "internal detail" not in str(err.value)

    def oom(im):
        raise MemoryError

    monkeypatch.setattr(I, "_to_rgb", oom)
    with pytest.raises(ImageError, match="memory"):
        decode_image(data)

    def interrupt(im):
        raise KeyboardInterrupt

    monkeypatch.setattr(I, "_to_rgb", interrupt)
    with pytest.raises(KeyboardInterrupt):
        decode_image(data)


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


# ----------------------------------------------------------------------------- tensors and 8 bits

def test_to_tensor_and_to_pil():
    a = marked(10, 7, 3)
    x = I.to_tensor(Image.fromarray(a))
    assert x.shape == (1, 3, 7, 10) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255)
    assert np.array_equal(np.asarray(I.to_pil(x)), a)
    assert np.array_equal(np.asarray(I.to_pil(x[0])), a)
    with pytest.raises(ValueError):
        I.to_pil(torch.zeros(2, 3, 4, 4))


def test_quantisation_round_trip_is_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 17, 23, generator=g) * 1.2 - 0.1  # some values outside [0, 1]
    x[0, 0, 0, :10] = (torch.arange(10) + 0.5) / 255  # exactly half-way between levels
    q = I.quantize_8bit(x)
    assert q.shape == x.shape and q.dtype == x.dtype
    assert torch.equal(I.decode_png_tensor(I.encode_png(x)), q)
    assert torch.equal(I.decode_png_tensor(I.encode_png(x[0])), q)
    assert torch.equal(I.quantize_8bit(q), q)  # idempotent
    assert torch.equal(I.to_tensor(I.to_pil(x)), q)
    # independent reference in numpy
    ref = np.rint(np.clip(x.numpy(), 0, 1) * np.float32(255)).astype(np.uint8)
    assert np.array_equal(np.asarray(I.to_pil(x)), ref[0].transpose(1, 2, 0))
    assert (q - x.clamp(0, 1)).abs().max() <= 0.5 / 255 + 1e-7
    png = I.encode_png(x)
    assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).mode == "RGB"


# ----------------------------------------------------------------------------- resizing

@pytest.mark.parametrize("wh", [(451, 300), (300, 451), (256, 256), (100, 60), (640, 427), (427, 640)])
def test_resize_center_crop_matches_torchvision(wh):
    from torchvision import transforms as T

    rng = np.random.default_rng(2)
    img = Image.fromarray(rng.integers(0, 256, (wh[1], wh[0], 3), dtype=np.uint8))
    ref = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224)])(img)
    out = I.resize_center_crop(img, 224)  # default resize 224 + 32
    assert out.size == (224, 224) and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(ref))


def test_resize_center_crop_sizes():
    img = Image.fromarray(marked(451, 300, 40))
    assert I.resize_center_crop(img, (144, 256)).size == (256, 144)
    assert I.resize_center_crop(img, 240, 272).size == (240, 240)
    assert I.resize_center_crop(img, (100, 50), 20).size == (50, 100)  # covers the crop
    out = I.resize_center_crop(Image.fromarray(marked(50, 400, 10)), 224)
    assert out.size == (224, 224)
    assert I.stretch(img, (256, 144)).size == (144, 256)
    with pytest.raises(ValueError):
        I.resize_center_crop(img, 0)


def test_prepare_for_model():
    from core.models.registry import ModelSpec, get_spec

    img = Image.fromarray(marked(451, 300, 40))
    lite0 = get_spec("EfficientNet-Lite0")
    assert I.prepare_for_model(img, lite0).size == (224, 224)
    assert np.array_equal(np.asarray(I.prepare_for_model(img, lite0)),
                          np.asarray(I.resize_center_crop(img, 224, 256)))
    seg = ModelSpec(name="t", task="segmentation", input_size=(144, 256), resize_size=0,
                    licence="", source="", description="", loader=lambda: None)
    out = I.prepare_for_model(img, seg)
    assert out.size == (256, 144)
    assert np.array_equal(np.asarray(out), np.asarray(img.resize((256, 144), Image.Resampling.BILINEAR)))


# ----------------------------------------------------------------------------- samples

def test_samples_manifest_and_files():
    samples = I.list_samples()
    keys = [s.key for s in samples]
    assert len(samples) >= 6 and len(set(keys)) == len(keys)
    assert {"chelsea", "coffee", "astronaut", "flower", "china", "rocket", "grace_hopper"} <= set(keys)
    subjects = " ".join(s.subject for s in samples)
    for needed in ("cat", "cup", "person", "flower"):
        assert needed in subjects
    licences_md = (I.SAMPLES_DIR / "LICENSES.md").read_text(encoding="utf-8")
    manifest = json.loads((I.SAMPLES_DIR / "SAMPLES.json").read_text(encoding="utf-8"))
    assert "tools/make_samples.py" in manifest["generated_by"]
    for s in samples:
        for field in ("title", "filename", "subject", "licence", "credit", "source"):
            assert getattr(s, field).strip(), (s.key, field)
        assert s.path.is_file() and s.filename in licences_md
        im = I.load_sample(s.key)
        assert im.mode == "RGB" and max(im.size) <= 512 and min(im.size) >= 224
    on_disk = {p.name for p in I.SAMPLES_DIR.iterdir()} - {"SAMPLES.json", "LICENSES.md"}
    assert on_disk == {s.filename for s in samples}
    a, b = I.load_sample("chelsea"), I.load_sample("chelsea")
    assert a is not b and np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(KeyError, match="known samples"):
        I.load_sample("nope")
