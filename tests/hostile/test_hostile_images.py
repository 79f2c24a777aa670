"""Hostile and odd files through ``core.data.images.decode_image``: a generated corpus of 400+ files
(tests/hostile_corpus.py) written to a temporary folder and read back.

Every file must give either a correct RGB image (exact size where the file's true size is known,
pixel checks for transparency, 16-bit scaling, CMYK and every EXIF orientation) or an
``ImageError`` with a readable sentence; never any other exception, and never a slow decode.
"""
from __future__ import annotations

import collections
import faulthandler
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

from core.runtime import limits
from core.data.images import ImageError, decode_image
from tests.hostile_corpus import Case, build_corpus, safe_filename

# Seconds one decode may take. The slowest file here (a 40-megapixel PNG just inside the pixel
# limit) takes ~0.4 s on one CPU thread; everything else takes < 0.2 s.
DECODE_BOUND_S = 2.0
WATCHDOG_S = 60  # a decode stuck this long aborts the test process with a traceback


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[tuple[Case, Path]]:
    folder = tmp_path_factory.mktemp("hostile_corpus")
    out = []
    for i, case in enumerate(build_corpus()):
        path = folder / safe_filename(case.name, i)
        path.write_bytes(case.data)
        out.append((case, path))
    return out


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _decode_all(corpus):
    results = []
    for case, path in corpus:
        data = path.read_bytes()
        faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF/TIFF tags
                outcome: object = decode_image(data, case.name)
        except Exception as e:  # noqa: BLE001 - we classify every exception below
            outcome = e
        finally:
            faulthandler.cancel_dump_traceback_later()
        results.append((case, outcome, time.perf_counter() - t0))
    return results


@pytest.fixture(scope="module")
def decoded(corpus):
    before = _vm_hwm_mb()
    results = _decode_all(corpus)
    return results, before, _vm_hwm_mb()


def test_corpus_is_large_and_varied(corpus):
    groups = collections.Counter(c.group for c, _ in corpus)
    assert len(corpus) >= 200
    for g in ("truncated", "bomb", "animated", "16-bit", "cmyk", "transparency", "exif", "disguised", "random",
              "polyglot", "misnamed", "fuzz"):
        assert groups[g] >= 5 or g in ("cmyk", "animated"), (g, groups)
    assert sum(1 for c, _ in corpus if len(c.data) == 0) >= 2
    names = {c.name for c, _ in corpus}
    for o in range(1, 9):
        for ext in ("jpg", "png", "webp", "tiff"):
            assert f"exif_orientation_{o}.{ext}" in names


def _sentence_problem(msg: str) -> str | None:
    if not msg or len(msg) < 20:
        return "empty or too short"
    if not msg.rstrip().endswith("."):
        return "not a sentence"
    if "Traceback" in msg or 'File "/' in msg or "site-packages" in msg:
        return "leaks a traceback or a path"
    return None


def test_every_file_decodes_or_gives_a_clear_error(decoded):
    results, _, _ = decoded
    problems = []
    for case, out, _ in results:
        if isinstance(out, Image.Image):
            w, h = out.size
            if out.mode != "RGB":
                problems.append((case.name, f"mode {out.mode}"))
            elif not (1 <= w <= limits.MAX_IMAGE_SIDE and 1 <= h <= limits.MAX_IMAGE_SIDE
                      and w * h <= limits.MAX_IMAGE_PIXELS):
                problems.append((case.name, f"size {out.size} outside the limits"))
            elif set(out.info) != {"source_format", "source_mode"}:
                problems.append((case.name, f"info {sorted(out.info)}"))
            elif case.expect == "error":
                problems.append((case.name, f"decoded to {out.size}, expected an ImageError"))
            elif case.size is not None and out.size != case.size:
                problems.append((case.name, f"size {out.size}, expected {case.size}"))
            elif case.check is not None and (why := case.check(out)):
                problems.append((case.name, why))
        elif isinstance(out, ImageError):
            msg = str(out)
            if case.expect == "ok":
                problems.append((case.name, f"ImageError for a valid file: {msg}"))
            elif (why := _sentence_problem(msg)):
                problems.append((case.name, f"unclear message ({why}): {msg!r}"))
            elif case.msg and case.msg.lower() not in msg.lower():
                problems.append((case.name, f"message lacks {case.msg!r}: {msg}"))
        else:
            problems.append((case.name, f"raised {type(out).__name__}: {out}"))
    assert not problems, "\n".join(f"{n}: {p}" for n, p in problems[:40])


