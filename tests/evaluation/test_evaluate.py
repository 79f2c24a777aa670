"""Batch evaluation (core/evaluation/batch/evaluate.py), image sets from archives and folders (core/data/image_sets.py)
and the command line (core/cli/commands.py): zip safety, metrics on a tiny model, cancellation that keeps
finished images, and ``python -m core evaluate`` on two bundled photos with the same numbers as
the in-process evaluation."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.runtime import limits
from core.cli.commands import TextProgress, cli_command, defense_arg, parse_defense, parse_eps
from core.evaluation.curves import NO_DEFENSE
from core.evaluation.batch.evaluate import BatchResult, EvalSettings, evaluate_images, summarize
from core.data.image_sets import (ImageItem, ImageSetError, decode_entries, read_bundled, read_folder, read_source, read_zip,
                             unsafe_name_reason, zip_entries)
from core.data.images import to_tensor
from core.runtime.progress import Cancelled

ROOT = Path(__file__).resolve().parents[2]


def png(w: int = 8, h: int = 8, seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def make_zip(entries: list[tuple[str, bytes]], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def ident(img: Image.Image) -> tuple[int, int]:
    return img.size


# ----------------------------------------------------------------------------- archives
def test_zip_reads_images_in_name_order_and_skips_the_rest_with_messages():
    data = make_zip([("b.png", png(seed=1)), ("a/c.png", png(10, 6, seed=2)), ("notes.txt", b"hello"),
                     ("../../evil.png", png()), ("/abs.png", png()), ("C:/win.png", png()),
                     ("__MACOSX/._b.png", b"junk"), (".hidden.png", png()), ("dir/", b""), ("a.png", png(seed=3))],
                    symlink="link.png")
    s = read_zip(data, ident)
    assert s.names == ["a.png", "a/c.png", "b.png"]
    assert s.items[1][1] == (10, 6)
    text = "\n".join(s.messages())
    assert "evil.png" in text and "leaves the archive" in text
    assert "abs.png" in text and "win.png" in text and "absolute" in text
    assert "notes.txt" in text and "not an image" in text
    assert "link.png" in text and "symbolic link" in text
    assert "hidden" in text
    assert not any("dir/" in m for m in s.messages())


def test_zip_limits_members_sizes_and_total(monkeypatch):
    # not a zip / too big
    with pytest.raises(ImageSetError, match="not a ZIP"):
        read_zip(b"PK\x03\x04garbage", ident)
    with pytest.raises(ImageSetError, match="not a ZIP"):
        read_zip(png(), ident)
    monkeypatch.setattr(limits, "MAX_ZIP_BYTES", 100)
    with pytest.raises(ImageSetError, match="limit"):
        read_zip(make_zip([("a.png", png())]), ident)
    monkeypatch.setattr(limits, "MAX_ZIP_BYTES", 20 * 2**20)
    # entry count
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBERS", 3)
    s = read_zip(make_zip([(f"{i}.png", png(seed=i)) for i in range(5)]), ident)
    assert len(s.items) == 3 and "only the first 3" in " ".join(s.messages())
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBERS", 1000)
    # a highly compressible member larger than the per-image limit (a small zip bomb)
    bomb = b"\x00" * 300_000
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 100_000)
    z = make_zip([("bomb.png", bomb), ("ok.png", png())])
    assert len(z) < 5_000
    s = read_zip(z, ident)
    assert s.names == ["ok.png"] and "bomb.png" in s.messages()[0]
    # total uncompressed size
    monkeypatch.setattr(limits, "MAX_ZIP_TOTAL_BYTES", len(png()) * 2 + 10)
    s = read_zip(make_zip([(f"{i}.png", png(seed=0)) for i in range(4)]), ident)
    assert len(s.items) == 2 and "Stopped reading" in " ".join(s.messages())
    # image count
    monkeypatch.setattr(limits, "MAX_ZIP_TOTAL_BYTES", 200 * 2**20)
    s = read_zip(make_zip([(f"{i}.png", png(seed=i)) for i in range(5)]), ident, max_images=2)
    assert s.names == ["0.png", "1.png"] and "Only the first 2" in s.messages()[-1]


def test_zip_entry_whose_header_lies_about_its_size_is_bounded(monkeypatch):
    """A local header/central directory that under-states the size: the bounded read refuses it."""
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 1000)
    for method, blob in ((zipfile.ZIP_STORED, bytes(range(256)) * 20), (zipfile.ZIP_DEFLATED, b"\0" * 50_000)):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as zf:
            zf.writestr("x.png", blob)
            zf.writestr("y.png", png())
        raw = bytearray(buf.getvalue())
        # patch the uncompressed size of x.png in the central directory to 10 bytes
        cd = raw.find(b"PK\x01\x02")
        raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
        entries, notes = zip_entries(bytes(raw))
        assert [n for n, _ in entries] == ["y.png"]
        assert "x.png" in notes[0] and "could not be read" in notes[0]


def test_unsafe_names():
    assert unsafe_name_reason("a/b.png") is None
    for bad in ("../x.png", "a/../../x.png", "/etc/x.png", "\\\\server\\x.png", "C:\\x.png", "a\\..\\..\\x.png"):
        assert unsafe_name_reason(bad), bad


def test_folder_and_bundled_read_like_a_zip(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.png").write_bytes(png(seed=1))
    (tmp_path / "sub" / "a.png").write_bytes(png(seed=2))
    (tmp_path / "readme.md").write_text("# not an image")
    (tmp_path / ".secret.png").write_bytes(png())
    try:
        os.symlink("/etc/hostname", tmp_path / "link.png")
    except OSError:
        pass
    s = read_folder(tmp_path, ident)
    assert s.names == ["b.png", "sub/a.png"]
    assert any("readme.md" in m for m in s.messages())
    z = read_zip(make_zip([("b.png", png(seed=1)), ("sub/a.png", png(seed=2))]), to_tensor)
    f = read_source(tmp_path, to_tensor)
    assert f.names == z.names and all(torch.equal(a, b) for (_, a), (_, b) in zip(f.items, z.items))
    with pytest.raises(ImageSetError):
        read_source(tmp_path / "missing", ident)
    # bundled photos = the samples folder, same names and order
    b = read_bundled(ident)
    folder = read_folder(ROOT / "assets" / "samples", ident)
    assert b.names == folder.names and len(b.names) >= 2
    assert read_bundled(ident, ["coffee", "chelsea"]).names == ["chelsea.jpg", "coffee.jpg"]
    with pytest.raises(ImageSetError, match="Unknown"):
        read_bundled(ident, ["nope"])


def test_decode_entries_caps_and_messages():
    s = decode_entries([("a.png", png()), ("b.txt", b"text"), ("c.png", png(seed=1))], ident, max_images=10)
    assert s.names == ["a.png", "c.png"] and len(s.skipped) == 1


# ----------------------------------------------------------------------------- metrics
class Tiny(nn.Module):
    """A 4-class linear model on 3x8x8 images with class names, like the registered models."""

    class_names = ["zero", "one", "two", "three"]

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.lin = nn.Linear(192, 4)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(4, 192, generator=g))
            self.lin.bias.zero_()
        self.eval().requires_grad_(False)

    def forward(self, x):
        return self.lin(x.flatten(1))


def tiny_items(n: int = 4) -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(9)
    return [(f"img{i}.png", 0.4 + 0.2 * torch.rand(1, 3, 8, 8, generator=g)) for i in range(n)]


def test_evaluate_images_metrics_match_a_direct_computation():
    model = Tiny()
    items = tiny_items()
    s = EvalSettings(model="tiny", attack="FGSM", eps=(0.0, 0.002, 0.05), defenses=(("Bit-depth reduction", (("bits", 3),)),))
    res = evaluate_images(model, items, s, class_names=model.class_names)
    assert res.complete and len(res.images) == 4
    bits = s.build_defenses(model)["Bit-depth reduction"]
    for (name, x), ev in zip(items, res.images):
        y = int(model(x).argmax(1))
        assert ev.label == y and ev.clean[NO_DEFENSE] == y
        for i, e in enumerate(s.eps):
            from core.attacks import FGSM, ThreatModel
            xa = FGSM(ThreatModel(eps=e)).run(model, x, torch.tensor([y])).x_adv
            assert ev.pred[NO_DEFENSE][i] == int(model(xa).argmax(1))
            assert ev.pred["Bit-depth reduction"][i] == int(bits.defend(xa, seed=1).logits.argmax(1))
    summ = res.summary()
    rows = {(r["defense"], r["kind"], r["eps"]): r for r in summ}
    assert rows[(NO_DEFENSE, "clean", 0.0)]["accuracy"] == 1.0  # the label is the clean prediction
    assert rows[(NO_DEFENSE, "attack", 0.0)]["accuracy"] == 1.0
    big = rows[(NO_DEFENSE, "attack", 0.05)]
    acc = sum(ev.correct[NO_DEFENSE][2] for ev in res.images) / 4
    assert big["accuracy"] == acc and big["success_rate"] == 1 - acc
    d = rows[("Bit-depth reduction", "attack", 0.05)]
    ok = [ev for ev in res.images if ev.clean["Bit-depth reduction"] == ev.label]
    want = (sum(ev.success["Bit-depth reduction"][2] for ev in ok) / len(ok)) if ok else None
    assert d["success_rate"] == want
    # an image's numbers do not depend on the other images
    alone = evaluate_images(model, items[2:3], s)
    assert alone.images[0].pred == res.images[2].pred and alone.images[0].confidence == res.images[2].confidence
    assert summarize([], s.eps, [NO_DEFENSE]) == []


def test_cancel_keeps_the_finished_images():
    model = Tiny()
    items = tiny_items(3)
    s = EvalSettings(model="tiny", attack="PGD", eps=(0.01, 0.02), steps=3)
    out = BatchResult(settings=s)

    def progress(done, total, msg):
        if done >= 1000:  # the first image is finished
            raise Cancelled()

    with pytest.raises(Cancelled):
        evaluate_images(model, items, s, progress=progress, into=out)
    assert len(out.images) == 1 and not out.complete
    assert out.summary()[0]["n"] == 1


def test_settings_validation_and_cli_argument_round_trip():
    with pytest.raises(ValueError):
        EvalSettings(model="m", attack="nope")
    with pytest.raises(ValueError):
        EvalSettings(model="m", attack="N-FGSM", norm="l2")
    with pytest.raises(ValueError):
        EvalSettings(model="m", eps=(2.0,))
    with pytest.raises(ValueError):
        EvalSettings(model="m", defenses=(("nope", ()),))
    assert parse_eps("1, 2,4", "linf") == pytest.approx([1 / 255, 2 / 255, 4 / 255])
    assert parse_eps("0.5", "l2") == [0.5]
    name, params = parse_defense("Equivariance purification:eps_v=8,views=hflip+rotate10,stage=stage5")
    assert dict(params) == {"eps_v": 8 / 255, "views": ("hflip", "rotate10"), "stage": "stage5"}
    assert parse_defense(defense_arg(name, params)) == (name, params)
    assert parse_defense("CIFS-lite (untrained, exploratory):temperature=inf")[1] == (("temperature", float("inf")),)
    for bad in ("Nope", "JPEG:quality=500", "JPEG:colour=1", "Median filter:kernel=4"):
        with pytest.raises(Exception):
            parse_defense(bad)
    s = EvalSettings(model="EfficientNet-Lite0", attack="PGD", eps=(1 / 255, 2 / 255), steps=5, step_ratio=0.5,
                     random_start=False, defenses=(("JPEG", (("quality", 50),)),), adaptive=True, seed=3)
    cmd = cli_command(s, "bundled", samples=["chelsea"])
    for part in ("--samples chelsea", "--attack PGD", "--eps 1,2", "--steps 5", "--step-ratio 0.5",
                 "--no-random-start", "--defense JPEG:quality=50", "--adaptive", "--seed 3"):
        assert part in cmd


def test_text_progress_bar():
    buf = io.StringIO()
    bar = TextProgress(buf, width=10, step=50)
    for d in range(0, 101, 5):
        bar(d, 100, f"step {d}")
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("[----------]   0.0%") and lines[-1].startswith("[##########] 100.0%")
    assert len(lines) == 3  # 0 %, 50 %, 100 %: a log stays short when stderr is not a terminal


# ----------------------------------------------------------------------------- command line
@pytest.mark.slow
def test_cli_on_two_bundled_photos_matches_the_in_process_evaluation(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for f in ("chelsea.jpg", "coffee.jpg"):
        shutil.copy(ROOT / "assets" / "samples" / f, src / f)
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "core", "evaluate", str(src), "--model", "EfficientNet-Lite0",
                           "--attack", "FGSM", "--eps", "0.5,2", "--defense", "JPEG:quality=50", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "notes.txt" in proc.stderr and "100.0%" in proc.stderr  # the skip message and the progress bar
    summary = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    per_image = list(csv.DictReader(open(out / "images.csv", encoding="utf-8")))
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(summary) == 2 * 3 and len(per_image) == 2 * 2 * 2
    assert {r["image"] for r in per_image} == {"chelsea.jpg", "coffee.jpg"}
    assert doc["settings"]["attack"] == "FGSM" and doc["settings"]["eps"] == pytest.approx([0.5 / 255, 2 / 255])
    assert doc["environment"]["torch"] and doc["environment"]["device"]
    assert "plotly-graph-div" in html and ('id="report-data"' in html or "id='report-data'" in html)

    # the same numbers from the same code in this process (what the Batch evaluation page runs)
    from core.data.images import prepare_for_model
    from core.models import get_spec, load_model
    spec = get_spec("EfficientNet-Lite0")
    model = load_model("EfficientNet-Lite0")
    images = read_bundled(lambda im: to_tensor(prepare_for_model(im, spec)), ["chelsea", "coffee"])
    s = EvalSettings(model="EfficientNet-Lite0", attack="FGSM", eps=(0.5 / 255, 2 / 255),
                     defenses=(("JPEG", (("quality", 50),)),))
    # the command line evaluates with one torch thread per image (--threads 1): the same here, since
    # how a convolution's sums are split between threads changes the last bits
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = evaluate_images(model, [ImageItem(n, k, x) for (n, x), k in zip(images.items, images.keys)], s)
    finally:
        torch.set_num_threads(before)
    want = res.summary()
    assert len(want) == len(summary)
    for w, got in zip(want, summary):
        assert got["defense"] == w["defense"] and got["kind"] == w["kind"]
        assert float(got["accuracy"]) == pytest.approx(w["accuracy"], abs=1e-12)
        if w["mean_confidence"] is not None:
            assert float(got["mean_confidence"]) == pytest.approx(w["mean_confidence"], abs=1e-6)
    table = next(it for s_ in doc["sections"] for it in s_["items"] if it["type"] == "table")
    assert [r["accuracy"] for r in table["rows"]] == pytest.approx([r["accuracy"] for r in want])
    # the undefended model is fooled by FGSM at 2/255 on both photos (a non-robust ImageNet model)
    assert next(r for r in want if r["defense"] == NO_DEFENSE and r["eps"] == pytest.approx(2 / 255))["accuracy"] == 0.0


def test_cli_errors_are_reported(tmp_path):
    from core.cli.commands import main

    err = io.StringIO()
    assert main(["evaluate", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], stderr=err) == 2
    assert "neither a folder" in err.getvalue()
    (tmp_path / "empty").mkdir()
    err = io.StringIO()
    assert main(["evaluate", str(tmp_path / "empty"), "--out", str(tmp_path / "o")], stderr=err) == 1
    assert "no usable images" in err.getvalue()
    err = io.StringIO()
    assert main(["evaluate", "bundled", "--eps", "1,x", "--out", str(tmp_path / "o")], stderr=err) == 2
    err = io.StringIO()
    assert main(["evaluate", str(tmp_path), "--samples", "chelsea", "--out", str(tmp_path / "o")], stderr=err) == 2
    assert "--samples" in err.getvalue()
