"""Figures for the segmentation page: mask overlays, flipped-pixel maps, attack and purification
trajectories, per-view back-warped masks and the equivariance-error heatmap (no Streamlit)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from PIL import Image
from plotly.colors import hex_to_rgb, qualitative, sample_colorscale, sequential, unlabel_rgb
from plotly.subplots import make_subplots

from core.viz.common import FONT, image_trace, to_numpy_image

MASK_RGB = (255, 40, 160)  # magenta: visible on skin, sky and clothes alike
TARGET_RGB = (40, 200, 255)
# Inferno as explicit rgb() stops: plotly.js draws its first stop "#000004" (as given by the named
# scale and plotly.colors) as a light colour, so zero error showed up pink in the app.
ERROR_COLOURS = [[i / (len(sequential.Inferno) - 1), "rgb({}, {}, {})".format(*hex_to_rgb(c))]
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
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
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
    return (_hw(other > 0.5).to(torch.int8) - _hw(reference > 0.5).to(torch.int8)).numpy()


FLIP_RGB = np.array([[214, 39, 40], [242, 242, 242], [44, 160, 44]], dtype=np.uint8)  # −1, 0, +1


def flipped_image(flipped: np.ndarray) -> np.ndarray:
    """A :func:`flipped_map` as an (h, w, 3) uint8 picture: red = stopped being person, light grey =
    unchanged, green = became person."""
    return FLIP_RGB[np.asarray(flipped, dtype=np.int64) + 1]


def flipped_figure(reference: torch.Tensor, others: Sequence[torch.Tensor], titles: Sequence[str],
                   height: int = 300) -> go.Figure:
    """Maps of flipped pixels: green = became person, red = stopped being person, grey = same.

    Each map goes to the browser as a three-colour PNG (a few KB) rather than a heatmap of every
    pixel's value (two 256×256 maps were 300 KB of figure data, the page's largest figure)."""
    fig = make_subplots(rows=1, cols=len(others), subplot_titles=list(titles), horizontal_spacing=0.03)
    for i, o in enumerate(others):
        f = flipped_map(reference, o)
        gained, lost = int((f > 0).sum()), int((f < 0).sum())
        fig.add_trace(image_trace(flipped_image(f), lossless=True, hovertemplate="x %{x}, y %{y}<extra></extra>"),
                      row=1, col=i + 1)
        fig.layout.annotations[i].text = f"{titles[i]} (+{gained} / −{lost} px)"
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
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


ERROR_LUT = np.array([unlabel_rgb(c) for c in sample_colorscale(ERROR_COLOURS, np.linspace(0, 1, 256).tolist())],
                     dtype=np.float64).round().astype(np.uint8)  # 256 colours of the error scale


def error_image(error: np.ndarray, top: float) -> np.ndarray:
    """An (h, w) error map in [0, ``top``] as an (h, w, 3) uint8 picture in ERROR_COLOURS (256 levels)."""
    q = np.clip(np.round(np.asarray(error, dtype=np.float64) / top * 255), 0, 255).astype(np.int64)
    return ERROR_LUT[q]


def error_heatmaps(errors: Sequence[torch.Tensor], titles: Sequence[str], zmax: float | None = None,
                   height: int = 300) -> go.Figure:
    """Equivariance-error maps side by side on a shared colour scale, with its colour bar.

    Each map is coloured here and sent as a PNG of 256 colour levels (what the eye can tell apart in
    a colour scale), so it goes at full resolution in a fraction of the bytes a heatmap of float
    values took (three 256×256 maps: 1.1 MB of figure data at full resolution, 290 KB pooled to
    128 px); the hover gives the position, the titles each map's mean error over every pixel."""
    arrs = [_hw(e).numpy() for e in errors]
    top = zmax if zmax is not None else max(float(a.max()) for a in arrs) or 1.0
    fig = make_subplots(rows=1, cols=len(arrs), subplot_titles=[f"{t}<br>mean error {a.mean():.3f}" for t, a in zip(titles, arrs)],
                        horizontal_spacing=0.03)
    for i, a in enumerate(arrs):
        fig.add_trace(image_trace(error_image(a, top), lossless=True, hovertemplate="x %{x}, y %{y}<extra></extra>"),
                      row=1, col=i + 1)
    # The colour bar: an empty scatter carrying the scale (an image trace has none).
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                             marker=dict(colorscale=ERROR_COLOURS, cmin=0, cmax=top, color=[0], showscale=True,
                                         colorbar=dict(title="error"))), row=1, col=len(arrs))
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=60, b=5), font=FONT)
    return fig


