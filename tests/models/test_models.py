"""The registered ImageNet models: strict loading, real predictions, read-only sharing, the fused view."""
from __future__ import annotations

import pytest
import torch

from core.models import get_spec, list_models, load_model
from core.models.imagenet.efficientnet_lite import EfficientNetLite
from core.models.fast import fast_view


@pytest.fixture(scope="module")
def lite0():
    return load_model("EfficientNet-Lite0", device="cpu")


def test_registry_metadata():
    names = [s.name for s in list_models("classification")]
    assert names[:3] == ["EfficientNet-Lite0", "EfficientNet-Lite1", "EfficientNet-Lite2"]
    assert [get_spec(n).input_size for n in names[:3]] == [(224, 224), (240, 240), (260, 260)]
    for n in names[:3]:
        s = get_spec(n)
        assert "Apache-2.0" in s.licence and s.resize_size == s.input_size[0] + 32
    with pytest.raises(KeyError, match="unknown model"):
        get_spec("ResNet-9000")


def test_structure_read_from_weights(lite0):
    net = lite0.net
    assert isinstance(net, EfficientNetLite)
    assert len(net._blocks) == 16 and sum(p.numel() for p in net.parameters()) == 4_652_008
    assert lite0.stage_names == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]


def test_stage_sizes_at_224(lite0):
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        fmap, feats = lite0.forward_features(x, keep=tuple(lite0.stage_names))
    sizes = {k: tuple(v.shape[1:]) for k, v in feats.items()}
    assert sizes["stem"] == (32, 112, 112)
    assert sizes["stage2"] == (24, 56, 56) and sizes["stage3"] == (40, 28, 28)
    assert sizes["stage4"] == (80, 14, 14) and sizes["stage6"] == (192, 7, 7)
    assert sizes["head"] == (1280, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(lite0.forward_head(fmap), lite0(x))


@pytest.mark.parametrize("sample,expected", [("chelsea", {"tiger cat", "Egyptian cat", "tabby"}),
                                             ("coffee", {"espresso"})])
def test_lite0_names_bundled_photos(lite0, sample, expected):
    from core.data.images import load_sample, prepare_for_model, to_tensor

    x = to_tensor(prepare_for_model(load_sample(sample), get_spec("EfficientNet-Lite0")))
    with torch.no_grad():
        p = lite0(x).softmax(1)[0]
    top = lite0.class_names[int(p.argmax())]
    assert top in expected, f"{sample}: got {top}"


def test_shared_model_is_read_only(lite0):
    assert load_model("EfficientNet-Lite0", device="cpu") is lite0
    assert not lite0.training and all(not p.requires_grad for p in lite0.parameters())
    with pytest.raises(RuntimeError, match="read-only"):
        lite0.train()
    assert not lite0.training


def test_fast_view_same_function(lite0):
    fast = fast_view(lite0)
    assert fast is not lite0 and fast_view(lite0) is fast and fast_view(fast) is fast
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.modules())  # original untouched
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(fast(x), lite0(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(RuntimeError):
        fast.train()


def test_registry_complete_for_concurrent_first_callers():
    """Several sessions opening at once must all see every model (a fresh interpreter, so the
    registry really is filled for the first time while threads race)."""
    import subprocess
    import sys

    code = ("import sys, threading; sys.path.insert(0, '.')\n"
            "from core.models import registry\n"
            "out = []\n"
            "ts = [threading.Thread(target=lambda: out.append(len(registry.list_models()))) for _ in range(8)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "import json; print(json.dumps(sorted(set(out))))\n")
    from tests.conftest import ROOT

    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    import json

    counts = json.loads(res.stdout.strip())
    assert len(counts) == 1 and counts[0] >= 3, res.stdout + res.stderr
