"""Dice and IoU of a predicted binary mask, per episode, and the interval over episodes.

Dice (Dice 1945; the metric of R-PNODE, Pandey et al., IEEE TMI 2023, arXiv 2208.12428) of a
predicted foreground P and the ground truth G: 2|P ∩ G| / (|P| + |G|); IoU (Jaccard):
|P ∩ G| / |P ∪ G|. Both are 1 when P and G are both empty (nothing to find, nothing found).
R-PNODE reports 3D Dice per CT volume; here each episode's query is one 2D image, so the score is
the Dice per episode and the data-set number its mean over episodes.

Interval over episodes: a 95 % percentile bootstrap of the mean (``scipy.stats.bootstrap``, 2,000
resamples, fixed seed); for a paired difference of two models or two attacks on the same
episodes, the same bootstrap of the mean of the per-episode differences.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats

BOOT_RESAMPLES = 2000
BOOT_SEED = 0


def dice(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-mask Dice (N,) float of binary masks (N, H, W) (bool or {0, 1})."""
    p, g = pred.bool().flatten(1), truth.bool().flatten(1)
    inter = (p & g).sum(1).double()
    denom = (p.sum(1) + g.sum(1)).double()
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.ones_like(denom)).float()


def iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-mask IoU (N,) float of binary masks (N, H, W)."""
    p, g = pred.bool().flatten(1), truth.bool().flatten(1)
    inter = (p & g).sum(1).double()
    union = (p | g).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).float()


def mean_ci(values: np.ndarray | torch.Tensor, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean over episodes and its percentile-bootstrap interval."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) < 2 or np.all(v == v[0]):
        m = float(v.mean()) if len(v) else float("nan")
        return m, m, m
    res = stats.bootstrap((v,), np.mean, n_resamples=BOOT_RESAMPLES, confidence_level=level, method="percentile",
                          random_state=np.random.default_rng(BOOT_SEED))
    return float(v.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)


__all__ = ["dice", "iou", "mean_ci"]
