"""Larger feature maps before average pooling, trained with PGD-AT (Xu, W. Zhang, J. Wang,
M. Yang, "Understanding Adversarial Robustness from Feature Maps of Convolutional Layers",
arXiv 2202.12435 / IEEE TNNLS 2025; ``MTandHJ/rcm``).

The paper's claim: averaging over more spatial positions before the classifier damps a
perturbation's effect on the pooled feature. Of its two modifications (upsampling the input
inside the wrapper, and smaller downsampling strides) this recipe uses the **stride** one:
block 3's stride 2 → 1, so the last map is 14×14 instead of 7×7 (rcm's "1222" → "1122"). The
parameter shapes do not change; each pass costs about 4× the base network's.

Training: exactly the PGD-AT recipe (:mod:`core.train.adversarial.pgd_at`): ε = 0.1, PGD-5 of 0.05, random
start; the zoo's shared budget (paper: PGD-10 at 8/255, SGD lr 0.1, 110 epochs).
"""
from __future__ import annotations

from core.train.adversarial.pgd_at import PGDAT


class FeatureSizeAT(PGDAT):
    key = "feature_size"

    def params(self) -> dict:
        return {**super().params(), "strides": [2, 1, 1, 1], "final_map": "14×14 (base 7×7)"}