def target_preview(x: torch.Tensor, target: torch.Tensor, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The photo with the target mask painted in cyan."""
    return overlay(x, target, colour=TARGET_RGB, alpha=0.5, size_hw=size_hw)


# --------------------------------------------------------------------------- multi-class maps
# One colour per class, the same on every panel: background dark grey, then ten well-separated
# colours (Okabe–Ito and Tableau hues); further classes (user models) cycle through plotly's
# 26-colour Alphabet palette.
BASE_PALETTE = ["#3a3a3a", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
                "#ffffff", "#8c564b", "#17becf"]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def class_colours(n: int) -> list[str]:
    """``n`` hex colours (see ``BASE_PALETTE``)."""
    extra = list(qualitative.Alphabet)
    return [BASE_PALETTE[i] if i < len(BASE_PALETTE) else extra[(i - len(BASE_PALETTE)) % len(extra)]
            for i in range(n)]


def label_image(labels: torch.Tensor, colours: Sequence[str], size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A label map (…, h, w) as an RGB image (H, W, 3) uint8 in the class colours (nearest resize)."""
    lab = _hw(labels).long().numpy()
    lut = np.asarray([_rgb(c) for c in colours], dtype=np.uint8)
    img = lut[np.clip(lab, 0, len(lut) - 1)]
    if size_hw is not None and tuple(img.shape[:2]) != tuple(size_hw):
        img = np.asarray(Image.fromarray(img).resize((size_hw[1], size_hw[0]), Image.Resampling.NEAREST))
    return img


def label_overlay(x: torch.Tensor, labels: torch.Tensor, colours: Sequence[str], alpha: float = 0.6,
                  background: int | None = 0, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The photo with each pixel's class colour painted over it (``background`` left unpainted)."""
    img = to_numpy_image(x).astype(np.float32)
    lab = _hw(labels).long()
    if tuple(lab.shape) != tuple(img.shape[:2]):
        lab = F.interpolate(lab[None, None].float(), size=img.shape[:2], mode="nearest")[0, 0].long()
    col = label_image(lab, colours).astype(np.float32)
    a = np.full(img.shape[:2], alpha, dtype=np.float32)
    if background is not None:
        a[lab.numpy() == background] = 0.0
    out = img * (1 - a[..., None]) + col * a[..., None]
    return resize_for_display(out.round().astype(np.uint8), size_hw)


def legend_traces(fig: go.Figure, names: Sequence[str], colours: Sequence[str], present: Sequence[int]) -> None:
    """Add one legend entry per class in ``present`` (invisible points in the class colour)."""
    for c in present:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=names[c], showlegend=True,
                                 marker=dict(color=colours[c], size=12, symbol="square",
                                             line=dict(color="#888", width=1))))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.02, yanchor="top", x=0, font=dict(size=12)))


