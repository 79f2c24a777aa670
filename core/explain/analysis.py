"""Numbers the pages show about a clean/adversarial pair: norms, PSNR, top-k, confidence change,
the prediction on the 8-bit file offered for download, and transfer to other models."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from core.data.images import decode_png_tensor, encode_png, to_pil, prepare_for_model, to_tensor


@dataclass
class Prediction:
    """Top-k classes of one image."""

    classes: list[int]
    names: list[str]
    probs: list[float]

    @property
    def top1(self) -> int:
        return self.classes[0]


def topk(logits: torch.Tensor, class_names: list[str], k: int = 5) -> Prediction:
    """Top-k classes and softmax probabilities of one row of logits."""
    p = logits.detach().float().reshape(-1).softmax(0)
    v, i = p.topk(min(k, p.numel()))
    return Prediction([int(c) for c in i], [class_names[int(c)] for c in i], [float(x) for x in v])


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits for a batch in [0, 1], without gradients, as float on the CPU (the
    input is moved to the model's device)."""
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        return model(x.to(dev)).float().cpu()


def mask_probability(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A segmentation model's per-pixel foreground probability (sigmoid of ``forward_logits``),
    without gradients, on the CPU."""
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        return torch.sigmoid(model.forward_logits(x.to(dev))).float().cpu()


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (inf when identical)."""
    mse = float(((x.float() - y.float()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def perturbation_stats(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, float]:
    """L∞ (also as k/255), L2, L0 share and PSNR of a single-image perturbation."""
    d = (x_adv - x).float()
    linf = float(d.abs().max())
    return {
        "linf": linf,
        "linf_255": linf * 255,
        "l2": float(d.norm()),
        "changed_share": float((d.abs() > 0.5 / 255).float().mean()),
        "psnr": psnr(x, x_adv),
    }


def quantised_prediction(model: nn.Module, x_adv: torch.Tensor) -> tuple[bytes, torch.Tensor, torch.Tensor]:
    """Encode the adversarial image as an 8-bit PNG and classify *that file*.

    Returns the PNG bytes, the decoded 8-bit image (1, 3, H, W) and its logits. Rounding to 8
    bits can undo a small perturbation: the app reports this prediction next to the download.
    """
    png = encode_png(x_adv)
    x8 = decode_png_tensor(png)
    return png, x8, predict(model, x8)


def transfer_predictions(x_adv: torch.Tensor, x_clean: torch.Tensor, models: dict[str, nn.Module],
                         specs: dict, class_names: list[str], k: int = 3) -> list[dict]:
    """Clean and adversarial top-k of other models on the same image.

    The adversarial image was made at the source model's size; for a model with another input
    size the image is resized bicubically (``prepare_for_model``), which itself perturbs it a
    little: the clean row shows the same resize, so the two are comparable.
    """
    rows = []
    for name, model in models.items():
        spec = specs[name]
        dev = next(model.parameters()).device
        xa = to_tensor(prepare_for_model(to_pil(x_adv), spec)) if tuple(x_adv.shape[-2:]) != spec.input_size else x_adv
        xc = to_tensor(prepare_for_model(to_pil(x_clean), spec)) if tuple(x_clean.shape[-2:]) != spec.input_size else x_clean
        with torch.no_grad():
            la = model(xa.to(dev)).float().cpu()
            lc = model(xc.to(dev)).float().cpu()
        pc, pa = topk(lc, class_names, k), topk(la, class_names, k)
        rows.append({"model": name, "clean": pc, "adversarial": pa, "fooled": pc.top1 != pa.top1})
    return rows
