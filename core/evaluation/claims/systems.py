"""Claims rows of the systems that are not zoo classifiers: R-PNODE few-shot segmentation (per-episode Dice,
``assets/fewshot/``) and Smooth-Reduce certificates on frame sequences (the certificate audit,
``assets/sequences/certificate_audit.json``). Judged with the rules of :mod:`core.judging.claims`.

* R-PNODE: "much more robust than CNN-based prototype segmenters". The claim's metric is the query's Dice under
  attack; here the adaptive worst case per episode, R-PNODE against the PANet-style prototype CNN of the same
  seed on the same 60 episodes, by the Wilcoxon signed-rank test per training seed. It holds when every seed's
  difference is significant and positive, is contradicted when one is significant and negative.
* Smooth-Reduce on video: "the smoothed classifier's prediction is certified within R". A certified prediction
  that a fresh large Monte-Carlo sample confirms flipped inside its radius contradicts the certificate; none
  found leaves it inconclusive (the audit's count with its interval says how far "none" goes).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats as sps

from core.evaluation.per_image import PerImage
from core.judging.claims import CONTRADICTED, HOLDS, INCONCLUSIVE, NOT_MEASURED, fmt_p
from core.runtime.paths import ASSETS, ROOT

FEWSHOT = ASSETS / "fewshot"
SEQ_AUDIT = ASSETS / "sequences" / "certificate_audit.json"
FEWSHOT_METRIC = "q_worst_case__dice"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rpnode_verdict(folder: Path = FEWSHOT, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[str, str, list[str]]:
    """(verdict, reason, evidence) of the R-PNODE claim from the per-episode files of both models per seed."""
    lines, words, evidence = [], [], []
    for s in seeds:
        a, b = folder / f"rpnode-s{s}.per_image.npz", folder / f"proto-s{s}.per_image.npz"
        if not (a.exists() and b.exists()):
            return NOT_MEASURED, f"seed {s}: {a.name} or {b.name} missing (tools/eval_fewshot.py)", evidence
        pa, pb = PerImage.load(a), PerImage.load(b)
        if FEWSHOT_METRIC not in pa.values or FEWSHOT_METRIC not in pb.values:
            return NOT_MEASURED, f"seed {s}: no per-episode worst-case Dice", evidence
        da, db = pa.values[FEWSHOT_METRIC].astype(float), pb.values[FEWSHOT_METRIC].astype(float)
        d = da - db
        p = float(sps.wilcoxon(da, db, zero_method="wilcox").pvalue) if np.any(d != 0) else 1.0
        words.append(HOLDS if p < 0.05 and d.mean() > 0 else CONTRADICTED if p < 0.05 else INCONCLUSIVE)
        lines.append(f"seed {s}: R-PNODE {da.mean():.3f} vs CNN {db.mean():.3f} mean worst-case Dice on the same "
                     f"{len(d)} episodes, higher on {int((d > 0).sum())}, lower on {int((d < 0).sum())}, Wilcoxon "
                     f"p = {fmt_p(p)}")
        evidence += [str(a.relative_to(ROOT)), str(b.relative_to(ROOT))]
    verdict = CONTRADICTED if CONTRADICTED in words else HOLDS if all(w == HOLDS for w in words) else INCONCLUSIVE
    return verdict, "; ".join(lines), evidence


def sequence_certificate_verdict(path: Path = SEQ_AUDIT) -> tuple[str, str]:
    """(verdict, reason) of the video Smooth-Reduce certificate (independent noise per sub-sequence)."""
    d = _read(path)
    if not d:
        return NOT_MEASURED, f"{path.name} is missing (tools/audit_certificates.py)"
    broken, certified, parts = 0, 0, []
    for part in ("sequences", "sequences_hard"):
        for name, v in ((d.get(part) or {}).get("variants") or {}).items():
            if name.startswith("independent noise"):
                broken += int(v["violations"])
                certified += int(v["certified"])
                parts.append(f"{part.replace('_', ' ')}, {name}: {v['violations']} of {v['certified']} certificates "
                             f"broken (95 % {100 * v['violations_ci95'][0]:.0f}–{100 * v['violations_ci95'][1]:.0f} %)")
    others = [f"{part.replace('_', ' ')}, {name}: {v['violations']} of {v['certified']}"
              for part in ("sequences", "sequences_hard")
              for name, v in ((d.get(part) or {}).get("variants") or {}).items()
              if not name.startswith("independent noise")]
    reason = ("; ".join(parts) + ". Controls (one noise draw split afterwards, plain smoothing): "
              + "; ".join(others) + ". A flip counts only when a fresh Monte-Carlo sample confirms it inside the "
              "certified radius")
    if not certified:
        return NOT_MEASURED, "no certified sequence was audited"
    return (CONTRADICTED if broken else INCONCLUSIVE), reason


__all__ = ["FEWSHOT", "SEQ_AUDIT", "rpnode_verdict", "sequence_certificate_verdict"]
