"""Smooth-Reduce on frame sequences (Joshi, Pham, Cho, Boytsov, Condessa, Kolter, Hegde,
"Smooth-Reduce: Leveraging Patches for Improved Certified Robustness", arXiv 2205.06154;
``NYU-DICE-Lab/SmoothReduce``: ``VideoPatchSmooth`` in ``smoothadv/patch_model.py``,
``infer_certify_video.py``), certified with Cohen, Rosenfeld, Kolter's CERTIFY ("Certified
Adversarial Robustness via Randomized Smoothing", ICML 2019, arXiv 1902.02918). The image
version is :mod:`core.defenses.smoothing`; its CERTIFY and Clopper–Pearson code is reused here.

A sequence x (1, T, 1, H, W) is cut into **sub-sequences** of ``length`` frames with ``stride``
(``unfold`` over the frame axis, as the paper's ``get_subvideos``): K = ⌊(T − length)/stride⌋ + 1
of them; frame t lies in m_t of them. f is the sequence classifier (mean of chunk logits,
:mod:`core.models.sequence_net`). Three smoothed classifiers, all certified by CERTIFY
(ĉ_A from n0 votes, p̲_A the one-sided Clopper–Pearson bound of its count in n fresh votes,
R = σ·Φ⁻¹(p̲_A), abstain when p̲_A ≤ ½):

* ``independent`` — the paper's video method: each sub-sequence gets its **own** Gaussian noise
  draw (``randn_like`` on the stacked sub-videos), the per-sub-sequence softmax vectors are
  reduced by ``max`` or ``mean`` and the argmax is the vote. The paper certifies R = σ·Φ⁻¹(p̲_A)
  as for images. But the noise now lives on the stacked copy E(x) = (S₁x, …, S_Kx), and a
  change δ of x moves E(x) by ‖Eδ‖ ≤ √m·‖δ‖, m = max_t m_t; Cohen's theorem on the stacked
  input therefore only gives R/√m for x. Both are reported: ``radius`` (the paper's) and
  ``sound_radius`` (R/√m). For a linear f with mean reduce the paper's radius exceeds the true
  distance to the decision boundary (16 frames, length 8, stride 2, f weighing every frame
  alike: by a factor √3; the audit's toy shows it).
* ``one_draw`` — ONE noise draw for the whole sequence, split afterwards; the reduce makes a
  fixed function F(x) = reduce_k softmax f(S_k x), and Cohen's guarantee holds for F unchanged.
  With one sub-sequence (length = T) it is exactly Cohen's smoothing of f (tested).
* ``plain`` — randomized smoothing of f on the whole sequence (the baseline).

Defaults (scaled to 16-frame 28×28 sequences on a CPU): length 8, stride 2 (K = 5, m = 4: the
paper's 64-frame sub-videos with stride 16 also put each frame in up to 4 of them), σ = 0.25
(the σ the base network is trained with), n0 = 32, n = 500, α = 0.001, batch 100. The paper's:
σ = 0.1, n0 = 100, n = 100,000, α = 0.001, batch 1000, chunks of 16 frames, sub-videos of 64.
Deviations: the sizes above; sub-sequences are all taken (no ``num_subvideos`` cap, no random
sub-videos); the noise is not clipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal
from collections.abc import Sequence

import torch
from torch import nn

from core.defenses.smoothing import CertifyResult, certify, max_certifiable_radius
from core.runtime.progress import ProgressFn, report

Variant = Literal["independent", "one_draw", "plain"]
Reduction = Literal["max", "mean"]
VARIANTS: tuple[Variant, ...] = ("independent", "one_draw", "plain")
LENGTH, STRIDE = 8, 2
SIGMA, N0, N, ALPHA = 0.25, 32, 500, 0.001
PAPER = {"sigma": 0.1, "n0": 100, "n": 100_000, "alpha": 0.001, "chunk": 16, "subvideo": 64, "stride": 16}


def subsequence_starts(frames: int, length: int, stride: int) -> list[int]:
    """First frame of every sub-sequence."""
    if not 1 <= length <= frames or stride < 1:
        raise ValueError(f"need 1 <= length <= frames and stride >= 1, got {length}, {frames}, {stride}")
    return list(range(0, frames - length + 1, stride))


def split(x: torch.Tensor, length: int, stride: int) -> torch.Tensor:
    """Sub-sequences (N, K, length, C, H, W) of frames (N, T, C, H, W) (copies share storage)."""
    subsequence_starts(x.shape[1], length, stride)  # validates
    return x.unfold(1, length, stride).permute(0, 1, 5, 2, 3, 4)


def multiplicity(frames: int, length: int, stride: int) -> torch.Tensor:
    """(T,) how many sub-sequences each frame lies in."""
    m = torch.zeros(frames, dtype=torch.long)
    for s in subsequence_starts(frames, length, stride):
        m[s:s + length] += 1
    return m


def reduce_probs(p: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """(N, K, C) per-sub-sequence probabilities reduced over K by ``max`` or ``mean``."""
    if reduction == "mean":
        return p.mean(1)
    if reduction == "max":
        return p.amax(1)
    raise ValueError(f"reduction must be 'max' or 'mean', not {reduction!r}")


class ReducedScores(nn.Module):
    """reduce_k softmax f(sub-sequence k). ``stacked=True``: the input is already split (N, K, L, C,
    H, W), so noise added to it is independent per sub-sequence; otherwise frames (N, T, C, H, W)
    are split here (noise added before is shared)."""

    def __init__(self, model: nn.Module, length: int, stride: int, reduction: Reduction, stacked: bool) -> None:
        super().__init__()
        self.model, self.length, self.stride, self.reduction, self.stacked = model, length, stride, reduction, stacked

    def per_subsequence(self, z: torch.Tensor) -> torch.Tensor:
        """(N, K, C) softmax of each sub-sequence."""
        sub = z if self.stacked else split(z, self.length, self.stride)
        n, k = sub.shape[:2]
        return self.model(sub.reshape(n * k, *sub.shape[2:])).softmax(-1).view(n, k, -1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return reduce_probs(self.per_subsequence(z), self.reduction)


class PlainScores(nn.Module):
    """softmax f(x) on the whole sequence."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(z).softmax(-1)


