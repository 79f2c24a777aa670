"""User-supplied models (core/models/user/models_file.py): real files written by the tests.

ResNet-18 as .pt and .safetensors, a RobustBench-style nested checkpoint with ``module.``
prefixes, a timm network and an ONNX export of a small CNN are registered from a TOML file,
checked against the original network's logits (independent reference: the torchvision / timm /
torch module itself) and attacked with PGD. Every kind of bad file gives its own clear error while
the other models keep working; a pickle with code is refused without running it.
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from core.attacks import PGD, ThreatModel
from core.models import get_spec, list_models, load_model
from core.models.user.architectures import capabilities, fx_fused
from core.models.user.checkpoint import ModelFileError, read_weights, strip_prefixes
from core.models.fast import fast_view
from core.models.user.models_file import (NORMALIZATIONS, build_model, failed_models, parse_entry, parse_models_file,
                                     register_models_file, unregister_user_models)

SIZE = 64
CLASSES = [f"c{i}" for i in range(10)]
MEAN, STD = NORMALIZATIONS["imagenet"]


def _resnet18() -> nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=10)
    for mod in m.modules():  # non-trivial batch-norm statistics, as in a trained network
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                               nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.f(x)


def _export_onnx(net: nn.Module, path: Path, size: int = SIZE) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, 3, size, size),), str(path), dynamo=False,
                          input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_models")
    r18 = _resnet18()
    torch.save(r18.state_dict(), d / "r18.pt")
    save_file(r18.state_dict(), str(d / "r18.safetensors"))
    torch.save({"epoch": 100, "best_acc": 0.5,
                "state_dict": {"module." + k: v for k, v in r18.state_dict().items()}}, d / "robust.pth")
    import timm

    torch.manual_seed(1)
    tm = timm.create_model("test_resnet", pretrained=False, num_classes=10).eval()
    save_file(tm.state_dict(), str(d / "timm.safetensors"))
    torch.manual_seed(2)
    cnn = SmallCNN().eval()
    cnn.f[1].running_mean.uniform_(-0.1, 0.1)
    _export_onnx(cnn, d / "cnn.onnx")
    (d / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    common = f'input_size = {SIZE}\nresize = "stretch"\nnormalization = "imagenet"\nclasses = "classes.txt"\n'
    (d / "models.toml").write_text(
        f'[[model]]\nname = "t-r18-pt"\narchitecture = "resnet18"\nweights = "r18.pt"\n{common}\n'
        f'[[model]]\nname = "t-r18-st"\narchitecture = "torchvision:resnet18"\nweights = "r18.safetensors"\n{common}\n'
        f'[[model]]\nname = "t-robust"\narchitecture = "resnet18"\nweights = "robust.pth"\n{common}\n'
        f'[[model]]\nname = "t-timm"\narchitecture = "timm:test_resnet"\nweights = "timm.safetensors"\n{common}\n'
        f'[[model]]\nname = "t-onnx"\nonnx = "cnn.onnx"\ninput_size = {SIZE}\nresize = "stretch"\n'
        f'mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\nclasses = {CLASSES!r}\n'.replace("'", '"')
        + '\n[[model]]\nname = "t-broken"\narchitecture = "resnet18"\nweights = "nowhere.pt"\n'
        'normalization = "imagenet"\n')
    names = register_models_file(d / "models.toml")
    yield {"dir": d, "r18": r18, "timm": tm, "cnn": cnn, "names": names}
    unregister_user_models(names + ["t-broken"])


def _x(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))


def _pgd_check(model: nn.Module) -> None:
    """PGD stays in the ε-ball and raises the loss of the clean prediction."""
    x = _x()
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="linf", eps=8 / 255, step=2 / 255, steps=5)
    res = PGD(threat).run(model, x, y, seed=0)
    assert float(res.linf.max()) <= 8 / 255 + 1e-6
    ce = nn.functional.cross_entropy
    assert float(ce(res.adv_logits, y)) > float(ce(res.clean_logits, y))


def test_failing_model_is_listed_and_the_rest_registers(files):
    assert files["names"] == ["t-r18-pt", "t-r18-st", "t-robust", "t-timm", "t-onnx"]
    errors = dict(failed_models())
    assert "t-broken" in errors and "nowhere.pt" in errors["t-broken"] and "does not exist" in errors["t-broken"]
    assert "EfficientNet-Lite0" in [s.name for s in list_models("classification")]
    assert get_spec("t-r18-pt").origin == "user" and get_spec("t-r18-pt").input_size == (SIZE, SIZE)


@pytest.mark.parametrize("name", ["t-r18-pt", "t-r18-st", "t-robust"])
def test_resnet18_files_match_torchvision_and_are_attacked(files, name):
    model = load_model(name, "cpu")
    assert model is load_model(name, "cpu")  # shared
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(RuntimeError):
        model.train()
    x = _x()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = files["r18"]((x - mean) / std)
        torch.testing.assert_close(model(x), ref, rtol=0, atol=1e-5)
    assert model.class_names == CLASSES
    assert capabilities(model) >= {"stages", "cam", "head"}
    fmap, kept = model.forward_features(x, ("layer2",))
    torch.testing.assert_close(model.forward_head(fmap), ref, rtol=0, atol=1e-5)
    assert kept["layer2"].shape == (2, 128, SIZE // 8, SIZE // 8)
    fast = fast_view(model)
    assert fast is not model and not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), ref, rtol=0, atol=1e-4)
        f_map, f_kept = fast.forward_features(x, ("layer2",))  # the fast copy keeps the stages
        torch.testing.assert_close(f_kept["layer2"], kept["layer2"], rtol=0, atol=1e-4)
    _pgd_check(model)


def test_timm_model(files):
    model = load_model("t-timm", "cpu")
    x = _x()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), files["timm"]((x - mean) / std), rtol=0, atol=1e-5)
    assert model.stage_names == ["head"] and "head" in capabilities(model)
    with torch.no_grad():  # the fast copy (whatever it folded) computes the same function
        torch.testing.assert_close(fast_view(model)(x), model(x), rtol=0, atol=1e-4)
    _pgd_check(model)


def test_onnx_model_matches_and_gradients_flow(files):
    model = load_model("t-onnx", "cpu")
    x = _x().requires_grad_(True)
    xn = (x - 0.5) / 0.25
    ref = files["cnn"](xn)
    out = model(x)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4)
    g_ref, = torch.autograd.grad(ref[:, 3].sum(), x)
    g, = torch.autograd.grad(out[:, 3].sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-4)
    assert capabilities(model) == frozenset()  # no named stages: pages say so
    _pgd_check(model)


def test_onnx_identity_initializers_from_the_exporter_convert(tmp_path):
    """torch.onnx folds equal initialisers into Identity nodes (opset 19+); they must convert."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()  # zero-initialised BN biases -> shared initialisers
    _export_onnx(net, tmp_path / "r.onnx")
    from core.models.user.onnx_import import load_onnx

    conv = load_onnx(tmp_path / "r.onnx")
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), net(x), rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- bad files


