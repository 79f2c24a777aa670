"""Figures and image helpers every page uses: top-k bars, heatmaps, perturbation pictures."""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from plotly.colors import sequential

FONT = dict(size=13)


def error_y(values: list[float | None], lo: list[float | None], hi: list[float | None], scale: float = 1.0,
            color: str | None = None) -> dict:
    """Plotly ``error_y`` for asymmetric intervals (e.g. exact 95 % intervals of accuracies,
    :mod:`core.judging.stats`): ``array`` = hi − value, ``arrayminus`` = value − lo (0 where unknown)."""
    up = [0.0 if v is None or h is None else scale * (h - v) for v, h in zip(values, hi)]
    down = [0.0 if v is None or lo_ is None else scale * (v - lo_) for v, lo_ in zip(values, lo)]
    out = dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=1.2, width=4)
    if color:
        out["color"] = color
    return out


def title_layout(fig: go.Figure, title: str | None) -> dict:
    """``title`` and top ``margin`` for a figure that may also carry subplot titles.

    Subplot titles sit just above their plots, inside the top margin; a chart title in the same
    40–50 px ran over them. With subplot titles the chart title goes to the top of the figure and
    the margin leaves one line for each (title 17 px + subplot titles 16 px + padding)."""
    subtitles = any(a.yanchor == "bottom" and a.showarrow is False and a.yref == "paper" for a in fig.layout.annotations)
    if not title:
        return dict(title=None, margin=dict(t=36 if subtitles else 10))
    if not subtitles:
        return dict(title=title, margin=dict(t=50))
    return dict(title=dict(text=title, y=1, yref="container", yanchor="top", pad=dict(t=8)), margin=dict(t=76))


def explicit_scale(name: str) -> list[list]:
    """A plotly sequential colour scale as explicit ``rgb()`` stops.

    plotly.js misreads the 7-digit-looking first stop of some named scales (Inferno's "#000004")
    and draws zero as a light colour; explicit rgb() stops avoid it.
    """
    colours = getattr(sequential, name)
    out = []
    for i, c in enumerate(colours):
        rgb = c if c.startswith("rgb") else "rgb({}, {}, {})".format(*(int(c[k:k + 2], 16) for k in (1, 3, 5)))
        out.append([i / (len(colours) - 1), rgb])
    return out


def image_trace(img: np.ndarray, lossless: bool = False, **kw) -> go.Image:
    """A plotly image trace for an (H, W, 3) uint8 image, sent as an embedded JPEG (quality 92) or,
    for small images, PNG instead of a JSON array of every pixel: a 224×224 photo is ~20 KB
    instead of ~200 KB of figure data, which is what made the image-heavy pages slow to draw.
    ``lossless``: always PNG (maps of a few flat colours, which JPEG would smear and PNG packs
    into a few KB). Pixel coordinates are those of ``go.Image(z=img)`` (0…W−1, 0…H−1)."""
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    buf = io.BytesIO()
    small = lossless or arr.shape[0] * arr.shape[1] <= 64 * 64
    Image.fromarray(arr).save(buf, "PNG" if small else "JPEG", **({} if small else {"quality": 92}))
    mime = "png" if small else "jpeg"
    return go.Image(source=f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii"), **kw)


def to_numpy_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> (H, W, 3) uint8 array."""
    if x.dim() == 4:
        x = x[0]
    return (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def amplified_perturbation(delta: torch.Tensor) -> np.ndarray:
    """δ made visible: 0.5 + δ / (2·max|δ|), so the largest change spans the whole range."""
    m = float(delta.abs().max())
    if m == 0:
        return to_numpy_image(torch.full_like(delta, 0.5))
    return to_numpy_image(0.5 + delta / (2 * m))


def side_by_side(*images: np.ndarray, gap: int = 8, fill: int = 255) -> np.ndarray:
    """(H, W, 3) uint8 pictures of one height placed left to right, ``gap`` pixels of ``fill`` apart:
    one picture to send instead of several (the Attack Lab's live frames)."""
    if not images:
        raise ValueError("side_by_side needs at least one picture")
    h = images[0].shape[0]
    if any(im.shape[0] != h or im.ndim != 3 for im in images):
        raise ValueError("side_by_side needs (H, W, 3) pictures of the same height")
    spacer = np.full((h, gap, images[0].shape[2]), fill, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, im in enumerate(images):
        parts += ([spacer] if i else []) + [im.astype(np.uint8, copy=False)]
    return np.concatenate(parts, axis=1)


def topk_bar(names: list[str], probs: list[float], title: str = "", highlight: str | None = None,
             height: int = 260) -> go.Figure:
    """Horizontal bars of top-k probabilities, highest on top; ``highlight`` colours one class."""
    colours = ["#d62728" if n == highlight else "#1f77b4" for n in names]
    fig = go.Figure(go.Bar(x=probs[::-1], y=[f"{n} " for n in names[::-1]], orientation="h",
                           marker_color=colours[::-1], text=[f"{p:.1%}" for p in probs[::-1]],
                           textposition="auto"))
    fig.update_layout(title=title, xaxis=dict(range=[0, 1], tickformat=".0%"), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT)
    return fig


def heatmap(arr: np.ndarray | torch.Tensor, title: str = "", colorscale: str = "Inferno",
            zmin: float | None = None, zmax: float | None = None, colorbar_title: str = "",
            height: int = 320) -> go.Figure:
    """A square-pixel heatmap of a 2-D array (image orientation: row 0 at the top)."""
    # float32: plotly sends arrays as base64 typed arrays, so float64 doubles the websocket payload
    # (a 224×224 map is 0.68 MB as float64) for digits no colour scale shows.
    a = arr.detach().float().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr, dtype=np.float32)
    a = a.astype(np.float32, copy=False)
    if isinstance(colorscale, str) and colorscale[:1].isupper():
        colorscale = explicit_scale(colorscale)
    fig = go.Figure(go.Heatmap(z=a, colorscale=colorscale, zmin=zmin, zmax=zmax,
                               colorbar=dict(title=colorbar_title)))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT)
    return fig