def label_grid(panels: Sequence[tuple[str, np.ndarray]], names: Sequence[str], colours: Sequence[str],
               present: Sequence[int], rows: int = 1, height: int = 300) -> go.Figure:
    """Image panels with one class legend under them (the same colours on every panel)."""
    fig = image_grid(panels, rows=rows, height=height)
    legend_traces(fig, names, colours, present)
    fig.update_layout(height=height * rows + 30 + 22 * (len(present) // 6), margin=dict(l=5, r=5, t=40, b=5))
    return fig


def iou_change_figure(rows: Sequence[dict], height: int = 320) -> go.Figure:
    """Per class: IoU clean / attacked (/ defended) as grouped bars (``rows`` from
    ``core.evaluation.dense.page.DenseExperiment.rows``)."""
    fig = go.Figure()
    names = [r["class"] for r in rows]
    series = [("IoU clean", "#4c78a8"), ("IoU attacked", "#e45756"), ("IoU defended", "#54a24b")]
    for key, colour in series:
        if rows and key in rows[0]:
            vals = [r[key] for r in rows]
            # The values are in the hover and in the per-class table under the chart: written on the bars,
            # three per class at this width, plotly shrank them below legibility.
            fig.add_trace(go.Bar(x=names, y=[v if v is not None else 0 for v in vals], name=key.replace("IoU ", ""),
                                 marker_color=colour, customdata=["—" if v is None else f"{v:.3f}" for v in vals],
                                 hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>"))
    # The legend sits under the title, not beside it (at the page's width it ran over the title).
    fig.update_layout(barmode="group", title=dict(text="IoU per class (against the reference)", y=0.97, yanchor="top"),
                      yaxis=dict(range=[0, 1.02]), height=height, margin=dict(l=10, r=10, t=70, b=10), font=FONT,
                      legend=dict(orientation="h", y=1.0, x=0, xanchor="left", yanchor="bottom"))
    return fig


def moved_figure(matrix: torch.Tensor, names: Sequence[str], title: str = "Which class moved where",
                 to_label: str = "attacked prediction", height: int = 420) -> go.Figure:
    """Pixel confusion matrix clean prediction (rows) → ``to_label`` (columns) as a heatmap; the
    colour is log10(1 + pixels), the hover the count and the row share. Classes that occur in
    neither prediction are left out."""
    m = matrix.detach().cpu().long()
    keep = [i for i in range(m.shape[0]) if int(m[i].sum()) or int(m[:, i].sum())]
    sub = m[keep][:, keep].numpy()
    labels = [names[i] for i in keep]
    share = sub / np.maximum(sub.sum(1, keepdims=True), 1)
    text = [[f"{int(v)}" if v else "" for v in row] for row in sub]
    custom = np.dstack([sub, share * 100])
    fig = go.Figure(go.Heatmap(z=np.log10(1 + sub), x=labels, y=labels, colorscale="Blues", showscale=False,
                               text=text, texttemplate="%{text}", customdata=custom,
                               hovertemplate="clean: %{y}<br>" + to_label.split()[0]
                               + ": %{x}<br>%{customdata[0]} px (%{customdata[1]:.1f} % of the row)<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="clean prediction")
    fig.update_xaxes(title_text=to_label, tickangle=-35)
    moved = int(sub.sum() - np.trace(sub))
    fig.update_layout(title=f"{title}: {moved} of {int(sub.sum())} pixels changed class", height=height,
                      margin=dict(l=10, r=10, t=40, b=10), font=FONT)
    return fig


def dense_trajectory_figure(traj, height: int = 300) -> go.Figure:
    """mIoU and pixel accuracy per step (first image), target pixels when targeted, objective on a
    second axis. ``traj``: list of ``core.attacks.dense.common.DenseStep``."""
    steps = [s.step for s in traj]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=[float(s.miou[0]) for s in traj], name="mIoU", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=steps, y=[float(s.pixel_acc[0]) for s in traj], name="pixel accuracy",
                             mode="lines+markers"))
    if traj and traj[0].target_reached is not None:
        fig.add_trace(go.Scatter(x=steps, y=[float(s.target_reached[0]) for s in traj], name="target pixels reached",
                                 mode="lines+markers"))
    fig.add_trace(go.Scatter(x=steps, y=[float(s.loss[0]) for s in traj], name="objective (right axis)", mode="lines",
                             line=dict(dash="dot", color="grey")), secondary_y=True)
    fig.update_yaxes(range=[0, 1.02], title_text="share", secondary_y=False)
    fig.update_yaxes(title_text="objective", secondary_y=True, showgrid=False)
    fig.update_layout(title="Attack steps", xaxis_title="step (query for Square)", height=height,
                      margin=dict(l=10, r=10, t=40, b=10), font=FONT, legend=dict(orientation="h", y=-0.25))
    return fig
