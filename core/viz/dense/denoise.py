"""Figures for the denoiser section of the Segmentation page: grey 28×28 panels enlarged, and PSNR
against ε for every denoiser (ObsAtk solid, random zero-mean noise of the same norm dashed)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from core.viz.common import FONT

COLOURS = {"DnCNN": "#e45756", "DnCNN-HAT": "#4c78a8", "Non-local means (scikit-image)": "#54a24b",
           "Gaussian filter (scikit-image)": "#b279a2"}


def grey_panel(t: torch.Tensor, scale: int = 5, amplify: bool = False) -> np.ndarray:
    """A (…, 1, H, W) image (or a perturbation with ``amplify``) as an enlarged (sH, sW, 3) uint8."""
    a = t.detach().float().cpu()
    while a.dim() > 2:
        a = a[0]
    if amplify:
        m = float(a.abs().max()) or 1.0
        a = 0.5 + a / (2 * m)
    img = (a.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = np.kron(img, np.ones((scale, scale), dtype=np.uint8))
    return np.repeat(img[..., None], 3, axis=2)


def psnr_curve_figure(curve: dict, highlight: str | None = None, height: int = 340) -> go.Figure:
    """PSNR (dB) against ε (RMS, k/255) per denoiser from ``core.evaluation.dense.denoise.psnr_curves``."""
    eps = curve["eps_rms_255"]
    fig = go.Figure()
    for name, rows in curve["psnr_db"].items():
        c = COLOURS.get(name, "#888")
        width = 4 if name == highlight else 2
        fig.add_trace(go.Scatter(x=eps, y=rows["obsatk"], name=f"{name}: ObsAtk", mode="lines+markers",
                                 line=dict(color=c, width=width)))
        fig.add_trace(go.Scatter(x=eps, y=rows["random"], name=f"{name}: random", mode="lines",
                                 line=dict(color=c, dash="dash", width=1.5)))
    fig.add_hline(y=curve["noisy_psnr_db"], line=dict(color="grey", dash="dot"),
                  annotation_text="noisy input, no denoiser", annotation_position="bottom left")
    fig.update_layout(title=f"PSNR against the perturbation budget ({curve['images']} images, σ = "
                            f"{curve['sigma_255']:g}/255)", xaxis_title="ε: RMS of δ (k/255)",
                      yaxis_title="PSNR of the denoised image (dB)", height=height, font=FONT,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(font=dict(size=11)))
    return fig
