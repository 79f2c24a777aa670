"""Bring-your-own segmenter (issue 39): ``python -m core models --check`` exits 0 on the default
description file (read twice: as the default file and through --models), a segmenter that
predicts one class everywhere is reported as degenerate by --check and gets the neutral verdict
on the Segmentation page, never a green "mIoU 1.00 → 1.00"."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from core.cli import commands as cli
from core.models.user.models_file import register_models_file, unregister_user_models

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "segmentation.py")


@pytest.fixture()
def seg_file(tmp_path):
    """models.toml with two LR-ASPP segmenters at 48 px: random weights, and the same network whose
    classifier says "background" everywhere (zero weights, a bias for class 0)."""
    torch.manual_seed(0)
    net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    save_file(net.state_dict(), str(tmp_path / "random.safetensors"))
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    for k in sd:
        if k.startswith("classifier.") and k.endswith("classifier.weight"):
            sd[k].zero_()
        elif k.startswith("classifier.") and k.endswith("classifier.bias"):
            sd[k].copy_(torch.tensor([5.0, 0.0, 0.0]))
    save_file(sd, str(tmp_path / "degenerate.safetensors"))
    (tmp_path / "classes.txt").write_text("background\nroad\ncar\n")
    entry = ('[[model]]\nname = "{n}"\narchitecture = "lraspp_mobilenet_v3_large"\nweights = "{w}"\n'
             'input_size = 48\nnormalization = "imagenet"\nclasses = "classes.txt"\n')
    path = tmp_path / "models.toml"
    path.write_text(entry.format(n="byo-seg-random", w="random.safetensors")
                    + entry.format(n="byo-seg-degenerate", w="degenerate.safetensors"))
    names = register_models_file(path)  # as the registry does with the default file at start-up
    yield path, names
    unregister_user_models(names)


def test_check_on_the_default_file_exits_0_and_names_the_degenerate_model(seg_file, monkeypatch, capsys):
    path, names = seg_file
    assert names == ["byo-seg-random", "byo-seg-degenerate"]
    monkeypatch.setenv("EXPLORER_MODELS", str(path))
    code = cli.main(["models", "--models", str(path), "--check"], stderr=io.StringIO())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "already registered" not in out
    lines = out.splitlines()
    deg = lines.index(next(line for line in lines if line.startswith("byo-seg-degenerate")))
    assert "background 100.0%" in lines[deg + 1] and "degenerate" in lines[deg + 2]
    rnd = lines.index(next(line for line in lines if line.startswith("byo-seg-random")))
    assert lines[rnd + 1].startswith("  ok:")
    # random weights: here too one class everywhere (the case); the note follows the share shown
    top_share = float(lines[rnd + 1].split("): ", 1)[1].split(", ")[0].rsplit(" ", 1)[1].rstrip("%")) / 100
    assert (rnd + 2 < len(lines) and lines[rnd + 2].startswith("  note:")) == (top_share >= 0.99)


def test_degenerate_segmenter_gets_the_neutral_verdict_on_the_page(seg_file):
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.selectbox(key="seg_model").set_value("byo-seg-degenerate").run()
    at.slider(key="seg_steps").set_value(2).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert not at.success, [s.value for s in at.success]  # never a green "1.00 → 1.00"
    infos = "\n".join(i.value for i in at.info)
    assert "**degenerate**" in infos and "“background” on 100.0%" in infos
