"""The streaming reader (core/image_sets.iter_images) and its budgets, on generated hostile sets:
archive pixel bombs, cut images, scan bombs inside archives, odd member names, the time budget,
Stop, laziness, stable keys. Each case is bounded by this test's own clock (generous bounds: the
machine may be loaded; the refusals take milliseconds)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from core.runtime import limits
from core.data.image_sets import (ImageSetError, iter_images, read_files, read_folder, read_source, read_zip,
                             register_named_source)
from core.runtime.limits import ReadBudget
from core.runtime.progress import Cancelled
from hostile_corpus import cut_png, make_zip, patch_zip_name, scan_bomb_jpeg, small_png, zeros_png

BOUND_S = 20.0  # wall-clock bound of each hostile case (the refusals themselves take well under 1 s)


def size(im):
    return im.size


def budget(**kw) -> ReadBudget:
    return replace(limits.server_read_budget(), **kw)


class Clock:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.s = time.monotonic() - self.t0
        assert self.s < BOUND_S, f"took {self.s:.1f} s"


def test_reading_is_lazy_and_progress_comes_before_each_member():
    calls, seen = [], []
    data = make_zip([(f"{i}.png", small_png(i)) for i in range(5)])
    it = iter_images(data, lambda im: calls.append(im.size) or len(calls), budget=budget(),
                     progress=lambda d, t, n: seen.append((d, t, n)))
    first = next(it)
    assert first.name == "0.png" and first.value == 1 and len(calls) == 1 and seen == [(0, 5, "0.png")]
    rest = list(it)
    assert [r.name for r in rest] == ["1.png", "2.png", "3.png", "4.png"] and len(calls) == 5
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]


def test_keys_are_name_and_content_and_agree_between_zip_and_folder(tmp_path):
    entries = [("b.png", small_png(1)), ("a/c.png", small_png(2))]
    for name, data in entries:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    z = list(iter_images(make_zip(entries), size, budget=budget()))
    f = list(iter_images(tmp_path, size, budget=budget()))
    assert [i.name for i in z] == [i.name for i in f] == ["a/c.png", "b.png"]
    assert [i.key for i in z] == [i.key for i in f]
    assert z[0].key.startswith("a/c.png#") and len(z[0].key.split("#")[1]) == 16
    same_bytes = list(iter_images(make_zip([("x.png", small_png(1)), ("y.png", small_png(1))]), size, budget=budget()))
    assert same_bytes[0].key.split("#")[1] == same_bytes[1].key.split("#")[1]
    assert same_bytes[0].key != same_bytes[1].key


def test_archive_pixel_bomb_stops_at_the_pixel_budget():
    # 60 valid 2000x2000 PNGs (4 MP each, ~12 KB each compressed): 240 MP in a small archive
    one = zeros_png(2000, 2000)
    bomb = make_zip([(f"{i:03d}.png", one) for i in range(60)], method=0)
    assert len(bomb) < 1_000_000
    notes: list[str] = []
    got = []
    with Clock():
        with pytest.raises(ImageSetError, match="megapixels"):
            for item in iter_images(bomb, size, budget=budget(max_total_pixels=12_000_000), note=notes.append):
                got.append(item)
    assert len(got) == 3  # 3 x 4 MP fit the 12 MP budget, the 4th does not
    # the page's wrapper keeps what was read and says why it stopped
    with Clock():
        s = read_zip(bomb, size, budget=budget(max_total_pixels=12_000_000))
    assert len(s.items) == 3 and "megapixels" in s.messages()[-1]


def test_cut_images_count_their_declared_pixels_before_decoding():
    cut = make_zip([(f"{i:04d}.png", cut_png(3000, 3000)) for i in range(300)])
    notes: list[str] = []
    got = []
    with Clock():
        with pytest.raises(ImageSetError, match="megapixels"):
            for item in iter_images(cut, size, budget=budget(max_total_pixels=50_000_000), note=notes.append):
                got.append(item)
    assert len(notes) + len(got) == 5  # 5 x 9 MP = 45 MP tried (decoded or not), then stop


def test_scan_bombs_inside_an_archive_are_refused_without_decoding():
    bomb = scan_bomb_jpeg(320, 240, 3000)
    assert len(bomb) < limits.MAX_UPLOAD_BYTES
    z = make_zip([(f"bomb{i}.jpg", bomb) for i in range(8)] + [("ok.png", small_png())])
    assert len(z) < len(bomb)  # the repeated scans compress
    with Clock() as c:
        s = read_zip(z, size)
    assert s.names == ["ok.png"]
    assert len(s.skipped) == 8 and all("scan bomb" in m and "3000 scans" in m for m in s.skipped)
    assert c.s < BOUND_S


def test_time_budget_and_stop():
    z = make_zip([(f"{i}.png", small_png(i)) for i in range(6)])

    def slow(im):
        time.sleep(0.2)
        return im.size

    got = []
    with pytest.raises(ImageSetError, match="longer than the limit of 0.3 s"):
        for item in iter_images(z, slow, budget=budget(max_seconds=0.3)):
            got.append(item)
    assert 1 <= len(got) <= 3

    prepared = []

    def stop_at_2(done, total, name):
        if done == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        for item in iter_images(z, lambda im: prepared.append(1), budget=budget(), progress=stop_at_2):
            pass
    assert len(prepared) == 2


def test_odd_member_names():
    z = make_zip([("ok/./fine.png", small_png(1)), ("badX.png", small_png(2)), ("nulY.png", small_png(3)),
                  ("z.png", small_png(4))])
    z = patch_zip_name(z, b"badX.png", b"bad\xff.png", utf8_flag=True)  # flagged UTF-8, but is not
    z = patch_zip_name(z, b"nulY.png", b"nul\x00.png")
    s = read_zip(z, size)
    assert s.names == ["ok/fine.png", "z.png"]  # not "not a ZIP", not "hidden", not truncated at NUL
    text = "\n".join(s.messages())
    assert "not valid UTF-8" in text and "NUL" in text
    assert not any(n.startswith("nul") for n in s.names)


def test_image_count_member_count_and_file_count_limits(monkeypatch, tmp_path):
    z = make_zip([(f"{i}.png", small_png(i)) for i in range(5)])
    s = read_zip(z, size, max_images=2)
    assert s.names == ["0.png", "1.png"] and "Only the first 2 images" in s.messages()[-1]
    s = read_zip(z, size, budget=budget(max_members=3))
    assert len(s.items) == 3 and "only the first 3" in s.messages()[0]
    monkeypatch.setattr(limits, "MAX_UPLOAD_FILES", 4)
    with pytest.raises(ImageSetError, match="limit is 4 files"):
        read_files([(f"{i}.png", small_png(i)) for i in range(5)], size)
    assert read_files([("b.png", small_png(1)), ("a.png", small_png(2))], size).names == ["a.png", "b.png"]


def test_list_files_named_sources_and_the_command_line_budget(tmp_path):
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(small_png(i))
    lst = tmp_path / "list.txt"
    lst.write_text("# my images\nimgs/2.png\n\nimgs/0.png\nmissing.png\n")
    notes: list[str] = []
    items = list(iter_images(lst, size, budget=limits.cli_read_budget(), note=notes.append))
    assert [i.name for i in items] == ["imgs/2.png", "imgs/0.png"]  # the list's order
    assert "missing.png" in notes[0]
    register_named_source("test-words", lambda: tmp_path / "imgs")
    assert read_source("test-words", size).names == ["0.png", "1.png", "2.png"]
    assert read_folder(tmp_path / "imgs", size, budget=limits.cli_read_budget()).names == ["0.png", "1.png", "2.png"]
    assert limits.cli_read_budget().max_images is None and limits.server_read_budget().max_images == limits.MAX_EVAL_IMAGES


def test_an_upload_is_decoded_once_per_content_even_from_many_threads(monkeypatch):
    import threading

    from core.data import images

    images.clear_decode_cache()
    calls = []
    real = images.decode_image

    def counting(data, name=""):  # a spy: the real decoder runs
        calls.append(name)
        time.sleep(0.2)  # hold the decode long enough for the other threads to arrive
        return real(data, name)

    monkeypatch.setattr(images, "decode_image", counting)
    data = small_png(7, 300, 200)
    out = []
    threads = [threading.Thread(target=lambda: out.append(images.decode_image_cached(data, "a.png"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(out) == 6
    assert all(o.tobytes() == out[0].tobytes() and o is not out[1] for o in out[:1])
    assert images.decode_image_cached(data, "a.png").size == (300, 200) and len(calls) == 1  # a rerun
    bomb = scan_bomb_jpeg(64, 48, 500)
    for _ in range(3):  # a refusal is remembered too
        with pytest.raises(images.ImageError, match="scan bomb"):
            images.decode_image_cached(bomb, "b.jpg")
    assert calls.count("b.jpg") == 1
    images.clear_decode_cache()
