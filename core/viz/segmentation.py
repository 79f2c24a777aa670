"""Figures for the segmentation page: mask overlays, flipped-pixel maps, attack and purification
trajectories, per-view back-warped masks and the equivariance-error heatmap (no Streamlit)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from PIL import Image
from plotly.colors import sequential
from plotly.subplots import make_subplots

from core.viz.common import FONT, image_trace, to_numpy_image

MASK_RGB = (255, 40, 160)  # magenta: visible on skin, sky and clothes alike
TARGET_RGB = (40, 200, 255)
FLIP_COLOURS = [[0.0, "#d62728"], [0.5, "#f2f2f2"], [1.0, "#2ca02c"]]
# Inferno as explicit rgb() stops: plotly.js draws its first stop "#000004" (as given by the named
# scale and plotly.colors) as a light colour, so zero error showed up pink in the app.
ERROR_COLOURS = [[i / (len(sequential.Inferno) - 1), "rgb({}, {}, {})".format(*(int(c[k:k + 2], 16) for k in (1, 3, 5)))]
                 for i, c in enumerate(sequential.Inferno)]


def _hw(a: torch.Tensor) -> torch.Tensor:
    """(…, h, w) -> (h, w) float of the first image."""
    while a.dim() > 2:
        a = a[0]
    return a.detach().float().cpu()


def resize_for_display(img: np.ndarray, size_hw: tuple[int, int] | None) -> np.ndarray:
    """Resize an (H, W[, 3]) uint8 array to ``size_hw`` (bilinear), e.g. to undo the stretch to a
    model's square input for display."""
    if size_hw is None or tuple(img.shape[:2]) == tuple(size_hw):
        return img
    return np.asarray(Image.fromarray(img).resize((size_hw[1], size_hw[0]), Image.Resampling.BILINEAR))


def display_size(image_hw: tuple[int, int], aspect: float, height: int = 256) -> tuple[int, int]:
    """(H, W) of height ``height`` with width/height = ``aspect`` (the photo's own shape)."""
    return height, max(1, round(height * aspect))