@dataclass
class SequenceCertificate:
    """CERTIFY on one sequence for one variant."""

    variant: str
    reduction: str | None
    predicted: int  # −1 = abstain
    radius: float  # the radius the method claims (the paper's for ``independent``)
    sound_radius: float  # what Cohen's theorem gives for this construction
    result: CertifyResult
    max_radius: float


class SmoothedSequenceClassifier:
    """One smoothed sequence classifier: ``lift`` maps frames to where the noise is added,
    ``scores`` maps a (noisy) lifted input to scores whose argmax is the vote (probabilities)."""

    def __init__(self, model: nn.Module, variant: Variant = "independent", reduction: Reduction = "mean", *,
                 sigma: float = SIGMA, length: int = LENGTH, stride: int = STRIDE) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        if not sigma > 0:
            raise ValueError("sigma must be > 0")
        self.model, self.variant, self.sigma = model, variant, float(sigma)
        self.reduction = None if variant == "plain" else reduction
        self.length, self.stride = int(length), int(stride)
        self.scores: nn.Module = PlainScores(model) if variant == "plain" else \
            ReducedScores(model, self.length, self.stride, reduction, stacked=variant == "independent")

    @property
    def name(self) -> str:
        return {"independent": f"independent noise, {self.reduction}", "one_draw": f"one draw, {self.reduction}",
                "plain": "plain smoothing"}[self.variant]

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        """Where the noise goes: the stacked sub-sequences (independent) or the frames."""
        return split(x, self.length, self.stride) if self.variant == "independent" else x

    def radius_factor(self, frames: int) -> float:
        """sound radius / claimed radius: 1/√m for independent noise, else 1."""
        if self.variant != "independent":
            return 1.0
        return 1.0 / math.sqrt(int(multiplicity(frames, self.length, self.stride).max()))

    def certify(self, x: torch.Tensor, *, n0: int = N0, n: int = N, alpha: float = ALPHA, batch_size: int = 100,
                seed: int = 0, keep: int = 0) -> SequenceCertificate:
        """Cohen's CERTIFY on one sequence (1, T, 1, H, W) in [0, 1]."""
        if x.dim() != 5 or x.shape[0] != 1:
            raise ValueError(f"expected one sequence (1, T, C, H, W), got {tuple(x.shape)}")
        r = certify(self.scores, self.lift(x).contiguous(), sigma=self.sigma, n0=n0, n=n, alpha=alpha,
                    batch_size=batch_size, seed=seed, keep=keep)
        return SequenceCertificate(variant=self.variant, reduction=self.reduction, predicted=r.predicted,
                                   radius=r.radius, sound_radius=r.radius * self.radius_factor(x.shape[1]),
                                   result=r, max_radius=max_certifiable_radius(n, alpha, self.sigma))


def all_variants(model: nn.Module, *, sigma: float = SIGMA, length: int = LENGTH, stride: int = STRIDE
                 ) -> dict[str, SmoothedSequenceClassifier]:
    """The five smoothed classifiers the audit and the page compare, by name."""
    out = [SmoothedSequenceClassifier(model, v, r, sigma=sigma, length=length, stride=stride)
           for v in ("independent", "one_draw") for r in ("max", "mean")]
    out.append(SmoothedSequenceClassifier(model, "plain", sigma=sigma, length=length, stride=stride))
    return {c.name: c for c in out}


def certify_variants(model: nn.Module, x: torch.Tensor, names: Sequence[str], *, sigma: float = SIGMA,
                     length: int = LENGTH, stride: int = STRIDE, n0: int = N0, n: int = N, alpha: float = ALPHA,
                     seed: int = 0, progress: ProgressFn = None) -> dict[str, SequenceCertificate]:
    """CERTIFY one sequence with each named variant of :func:`all_variants` (same seed for each)."""
    variants = all_variants(model, sigma=sigma, length=length, stride=stride)
    unknown = [nm for nm in names if nm not in variants]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(variants)}")
    out = {}
    for i, nm in enumerate(names):
        report(progress, i, len(names), f"certifying: {nm}")
        out[nm] = variants[nm].certify(x, n0=n0, n=n, alpha=alpha, seed=seed)
    report(progress, len(names), len(names), "done")
    return out


@torch.no_grad()
def subsequence_view(model: nn.Module, x: torch.Tensor, length: int = LENGTH, stride: int = STRIDE
                     ) -> tuple[list[int], torch.Tensor]:
    """For display: each sub-sequence's start and its class probabilities (K, C) on the clean
    sequence (1, T, 1, H, W)."""
    starts = subsequence_starts(x.shape[1], length, stride)
    return starts, ReducedScores(model, length, stride, "mean", stacked=False).per_subsequence(x)[0]


__all__ = ["ALPHA", "LENGTH", "N", "N0", "PAPER", "ReducedScores", "SIGMA", "STRIDE", "SequenceCertificate",
           "SmoothedSequenceClassifier", "VARIANTS", "all_variants", "certify_variants", "multiplicity", "reduce_probs", "split",
           "subsequence_starts", "subsequence_view"]