def test_every_decode_is_fast(decoded):
    results, _, _ = decoded
    slow = sorted(((dt, c.name) for c, _, dt in results if dt > DECODE_BOUND_S), reverse=True)
    assert not slow, f"decodes slower than {DECODE_BOUND_S} s: {slow[:10]}"
    total = sum(dt for _, _, dt in results)
    assert total < 30, f"the corpus took {total:.1f} s to decode"


def test_bombs_are_refused_without_allocating(decoded):
    """Headers claiming more than the limits are refused from the header, so no file made the
    process's peak memory grow by more than a few hundred MB (the largest *allowed* image here is
    40 MP: 120 MB as RGB)."""
    results, before, after = decoded
    refused = [c.name for c, out, _ in results if c.group == "bomb" and c.expect == "error"
               and isinstance(out, ImageError)]
    assert len(refused) >= 30
    if before is not None and after is not None:
        assert after - before < 600, f"peak memory grew by {after - before:.0f} MB while decoding the corpus"


def test_messages_name_the_file_and_say_what_it_is(decoded):
    results, _, _ = decoded
    by_name = {c.name: out for c, out, _ in results}
    assert "SVG" in str(by_name["cat.png"]) and "cat.png" in str(by_name["cat.png"])
    assert "HTML" in str(by_name["page.jpg"])
    assert "empty" in str(by_name["empty.png"])
    # Beyond Pillow's own bomb check (2 x 89 MP): refused at open, as a possible bomb.
    assert "decompression bomb" in str(by_name["png_claims_100000x100000.png"])
    # Beyond our limits but not Pillow's: the size and the limit are named.
    side = limits.MAX_IMAGE_SIDE
    assert f"{side} pixels per side" in str(by_name[f"png_claims_{side + 1}x1.png"])
    n = int(limits.MAX_IMAGE_PIXELS ** 0.5) + 16
    assert "megapixels" in str(by_name[f"real_bomb_{n}x{n}.png"])


def test_non_bytes_input_is_an_image_error():
    for bad in (None, "a string", 12, ["list"]):
        with pytest.raises(ImageError):
            decode_image(bad, "x.png")  # type: ignore[arg-type]


def test_model_preprocessing_of_every_decoded_image_is_fast(decoded):
    """What a page does next (``prepare_for_model``) must be cheap too: a 12000x1 strip passes
    the decoding limits, and a plain short-side resize of it to 256 px would be 3 million
    pixels wide (gigabytes, seconds); the crop-first path keeps it small."""
    from core.data.images import prepare_for_model, to_tensor
    from core.models import get_spec

    specs = [get_spec("EfficientNet-Lite0"), get_spec("MediaPipe Selfie Segmentation (landscape)")]
    results, _, _ = decoded
    slow, wrong = [], []
    for case, out, _ in results:
        if not isinstance(out, Image.Image):
            continue
        for spec in specs:
            t0 = time.perf_counter()
            x = to_tensor(prepare_for_model(out, spec))
            dt = time.perf_counter() - t0
            if tuple(x.shape) != (1, 3, *spec.input_size) or not bool(((x >= 0) & (x <= 1)).all()):
                wrong.append((case.name, spec.name, tuple(x.shape)))
            if dt > DECODE_BOUND_S:
                slow.append((round(dt, 2), case.name, spec.name))
    assert not wrong, wrong[:10]
    assert not slow, slow[:10]


def test_elongated_images_keep_their_centre():
    from core.data.images import resize_center_crop

    strip = Image.new("RGB", (limits.MAX_IMAGE_SIDE, 3), (0, 0, 255))
    strip.paste((255, 0, 0), (limits.MAX_IMAGE_SIDE // 2 - 2, 0, limits.MAX_IMAGE_SIDE // 2 + 2, 3))
    t0 = time.perf_counter()
    out = resize_center_crop(strip, 224, 256)
    assert time.perf_counter() - t0 < 0.5
    assert out.size == (224, 224)
    # The centre 4 px of 12000 become ~4 * 256/3 = 341 px: the whole crop is red.
    assert out.getpixel((112, 112)) == (255, 0, 0)
    assert out.getpixel((0, 0))[0] > 200