def _desc(tmp: Path, **kw):
    entry = {"name": "bad", "architecture": "resnet18", "weights": "w.pt", "input_size": SIZE,
             "normalization": "imagenet", "classes": CLASSES}
    entry.update(kw)
    return parse_entry({k: v for k, v in entry.items() if v is not None}, tmp)


def _error(tmp: Path, **kw) -> str:
    with pytest.raises(ModelFileError) as e:
        build_model(_desc(tmp, **kw))
    return str(e.value)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + str(Path(os.environ.get("TMPDIR", "/tmp")) / "pwned-by-model-file"),))


def test_bad_files_give_clear_errors(tmp_path, files):
    r18 = files["r18"]
    sd = r18.state_dict()
    # missing file
    with pytest.raises(ModelFileError, match="does not exist"):
        _desc(tmp_path)
    # wrong format: an image renamed .pt, an unknown suffix
    (tmp_path / "w.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    assert "not a PyTorch file" in _error(tmp_path)
    (tmp_path / "w.h5").write_bytes(b"0" * 100)
    assert "unknown weights format .h5" in _error(tmp_path, weights="w.h5")
    (tmp_path / "w.safetensors").write_bytes(b"garbage" * 10)
    assert "not a valid safetensors file" in _error(tmp_path, weights="w.safetensors")
    # pickled code: refused and never run
    marker = Path(os.environ.get("TMPDIR", "/tmp")) / "pwned-by-model-file"
    marker.unlink(missing_ok=True)
    torch.save({"state_dict": sd, "hook": Evil()}, tmp_path / "w.pt")
    msg = _error(tmp_path)
    assert "refused" in msg and "pickles Python objects" in msg and not marker.exists()
    (tmp_path / "raw.pkl.pt").write_bytes(pickle.dumps(Evil()))
    assert "refused" in _error(tmp_path, weights="raw.pkl.pt") and not marker.exists()
    # a whole pickled module instead of a state dict
    torch.save(r18, tmp_path / "w.pt")
    assert "refused" in _error(tmp_path)
    # wrong architecture: keys listed and the closest architecture suggested
    torch.save(sd, tmp_path / "w.pt")
    msg = _error(tmp_path, architecture="resnet34")
    assert "missing keys" in msg and "layer1.2.conv1.weight" in msg and "resnet18 (" in msg
    # unexpected keys and a shape mismatch
    torch.save({**sd, "extra.weight": torch.zeros(3)}, tmp_path / "w.pt")
    assert "1 unexpected keys: extra.weight" in _error(tmp_path)
    bad = dict(sd)
    bad["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(bad, tmp_path / "w.pt")
    assert "layer1.0.conv1.weight: file (64, 64, 1, 1) vs model (64, 64, 3, 3)" in _error(tmp_path)
    # classes vs class names
    torch.save(sd, tmp_path / "w.pt")
    assert "classifier has 10 outputs but there are 1000 class names" in _error(tmp_path, classes="imagenet")
    with pytest.raises(ModelFileError, match="num_classes = 5 but there are 10 class names"):
        _desc(tmp_path, num_classes=5)
    # non-finite weights
    bad = dict(sd)
    bad["fc.weight"] = bad["fc.weight"].clone()
    bad["fc.weight"][0, 0] = float("nan")
    torch.save(bad, tmp_path / "w.pt")
    assert "NaN or infinite values in fc.weight" in _error(tmp_path)
    # probe: logits of the wrong shape (an ONNX net with 10 outputs described with 4 class names)
    assert "not logits of shape (1, 4)" in _error(tmp_path, architecture=None, weights=None,
                                                   onnx=str(files["dir"] / "cnn.onnx"), classes=["a", "b", "c", "d"])
    # not an ONNX file
    (tmp_path / "x.onnx").write_bytes(b"not onnx")
    assert "not a valid ONNX model" in _error(tmp_path, architecture=None, weights=None, onnx="x.onnx")
    # description errors
    with pytest.raises(ModelFileError, match="say how the network expects its input"):
        _desc(tmp_path, normalization=None)
    with pytest.raises(ModelFileError, match=r"\[0, 1\] pixel scale"):
        _desc(tmp_path, normalization=None, mean=[123.7, 116.3, 103.5], std=[58.4, 57.1, 57.4])
    with pytest.raises(ModelFileError, match="closest names"):
        _desc(tmp_path, architecture="resnet_eighteen_xyz")
    # the good models still work
    with torch.no_grad():
        assert load_model("t-r18-pt", "cpu")(_x()).shape == (2, 10)


def test_bad_toml_is_reported(tmp_path):
    (tmp_path / "m.toml").write_text("[[model]\nname = ")
    good, bad = parse_models_file(tmp_path / "m.toml")
    assert good == [] and "not valid TOML" in bad[0][1]


def test_read_weights_unwraps_nested_and_prefixed(files):
    sd = read_weights(files["dir"] / "robust.pth")  # {"epoch", "best_acc", "state_dict": {"module.…"}}
    assert set(sd) == {"module." + k for k in files["r18"].state_dict()}
    assert set(strip_prefixes(sd)) == set(files["r18"].state_dict())


# ----------------------------------------------------------------------------- fused fast copy

# One small member of every torchvision family with batch norm (the others share its blocks),
# checked at 64 px with random batch-norm statistics.
FUSE_ARCHS = ["resnet18", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5",
              "shufflenet_v2_x0_5", "regnet_x_400mf", "efficientnet_b0", "densenet121", "googlenet",
              "inception_v3", "vgg11_bn", "maxvit_t"]
FUSE_SIZE = {"inception_v3": 96, "maxvit_t": 224}  # smallest inputs these accept; the rest at 64 px
# Families where fusion does not apply, and why (asserted below).
NO_BN = ["squeezenet1_1", "alexnet", "vgg11", "convnext_tiny", "vit_b_16", "swin_t"]


@pytest.mark.parametrize("arch", FUSE_ARCHS)
def test_fused_copy_same_logits(arch):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
    net = torchvision.models.get_model(arch, weights=None, num_classes=10, **kwargs).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fused = fx_fused(net)
    assert fused is not None, f"{arch}: torch.fx could not trace it"
    size = FUSE_SIZE.get(arch, SIZE)
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        ref = net(x)
        out = fused(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


@pytest.mark.parametrize("arch", NO_BN)
def test_fusion_does_not_apply_without_batch_norm(arch):
    """Reason for no fused copy: these architectures have no BatchNorm2d to fold."""
    with torch.device("meta"):
        net = torchvision.models.get_model(arch, weights=None)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert fx_fused(net) is None


def test_project_architectures_zoo_and_efficientnet_lite(tmp_path):
    """The project's own architectures, given their shipped weights, equal the bundled models."""
    from core.models.imagenet.builtin import _lite_weights_path
    from core.models.zoo.catalogue import ZOO

    zoo = ZOO[0]
    (tmp_path / "m.toml").write_text(
        f'[[model]]\nname = "u-zoo"\narchitecture = "zoo:{zoo.name}"\nweights = "{zoo.weights_path}"\n'
        'input_size = 28\nresize = "stretch"\nnormalization = "none"\nnum_classes = 10\n\n'
        f'[[model]]\nname = "u-lite"\narchitecture = "efficientnet_lite"\nweights = "{_lite_weights_path(0)}"\n'
        'input_size = 224\nresize_size = 256\nmean = [0.498, 0.498, 0.498]\nstd = [0.502, 0.502, 0.502]\n')
    names = register_models_file(tmp_path / "m.toml")
    try:
        assert names == ["u-zoo", "u-lite"] and get_spec("u-zoo").task == "fashion-mnist"
        x = torch.rand(2, 1, 28, 28)
        with torch.no_grad():
            assert torch.equal(load_model("u-zoo", "cpu")(x), load_model(zoo.name, "cpu")(x))
            x = torch.rand(1, 3, 224, 224)
            lite = load_model("u-lite", "cpu")
            ref = load_model("EfficientNet-Lite0", "cpu")(x)
            assert torch.equal(lite(x), ref)
            torch.testing.assert_close(fast_view(lite)(x), ref, rtol=0, atol=1e-4)
        assert capabilities(lite) == {"head", "stages", "cam", "stride"}
    finally:
        unregister_user_models(names)


def test_defenses_on_user_models_work_or_say_what_is_missing(files):
    from core.defenses import DEFENSES, make_defense

    x = _x(1)
    for name, lacking in (("t-r18-pt", set()),
                          ("t-onnx", {"Equivariance purification", "CIFS-lite (untrained, exploratory)"})):
        model = load_model(name, "cpu")
        for dn in DEFENSES:
            kw = {"stage": "layer3" if name == "t-r18-pt" else "head", "steps": 1} \
                if dn == "Equivariance purification" else {}
            if dn in lacking:
                with pytest.raises(ValueError, match="needs .*; " + name + " has none"):
                    make_defense(dn, model, **kw)
                continue
            out = make_defense(dn, model, **kw).defend(x)
            assert out.logits.shape == (1, 10) and bool(torch.isfinite(out.logits).all()), dn


def test_command_line_lists_checks_and_evaluates_user_models(files, tmp_path, monkeypatch):
    """python -m core models --check and evaluate --models: probe shown, failures exit 1."""
    import io as _io

    from core.cli.commands import main

    monkeypatch.setenv("EXPLORER_MODELS", "")  # restored after the test (use_models_file sets it)
    d = files["dir"]
    (tmp_path / "m.toml").write_text(
        f'[[model]]\nname = "cli-r18"\narchitecture = "resnet18"\nweights = "{d / "r18.pt"}"\ninput_size = 64\n'
        f'resize = "stretch"\nnormalization = "imagenet"\nnum_classes = 10\n\n'
        f'[[model]]\nname = "cli-bad"\narchitecture = "resnet34"\nweights = "{d / "r18.pt"}"\ninput_size = 64\n'
        'normalization = "imagenet"\nnum_classes = 10\n')
    out, err = _io.StringIO(), _io.StringIO()
    import sys as _sys

    monkeypatch.setattr(_sys, "stdout", out)
    try:
        code = main(["models", "--models", str(tmp_path / "m.toml"), "--check"], stderr=err)
        assert code == 1  # cli-bad does not load
        assert "cli-r18\tclassification\tuser" in out.getvalue() and "ok: on " in out.getvalue()
        assert "cli-bad" in err.getvalue() and "Closest torchvision architectures" in err.getvalue()
        code = main(["evaluate", "bundled", "--samples", "chelsea", "--model", "cli-r18", "--attack", "FGSM",
                     "--eps", "2", "--out", str(tmp_path / "out"), "--quiet"], stderr=err)
        assert code == 0 and (tmp_path / "out" / "summary.csv").exists()
    finally:
        unregister_user_models(["cli-r18", "cli-bad"])


def test_uploaded_bytes_go_through_the_same_checks(files):
    """What the browser's upload panel does: bytes of a weights or ONNX file, a description built
    from the form; the same validation and probe as a models.toml entry."""
    from core.models.user.models_file import ModelDescription

    d = files["dir"]

    def desc(arch):
        return ModelDescription(name="Yours: x", architecture=arch, weights=None, onnx=None, input_size=(SIZE, SIZE),
                                resize_size=0, mean=MEAN, std=STD, class_names=tuple(CLASSES))

    model, probe = build_model(desc("resnet18"), weights=(d / "r18.safetensors").read_bytes(),
                               weights_name="r18.safetensors")
    assert probe.sample and len(probe.top) == 3 and abs(sum(p for _, p in probe.top)) <= 1.0
    with torch.no_grad():
        torch.testing.assert_close(model(_x()), load_model("t-r18-st", "cpu")(_x()), rtol=0, atol=1e-6)
    model, _ = build_model(desc(None), weights=(d / "cnn.onnx").read_bytes(), weights_name="cnn.onnx")
    assert model(_x()).shape == (2, 10)
    with pytest.raises(ModelFileError, match="refused"):
        build_model(desc("resnet18"), weights=pickle.dumps(Evil()), weights_name="evil.pt")
