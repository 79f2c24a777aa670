"""Views and inverse warps for equivariance defenses, for classifiers and dense (segmentation)
outputs alike.

After *Robust Perception through Equivariance* (Mao, Zhang, Joshi, Yang, Wang, Vondrick,
ICML 2023; ``cvlab-columbia/Equi4Rob``, ``Equi_Set_Defense_good_inloop``): each view is a
spatial and/or photometric transform g of the input; a dense map computed on g(x) (a feature map,
a logit map, a mask) is brought back to the identity view's geometry by g⁻¹, so that maps from
different views can be compared position by position.

How to use it (any dense model)::

    gen = torch.Generator().manual_seed(0)
    views = sample_views(("hflip", "resize0.75", "rotate10"), gen)   # identity first
    for v in views:
        y = dense_model(v.apply(x))                  # (N, C, h', w'), any resolution
        y_back = v.invert(y, out_hw)                 # (N, C, *out_hw) in identity geometry
        m = v.valid_mask(x.shape[-2:], y.shape[-2:], out_hw, x.device)  # (1, 1, *out_hw)

A view is applied in the order colour → resize (with aspect jitter) → horizontal flip →
rotation, and inverted in the reverse order (un-rotate at the map's own resolution, un-flip,
resize to ``out_hw``). Every operation is differentiable (bilinear resampling, affine grids),
so gradients reach the input of ``apply``. Views are drawn once per batch (all images share
the parameters), from a ``torch.Generator``, so a seed reproduces them.

Deviations from the reference code, stated here once:

* Hue jitter is a rotation of the chroma plane in YIQ space (linear, differentiable), not
  torchvision's HSV round trip, which does not support autograd.
* The paper draws fresh parameters at every purification step; callers do that by calling
  :func:`sample_views` again.
* Rotation is an affine grid with zero padding; :meth:`View.valid_mask` gives the positions
  of the identity geometry that saw image content in the view (a warped all-ones image), so
  the zero border can be excluded from losses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Sequence

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ColorParams:
    """Colour-jitter factors (torchvision's ColorJitter semantics) and random grayscale."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0  # fraction of a full turn, in [-0.5, 0.5]
    grayscale: bool = False


@dataclass(frozen=True)
class View:
    """One transform g and its inverse. ``scale`` = (sy, sx) resize factors (1, 1 = none)."""

    name: str = "identity"
    scale: tuple[float, float] = (1.0, 1.0)
    flip: bool = False
    angle: float = 0.0  # degrees, clockwise on screen (rows grow downwards)
    color: ColorParams | None = None

    @property
    def is_identity(self) -> bool:
        return self.scale == (1.0, 1.0) and not self.flip and self.angle == 0.0 and self.color is None

    @property
    def is_spatial(self) -> bool:
        return self.scale != (1.0, 1.0) or self.flip or self.angle != 0.0

    def out_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        """Size of the transformed image for an input of size ``hw``."""
        h, w = hw
        return max(8, round(h * self.scale[0])), max(8, round(w * self.scale[1]))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """g(x) for a batch (N, C, H, W) in [0, 1]."""
        if self.color is not None:
            x = color_jitter(x, self.color)
        if self.scale != (1.0, 1.0):
            x = F.interpolate(x, size=self.out_size(tuple(x.shape[-2:])), mode="bilinear", align_corners=False)
        if self.flip:
            x = x.flip(-1)
        if self.angle:
            x = rotate(x, self.angle)
        return x

    def invert(self, y: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
        """g⁻¹ for a dense map (N, C, h', w') computed on g(x): the map in the identity view's
        geometry, resized to ``out_hw`` (the identity view's map size)."""
        if self.angle:
            y = rotate(y, -self.angle)
        if self.flip:
            y = y.flip(-1)
        if tuple(y.shape[-2:]) != tuple(out_hw):
            y = F.interpolate(y, size=tuple(out_hw), mode="bilinear", align_corners=False)
        return y

    def valid_mask(self, in_hw: tuple[int, int], map_hw: tuple[int, int], out_hw: tuple[int, int],
                   device: torch.device | str = "cpu", threshold: float = 0.99) -> torch.Tensor:
        """(1, 1, *out_hw) mask, 1 where the identity geometry saw image content in this view.

        A warped all-ones image: ones at the input size ``in_hw`` go through the geometry of
        the view, are resized to the view's map size ``map_hw``, and come back by
        :meth:`invert`; positions below ``threshold`` (touched by the zero padding of a
        rotation) are excluded. For views without rotation the mask is all ones.
        """
        if not self.angle:
            return torch.ones(1, 1, *out_hw, device=device)
        ones = torch.ones(1, 1, *in_hw, device=device)
        geo = View(name=self.name, scale=self.scale, flip=self.flip, angle=self.angle)
        warped = geo.apply(ones)
        warped = F.interpolate(warped, size=tuple(map_hw), mode="bilinear", align_corners=False)
        back = self.invert(warped, out_hw)
        return (back >= threshold).to(back.dtype)


# --- operations ------------------------------------------------------------------------

def rotate(x: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate a batch by ``angle_deg`` (clockwise on screen) about its centre with an
    affine grid, bilinear, zero padding. Non-square maps are rotated in pixel units."""
    n, _, h, w = x.shape
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    # affine_grid works in normalised coordinates; scale the off-diagonal terms so the
    # rotation is a rotation in pixels when h != w.
    theta = torch.tensor([[c, s * h / w, 0.0], [-s * w / h, c, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.unsqueeze(0).expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


_GRAY = (0.299, 0.587, 0.114)


def _gray(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b


def _hue_rotate(x: torch.Tensor, hue: float) -> torch.Tensor:
    """Rotate the chroma (I, Q) plane of YIQ by 2π·hue: a linear, differentiable hue shift."""
    rgb2yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq2rgb = torch.linalg.inv(rgb2yiq)
    a = 2 * math.pi * hue
    rot = x.new_tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    m = yiq2rgb @ rot @ rgb2yiq
    return torch.einsum("ij,njhw->nihw", m, x)


def color_jitter(x: torch.Tensor, p: ColorParams) -> torch.Tensor:
    """Brightness, contrast, saturation, hue (fixed order), then optional grayscale; clipped."""
    if p.brightness != 1.0:
        x = (x * p.brightness).clamp(0, 1)
    if p.contrast != 1.0:
        m = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - m) * p.contrast + m).clamp(0, 1)
    if p.saturation != 1.0:
        g = _gray(x)
        x = ((x - g) * p.saturation + g).clamp(0, 1)
    if p.hue != 0.0:
        x = _hue_rotate(x, p.hue).clamp(0, 1)
    if p.grayscale:
        x = _gray(x).expand_as(x)
    return x


# --- recipes: named random views -------------------------------------------------------

def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


@dataclass(frozen=True)
class ViewRecipe:
    """How to draw one random view: resize factor (with aspect jitter r ~ U(jitter) applied to
    the width), flip, rotation range, colour jitter."""

    scale: float = 1.0
    jitter: tuple[float, float] | None = None
    flip: bool = False
    max_angle: float = 0.0
    color: bool = False
    description: str = ""

    def sample(self, name: str, gen: torch.Generator) -> View:
        sy = sx = self.scale
        if self.jitter is not None:
            sx = self.scale * _u(gen, *self.jitter)
        angle = _u(gen, -self.max_angle, self.max_angle) if self.max_angle else 0.0
        color = None
        if self.color:
            # ColorJitter(0.8, 0.8, 0.8, 0.2) and RandomGrayscale(p=0.2), as in the paper's code.
            color = ColorParams(brightness=_u(gen, 0.2, 1.8), contrast=_u(gen, 0.2, 1.8),
                                saturation=_u(gen, 0.2, 1.8), hue=_u(gen, -0.2, 0.2),
                                grayscale=float(torch.rand((), generator=gen)) < 0.2)
        return View(name=name, scale=(sy, sx), flip=self.flip, angle=angle, color=color)


ASPECT = (0.8, 1.2)
VIEW_RECIPES: dict[str, ViewRecipe] = {
    # CPU defaults (docs/ALGORITHMS.md): flip, x0.75 resize, ±10° rotation.
    "hflip": ViewRecipe(flip=True, description="horizontal flip"),
    "resize0.75": ViewRecipe(scale=0.75, jitter=ASPECT, description="resize x0.75, aspect jitter 0.8-1.2"),
    "rotate10": ViewRecipe(max_angle=10.0, description="rotation by U(-10°, 10°)"),
    # The paper's eight views (Equi_Set_Defense_good_inloop).
    "resize2": ViewRecipe(scale=2.0, jitter=ASPECT, description="resize x2, aspect jitter 0.8-1.2"),
    "resize0.3": ViewRecipe(scale=0.3, jitter=ASPECT, description="resize x0.3, aspect jitter 0.8-1.2"),
    "resize0.5": ViewRecipe(scale=0.5, description="resize x0.5"),
    "rotate15": ViewRecipe(max_angle=15.0, description="rotation by U(-15°, 15°)"),
    "color": ViewRecipe(color=True, jitter=ASPECT, description="colour jitter 0.8/0.8/0.8/0.2, grayscale p=0.2, aspect jitter"),
    "aspect_flip": ViewRecipe(jitter=ASPECT, flip=True, description="aspect jitter then horizontal flip"),
}
CPU_VIEWS: tuple[str, ...] = ("hflip", "resize0.75", "rotate10")
PAPER_VIEWS: tuple[str, ...] = ("resize2", "resize0.3", "resize2", "resize0.5", "rotate15", "rotate15",
                                "color", "aspect_flip")


def sample_views(recipes: Sequence[str], gen: torch.Generator, include_identity: bool = True) -> list[View]:
    """Draw one view per recipe name (see ``VIEW_RECIPES``); the identity view comes first."""
    views = [View()] if include_identity else []
    for r in recipes:
        try:
            recipe = VIEW_RECIPES[r]
        except KeyError:
            raise KeyError(f"unknown view {r!r}; known: {', '.join(VIEW_RECIPES)}") from None
        views.append(recipe.sample(r, gen))
    return views


def group_by_size(views: Sequence[View], hw: tuple[int, int]) -> dict[tuple[int, int], list[int]]:
    """Indices of views grouped by the size of their transformed image (so that views of one
    size can share a batched forward pass)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, v in enumerate(views):
        groups.setdefault(v.out_size(hw), []).append(i)
    return groups


def dense_views(fn, x: torch.Tensor, views: Sequence[View], out_hw: tuple[int, int] | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run a dense function ``fn(images) -> (N, C, h, w)`` on every view of ``x`` and bring
    each map back to the identity geometry.

    Views that produce images of equal size are batched into one call of ``fn``. Returns the
    back-warped maps (one (N, C, *out_hw) tensor per view, in the order of ``views``) and the
    combined valid mask (1, 1, *out_hw): the product of every view's mask. ``out_hw`` defaults
    to the map size of the first view (normally the identity).
    """
    hw = tuple(x.shape[-2:])
    n = x.shape[0]
    raw: list[torch.Tensor | None] = [None] * len(views)
    for size, idx in group_by_size(views, hw).items():
        batch = torch.cat([views[i].apply(x) for i in idx], dim=0)
        y = fn(batch)
        for j, i in enumerate(idx):
            raw[i] = y[j * n:(j + 1) * n]
    if out_hw is None:
        out_hw = tuple(raw[0].shape[-2:])
    back, mask = [], torch.ones(1, 1, *out_hw, device=x.device, dtype=x.dtype)
    for v, y in zip(views, raw):
        back.append(v.invert(y, out_hw))
        if v.angle:
            mask = mask * v.valid_mask(hw, tuple(y.shape[-2:]), out_hw, x.device).to(x.dtype)
    return back, mask
