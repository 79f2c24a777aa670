"""Tiny hand-made models with known gradients, for the tests of core/explain (not a test file)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LinearImageModel(nn.Module):
    """z = W · vec(x) + b on (N, C, H, W) input: every input gradient is a row of W."""

    def __init__(self, c: int = 3, h: int = 8, w: int = 8, k: int = 4, seed: int = 0,
                 weight: torch.Tensor | None = None) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        wt = weight if weight is not None else torch.randn(k, c, h, w, generator=g)
        self.weight = nn.Parameter(wt.clone(), requires_grad=False)  # (K, C, H, W)
        self.bias = nn.Parameter(torch.randn(wt.shape[0], generator=g), requires_grad=False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.einsum("nchw,kchw->nk", x, self.weight) + self.bias


class RegionModel(nn.Module):
    """Logits that depend only on the pixels x[:, :, r0:r1, c0:c1]."""

    def __init__(self, rows: tuple[int, int], cols: tuple[int, int], c: int = 3, k: int = 5, seed: int = 0) -> None:
        super().__init__()
        self.rows, self.cols = rows, cols
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(c * (rows[1] - rows[0]) * (cols[1] - cols[0]), k)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(self.lin.weight.shape, generator=g))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        r, c = self.rows, self.cols
        return torch.tanh(self.lin(x[:, :, r[0]:r[1], c[0]:c[1]].flatten(1)))


class TinyNet(nn.Module):
    """A three-stage CNN with the ImageClassifier interface (``stage_names``,
    ``forward_features``, ``forward_head``, ``classifier_weight``) and smooth activations, so
    that finite differences are accurate. ``forward_from(stage, a)`` continues the forward pass
    from a (possibly modified) stage output: an independent route for finite differences."""

    stage_names = ["stage1", "stage2", "head"]

    def __init__(self, k: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(6, 5, 1)
        self.fc = nn.Linear(5, k)
        self.double()
        self.requires_grad_(False)
        self.eval()

    def _s1(self, x):
        return torch.tanh(self.conv1(x))

    def _s2(self, a):
        return F.softplus(self.conv2(a))

    def _head(self, a):
        return F.softplus(self.conv3(a)) * 1.5

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()):  # noqa: D102
        out = {}
        h1 = self._s1(x)
        if "stage1" in keep:
            out["stage1"] = h1
        h2 = self._s2(h1)
        if "stage2" in keep:
            out["stage2"] = h2
        h3 = self._head(h2)
        if "head" in keep:
            out["head"] = h3
        return h3, out

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_head(self.forward_features(x)[0])

    def forward_from(self, stage: str, a: torch.Tensor) -> torch.Tensor:
        """Logits computed from a given output of ``stage``."""
        if stage == "stage1":
            a = self._s2(a)
        if stage in ("stage1", "stage2"):
            a = self._head(a)
        return self.forward_head(a)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.fc.weight


def no_hooks_left(model: nn.Module) -> bool:
    """True when no module of ``model`` carries a forward, pre-forward or backward hook."""
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                    or getattr(m, "_full_backward_hooks", None))
               for m in model.modules())
