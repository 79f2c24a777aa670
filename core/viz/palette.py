"""One colour per concept, on every page (issue 39): a reader who learnt on one chart that red
means "adversarial" must not meet red meaning "negatively relevant" on the chart beside it.

* ``CLEAN`` blue and ``ADVERSARIAL`` red: the natural image and the attacked one (predictions,
  activations, probabilities);
* ``DEFENDED`` green, and ``OK``/``BAD`` (green/red) for right/wrong answers — the same green and
  red as the verdict boxes (:mod:`ui.verdicts`);
* ``PR`` purple and ``NR`` orange: positively and negatively relevant channels, deliberately
  neither blue/red nor green, which already mean clean/attacked and right/wrong;
* ``NEUTRAL`` grey: unchanged, not judged.
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

__all__ = ["ADVERSARIAL", "BAD", "CLEAN", "DEFENDED", "NEUTRAL", "NR", "OK", "PR"]
