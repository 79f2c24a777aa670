"""One colour per concept, on every page (issue 39): a reader who learnt on one chart that red
means "adversarial" must not meet red meaning "negatively relevant" on the chart beside it.

* ``CLEAN`` blue and ``ADVERSARIAL`` red: the natural image and the attacked one (predictions,
  activations, probabilities);
* ``DEFENDED`` green, and ``OK``/``BAD`` (green/red) for right/wrong answers — the same green and
  red as the verdict boxes (:mod:`ui.verdicts`);
* ``PR`` purple and ``NR`` orange: positively and negatively relevant channels, deliberately
  neither blue/red nor green, which already mean clean/attacked and right/wrong;
* ``NEUTRAL`` grey: unchanged, not judged;
* ``MODELS``: one colour per model (zoo curves, per-class bars, channel sums), none of the above,
  so that a model's line is never read as "adversarial" or "defended".
"""
from __future__ import annotations

CLEAN = "#1f77b4"
ADVERSARIAL = "#d62728"
DEFENDED = "#2ca02c"
OK = "#2ca02c"
BAD = "#d62728"
PR = "#9467bd"
NR = "#ff7f0e"
NEUTRAL = "#7f7f7f"
MODELS = ["#3a3a3a", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#1b9e77", "#a6761d", "#6a3d9a"]

__all__ = ["ADVERSARIAL", "BAD", "CLEAN", "DEFENDED", "MODELS", "NEUTRAL", "NR", "OK", "PR"]
