"""Target masks for targeted segmentation attacks: erase, simple shapes, another image's mask.

Every generator returns a float tensor (H, W) with values in {0, 1}; 1 = "person" (or object).
Shapes are placed by their centre (cy, cx) as fractions of the height and width and sized by
``size``, a fraction of the shorter side (the shape's extent is about ``size`` · min(H, W)).
Pixels are "in" when their centre lies inside the shape, so results are exact and reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Shape = Callable[..., torch.Tensor]


def _grid(h: int, w: int, cy: float, cx: float, size: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates relative to the shape centre, in units of the half-extent
    (so the shape's bounding box is roughly [-1, 1]²); y grows downwards."""
    if h < 1 or w < 1:
        raise ValueError(f"mask size must be positive, got {h}×{w}")
    if not 0 < size <= 4:
        raise ValueError(f"size must be in (0, 4], got {size}")
    half = size * min(h, w) / 2
    ys = (torch.arange(h, dtype=torch.float64) + 0.5 - cy * h) / half
    xs = (torch.arange(w, dtype=torch.float64) + 0.5 - cx * w) / half
    return ys.view(-1, 1).expand(h, w), xs.view(1, -1).expand(h, w)


def erase(h: int, w: int, **_: float) -> torch.Tensor:
    """The all-zero mask: make the person vanish."""
    return torch.zeros(h, w)


def fill(h: int, w: int, **_: float) -> torch.Tensor:
    """The all-one mask: everything is "person"."""
    return torch.ones(h, w)


def circle(h: int, w: int, cy: float = 0.5, cx: float = 0.5, size: float = 0.5) -> torch.Tensor:
    """A disc of diameter ``size`` · min(H, W)."""
    y, x = _grid(h, w, cy, cx, size)
    return (x * x + y * y <= 1.0).float()


def square(h: int, w: int, cy: float = 0.5, cx: float = 0.5, size: float = 0.5) -> torch.Tensor:
    """An axis-aligned square of side ``size`` · min(H, W)."""
    y, x = _grid(h, w, cy, cx, size)
    return ((x.abs() <= 1.0) & (y.abs() <= 1.0)).float()


def star(h: int, w: int, cy: float = 0.5, cx: float = 0.5, size: float = 0.5,
         points: int = 5, inner: float = 0.45) -> torch.Tensor:
    """A regular star with ``points`` tips (one pointing up), tips on the unit circle and the
    inner vertices at radius ``inner``: a pixel is in when its radius is below the star's
    boundary at that angle (linear between a tip and the neighbouring inner vertex)."""
    y, x = _grid(h, w, cy, cx, size)
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan2(x, -y)  # 0 = up, clockwise
    sector = 2 * math.pi / points
    # Angle from the nearest tip, in [0, sector/2].
    a = torch.remainder(theta, sector)
    a = torch.minimum(a, sector - a)
    # Boundary: the straight edge from the tip (1, 0) to the inner vertex (inner, sector/2),
    # in polar form r(a) = d / cos(a - phi) for the line's normal (phi, d).
    tip = torch.tensor([1.0, 0.0], dtype=torch.float64)
    inn = torch.tensor([inner * math.cos(sector / 2), inner * math.sin(sector / 2)], dtype=torch.float64)
    edge = inn - tip
    normal = torch.tensor([edge[1], -edge[0]], dtype=torch.float64)
    normal = normal / normal.norm()
    d = float(normal @ tip)
    if d < 0:
        normal, d = -normal, -d
    phi = math.atan2(float(normal[1]), float(normal[0]))
    boundary = d / torch.cos(a - phi)
    return (r <= boundary).float()


def heart(h: int, w: int, cy: float = 0.5, cx: float = 0.5, size: float = 0.5) -> torch.Tensor:
    """A heart: the implicit curve (x² + y² − 1)³ − x² y³ ≤ 0 (y up), scaled to fit the box."""
    y, x = _grid(h, w, cy, cx, size)
    X, Y = x * 1.25, -y * 1.25 + 0.15  # the curve spans about [-1.14, 1.14] × [-1, 1.25]
    return ((X * X + Y * Y - 1) ** 3 - X * X * Y ** 3 <= 0).float()


SHAPES: dict[str, Shape] = {
    "erase": erase,
    "circle": circle,
    "square": square,
    "star": star,
    "heart": heart,
    "fill": fill,
}


def shape_mask(name: str, h: int, w: int, *, cy: float = 0.5, cx: float = 0.5,
               size: float = 0.5) -> torch.Tensor:
    """The named shape (a key of :data:`SHAPES`) as an (H, W) {0, 1} mask."""
    try:
        fn = SHAPES[name]
    except KeyError:
        raise KeyError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}") from None
    return fn(h, w, cy=cy, cx=cx, size=size)


def mask_of_image(model: torch.nn.Module, x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Another image's mask as a target: the binary mask the model predicts for ``x``
    (N, 3, H, W), at the model's output resolution, (N, 1, h, w)."""
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        return (model(x.to(dev)) > threshold).float().cpu()


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A {0, 1} mask (…, h, w) resized to ``size`` (bilinear, then thresholded at 0.5)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask.float()
    m = mask.float()
    lead = m.shape[:-2]
    m = m.reshape(-1, 1, *m.shape[-2:])
    m = F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False)
    return (m >= 0.5).float().reshape(*lead, *size)