def mask_to_image_size(prob: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A (…, h, w) probability or {0, 1} map resized bilinearly to ``hw``, as (H, W)."""
    m = _hw(prob)[None, None]
    if tuple(m.shape[-2:]) != tuple(hw):
        m = F.interpolate(m, size=tuple(hw), mode="bilinear", align_corners=False)
    return m[0, 0]


def overlay(x: torch.Tensor, prob: torch.Tensor, colour: tuple[int, int, int] = MASK_RGB,
            alpha: float = 0.55, threshold: float | None = 0.5,
            size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The photo with the mask painted over it, (H, W, 3) uint8. With ``threshold`` the binary
    mask is painted; with None the probability sets the opacity."""
    img = to_numpy_image(x).astype(np.float32)
    m = mask_to_image_size(prob, img.shape[:2]).numpy()
    a = (m > threshold).astype(np.float32) if threshold is not None else np.clip(m, 0, 1)
    a = (alpha * a)[..., None]
    out = img * (1 - a) + np.asarray(colour, dtype=np.float32) * a
    return resize_for_display(out.round().astype(np.uint8), size_hw)


def mask_image(prob: torch.Tensor, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A probability map as a grey image (white = person), (H, W, 3) uint8."""
    m = (_hw(prob).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return resize_for_display(np.repeat(m[..., None], 3, axis=2), size_hw)


TITLE_LINE_PX = 18  # height of one line of a subplot title at the figures' font size


def image_grid(panels: Sequence[tuple[str, np.ndarray]], rows: int = 1, height: int = 300) -> go.Figure:
    """Images side by side (row-major), each with a title; square pixels, no axes.

    The gap between rows is sized in pixels for the lines of the titles below it, so that a
    title never runs into the images above it (a fraction of the height alone did with
    two-line titles)."""
    n = len(panels)
    cols = max(1, -(-n // rows))
    lines = max((t.count("<br>") + 1 for t, _ in panels[cols:]), default=1)
    plot_px = height * rows - 45  # the figure less its top and bottom margins
    gap = max(0.08, (TITLE_LINE_PX * lines + 12) / plot_px) if rows > 1 else 0.0
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[t for t, _ in panels],
                        horizontal_spacing=0.02, vertical_spacing=min(gap, 0.3))
    for i, (_, img) in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(image_trace(img), row=r, col=c)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(height=height * rows, margin=dict(l=5, r=5, t=40, b=5), font=FONT)
    return fig


def comparison_figure(photos: Sequence[torch.Tensor], probs: Sequence[torch.Tensor], titles: Sequence[str],
                      size_hw: tuple[int, int] | None = None, height: int = 300) -> go.Figure:
    """Row 1: each photo with its mask painted over it; row 2: the masks themselves."""
    panels = [(f"{t}: overlay", overlay(x, p, size_hw=size_hw)) for x, p, t in zip(photos, probs, titles)]
    panels += [(f"{t}: mask", mask_image(p, size_hw)) for p, t in zip(probs, titles)]
    return image_grid(panels, rows=2, height=height)


def flipped_map(reference: torch.Tensor, other: torch.Tensor) -> np.ndarray:
    """(h, w) int: +1 where ``other`` says person and ``reference`` does not, −1 the reverse."""
    return _hw(other > 0.5).int().numpy() - _hw(reference > 0.5).int().numpy()


def flipped_figure(reference: torch.Tensor, others: Sequence[torch.Tensor], titles: Sequence[str],
                   height: int = 300) -> go.Figure:
    """Maps of flipped pixels: green = became person, red = stopped being person, grey = same."""
    fig = make_subplots(rows=1, cols=len(others), subplot_titles=list(titles), horizontal_spacing=0.03)
    for i, o in enumerate(others):
        f = flipped_map(reference, o)
        gained, lost = int((f > 0).sum()), int((f < 0).sum())
        fig.add_trace(go.Heatmap(z=f, zmin=-1, zmax=1, colorscale=FLIP_COLOURS, showscale=False,
                                 hovertemplate="x %{x}, y %{y}: %{z}<extra></extra>"), row=1, col=i + 1)
        fig.layout.annotations[i].text = f"{titles[i]} (+{gained} / −{lost} px)"
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=40, b=5), font=FONT)
    return fig


def attack_trajectory_figure(traj, height: int = 300) -> go.Figure:
    """IoU with the clean mask, pixel accuracy and (targeted) target pixels reached per step,
    with the attack objective on a second axis. ``traj``: list of SegStepRecord."""
    steps = [s.step for s in traj]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=[float(s.iou[0]) for s in traj], name="IoU with clean mask",
                             mode="lines+markers"), secondary_y=False)
    fig.add_trace(go.Scatter(x=steps, y=[float(s.pixel_acc[0]) for s in traj], name="pixel accuracy",
                             mode="lines+markers"), secondary_y=False)
    if traj and traj[0].target_reached is not None:
        fig.add_trace(go.Scatter(x=steps, y=[float(s.target_reached[0]) for s in traj],
                                 name="target pixels reached", mode="lines+markers"), secondary_y=False)
    fig.add_trace(go.Scatter(x=steps, y=[float(s.loss[0]) for s in traj], name="objective (right axis)",
                             mode="lines", line=dict(dash="dot", color="grey")), secondary_y=True)
    fig.update_yaxes(range=[0, 1.02], title_text="share", secondary_y=False)
    fig.update_yaxes(title_text="objective", secondary_y=True, showgrid=False)
    fig.update_layout(title="Attack steps", xaxis_title="step (iterate evaluated before its update)",
                      height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def purification_figure(traj, loss_min: float | None = None, height: int = 300) -> go.Figure:
    """L_equi per purification step (and its minimum), with the IoU with the clean mask on a
    second axis when recorded. ``traj``: list of SegPurificationStep."""
    steps = [s.step for s in traj]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=[float(s.loss[0]) for s in traj], name="L_equi (lower = more consistent)",
                             mode="lines+markers"), secondary_y=False)
    if loss_min is not None:
        fig.add_hline(y=loss_min, line=dict(dash="dot", color="grey"), annotation_text="perfectly equivariant")
    if traj and traj[0].iou_reference is not None:
        fig.add_trace(go.Scatter(x=steps, y=[float(s.iou_reference[0]) for s in traj],
                                 name="IoU with clean mask (right axis)", mode="lines+markers"), secondary_y=True)
        fig.update_yaxes(range=[0, 1.02], title_text="IoU", secondary_y=True, showgrid=False)
    fig.update_yaxes(title_text="L_equi", secondary_y=False)
    fig.update_layout(title="Purification steps", xaxis_title="step", height=height,
                      margin=dict(l=10, r=10, t=40, b=10), font=FONT, legend=dict(orientation="h", y=-0.25))
    return fig


def views_figure(diag, size_hw: tuple[int, int] | None = None, height: int = 240) -> go.Figure:
    """Row 1: each view's input g(x); row 2: its mask warped back by g⁻¹ onto the identity view.
    ``diag``: core.defenses.seg_equivariance.ViewDiagnostics."""
    panels = [(f"view: {n}", to_numpy_image(img)) for n, img in zip(diag.names, diag.view_images)]
    panels += [(f"{n}: mask warped back", mask_image(m, size_hw)) for n, m in zip(diag.names, diag.masks)]
    return image_grid(panels, rows=2, height=height)


def error_heatmaps(errors: Sequence[torch.Tensor], titles: Sequence[str], zmax: float | None = None,
                   height: int = 300) -> go.Figure:
    """Equivariance-error heatmaps side by side on a shared colour scale."""
    arrs = [_hw(e).numpy() for e in errors]
    top = zmax if zmax is not None else max(float(a.max()) for a in arrs) or 1.0
    fig = make_subplots(rows=1, cols=len(arrs), subplot_titles=[f"{t}<br>mean error {a.mean():.3f}" for t, a in zip(titles, arrs)],
                        horizontal_spacing=0.03)
    for i, a in enumerate(arrs):
        fig.add_trace(go.Heatmap(z=a, zmin=0, zmax=top, colorscale=ERROR_COLOURS, showscale=i == len(arrs) - 1,
                                 colorbar=dict(title="error")), row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=60, b=5), font=FONT)
    return fig


def target_preview(x: torch.Tensor, target: torch.Tensor, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The photo with the target mask painted in cyan."""
    return overlay(x, target, colour=TARGET_RGB, alpha=0.5, size_hw=size_hw)
