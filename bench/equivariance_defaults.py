"""How the equivariance defaults were chosen: which feature stage (and which settings) recover
more PGD-attacked predictions of EfficientNet-Lite0 at 224 px, and what they cost on clean images.

Images: every bundled photo (assets/samples) in three square crops (the centre crop of the full
short side, and 70 % crops at the upper-left and lower-right thirds), resized to 224 px. Labels:
the undefended model's clean predictions. Attack: PGD L∞, ε = 4/255, step 1/255, 10 steps,
random start, on the undefended model (non-adaptive: this measures what purification can undo,
not robustness). For each configuration the purifier (seed 1) is applied to the attacked and to
the clean images; "robust" is the share of attacked images whose purified prediction is the
clean prediction again, "clean" the share of clean images whose prediction survives
purification. A small, noisy sample: differences of one or two images are not meaningful.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/equivariance_defaults.py ["stage='head'" ...]

Each argument is a keyword list for ``core.defenses.equivariance.purify``; without arguments a
standard set is run.
"""
from __future__ import annotations

import os
import sys
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.attacks import PGD, ThreatModel  # noqa: E402
from core.defenses.common import fast  # noqa: E402
from core.defenses.equivariance import purify  # noqa: E402
from core.data.images import list_samples, load_sample, to_tensor  # noqa: E402
from core.models import load_model  # noqa: E402

DEFAULT_CONFIGS = ["method='random'", "stage='stage5'", "stage='stage6'", "stage='stage7'", "stage='head'",
                   "method='invariance'", "eps_v=8/255", "steps=10",
                   "views=('hflip','resize0.75','rotate10','color')"]


def images() -> torch.Tensor:
    xs = []
    for s in list_samples():
        im = load_sample(s.key)
        w, h = im.size
        side = min(w, h)
        for frac, pos in ((1.0, 0.5), (0.7, 0.25), (0.7, 0.75)):
            c = int(side * frac)
            left, top = int((w - c) * pos), int((h - c) * pos)
            xs.append(to_tensor(im.crop((left, top, left + c, top + c)).resize((224, 224), Image.BICUBIC))[0])
    return torch.stack(xs)


def parse_config(cfg: str) -> dict:
    """``"method='invariance', eps_v=8/255, views=('hflip',)"`` -> keyword arguments, without
    eval: literals, tuples and + - * / of numbers only."""
    import ast
    import operator

    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def value(node):
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.Constant):
            return node.value
        raise ValueError(f"unsupported expression in {cfg!r}")

    call = ast.parse(f"f({cfg})", mode="eval").body
    return {kw.arg: value(kw.value) for kw in call.keywords}


def main() -> None:
    configs = sys.argv[1:] or DEFAULT_CONFIGS
    model = load_model("EfficientNet-Lite0")
    f = fast(model)
    dev = next(model.parameters()).device
    x = images().to(dev)
    with torch.no_grad():
        y = model(x).argmax(1)
    t = time.perf_counter()
    adv = torch.cat([PGD(ThreatModel(eps=4 / 255, step=1 / 255, steps=10)).run(model, x[i:i + 8], y[i:i + 8], seed=0)
                     .x_adv for i in range(0, len(x), 8)]).to(dev)
    with torch.no_grad():
        adv_acc = float((model(adv).argmax(1) == y).float().mean())
    print(f"# {len(x)} images, PGD-10 L∞ 4/255 on the undefended model: accuracy {adv_acc:.3f} "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    for cfg in configs:
        kw = parse_config(cfg)
        t = time.perf_counter()
        # chunks of 4 images keep every pass under the per-pass pixel limit (core/runtime/limits.py)
        pa = torch.cat([purify(f, adv[i:i + 4], seed=1, final_loss=False, **kw).logits.argmax(1)
                        for i in range(0, len(x), 4)])
        pc = torch.cat([purify(f, x[i:i + 4], seed=1, final_loss=False, **kw).logits.argmax(1)
                        for i in range(0, len(x), 4)])
        acc_a = float((pa == y).float().mean())
        acc_c = float((pc == y).float().mean())
        print(f"{cfg:50s} robust {acc_a:.3f}  clean {acc_c:.3f}  "
              f"({(time.perf_counter() - t) / (2 * len(x)):.2f} s/image)", flush=True)


if __name__ == "__main__":
    main()
