"""A small vision transformer for the Fashion-MNIST zoo, with 1 or 4 attention heads at the same
parameter count.

Architecture: Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
Recognition at Scale", ICLR 2021, with pre-norm blocks. The claim it is here to check comes from
the TrustAI ``ODE4RobustViT`` work (an ODE view of self-attention: ViT is Lipschitz; multi-head
self-attention helps under weak attacks such as FGSM and hurts under strong ones such as PGD),
whose released logs differ by about ±3 points with one training seed per setting — so the zoo
trains three seeds of each head count.

Defaults (sized for the zoo's CPU budget): patches of 4×4 on the 28×28 grey image → 49 tokens
(a linear patch embedding, written as a stride-4 conv), width 64, depth 4, MLP ratio 2 (hidden
128, GELU), a learned position embedding, **mean pooling** over the tokens (no class token),
a final LayerNorm and a linear head; no dropout. Each block: x ← x + MHSA(LN(x)),
x ← x + MLP(LN(x)). Attention is ``torch.nn.MultiheadAttention``: its parameters are the
(3d × d) input projection, its 3d bias and the (d × d) output projection with its bias, whatever
the number of heads (the heads split the d = 64 dimensions: 1 head of 64 or 4 heads of 16), so
``heads`` = 1 and 4 have exactly the same parameter count (138,890; checked in
tests/models/test_zoo_arch.py) and the same cost in multiply-adds except the per-head softmax.
Deviations from the paper's ViTs: much smaller (the paper's ViT-B has width 768, depth 12,
patches of 16 on 224×224), MLP ratio 2 instead of 4, mean pooling instead of the class token.

The wrapper is :class:`core.models.zoo.net.ZooClassifier` ([0, 1] input, (N, 1 or 3, 28, 28),
normalised inside). A ViT has **no convolutional pre-pool map**: ``stage_names`` is empty and
``forward_features`` refuses, so the zoo's channel views are not offered (the family's
``offers``); input-gradient saliency works as for every differentiable model.
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.zoo.net import ZooClassifier

PATCH = 4
WIDTH = 64
DEPTH = 4
MLP_RATIO = 2
IMAGE = 28


class Block(nn.Module):
    """Pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """Patch embedding, position embedding, ``depth`` pre-norm blocks, LN, mean pooling, linear.
    Input: normalised (N, 1, 28, 28)."""

    def __init__(self, heads: int = 1, width: int = WIDTH, depth: int = DEPTH, patch: int = PATCH,
                 mlp_ratio: int = MLP_RATIO, num_classes: int = 10) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        if IMAGE % patch:
            raise ValueError(f"patch {patch} does not tile a {IMAGE}×{IMAGE} image")
        tokens = (IMAGE // patch) ** 2
        self.config = {"heads": heads, "width": width, "depth": depth, "patch": patch, "tokens": tokens,
                       "mlp_ratio": mlp_ratio, "pooling": "mean over tokens", "norm": "pre-norm"}
        self.embed = nn.Conv2d(1, width, patch, patch)
        self.pos = nn.Parameter(torch.zeros(1, tokens, width))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.ln = nn.LayerNorm(width)
        self.fc = nn.Linear(width, num_classes)

    @property
    def stage_names(self) -> list[str]:
        return []

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The final tokens after the last LayerNorm, (N, 49, width)."""
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            h = blk(h)
        return self.ln(h)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """(logits, no probe logits, the final tokens) — the recipes' interface."""
        t = self.tokens(x)
        return self.fc(t.mean(1)), [], {"tokens": t}

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()):
        raise RuntimeError("a ViT has no convolutional feature map before its pooling (no channel views)")

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("a ViT has no convolutional feature map before its pooling (no channel views)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(self.tokens(x).mean(1))


def build_vit(name: str = "", heads: int = 1, width: int = WIDTH, depth: int = DEPTH) -> ZooClassifier:
    """A freshly initialised ViT on [0, 1] input (``torch.manual_seed`` before for a fixed init)."""
    return ZooClassifier(ViT(heads, width, depth), name=name)
