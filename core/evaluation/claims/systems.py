"""Claims rows of the systems that are not zoo classifiers: R-PNODE few-shot segmentation (per-episode Dice,
``assets/fewshot/``) and Smooth-Reduce certificates on frame sequences (the certificate audit,
``assets/sequences/certificate_audit.json``). Judged with the rules of :mod:`core.judging.claims`.

* R-PNODE: "much more robust than CNN-based prototype segmenters". The claim's metric is the query's Dice under
  attack; here the adaptive worst case per episode, R-PNODE against the PANet-style prototype CNN of the same
  seed trained on for the same 150 steps (the matched control: only the ODE block and its regularizer differ)
  on the same 60 episodes, by the Wilcoxon signed-rank test per training seed. It holds when every seed's
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

from core.attacks.dense.fewshot_metrics import mean_ci
from core.evaluation.per_image import PerImage
from core.judging.claims import CONTRADICTED, HOLDS, INCONCLUSIVE, MASKING, NOT_MEASURED, WEAK_ONLY, fmt_p
from core.runtime.paths import ASSETS, ROOT

FEWSHOT = ASSETS / "fewshot"
SEQ_AUDIT = ASSETS / "sequences" / "certificate_audit.json"
FEWSHOT_METRIC = "q_worst_case__dice"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


CONTROL_TAG = "cont150"  # the CNN trained on for the ODE models' 150 warm-start steps (tools/train_fewshot.py --tag)
SCRATCH_TAG = "scratch"  # R-PNODE trained from a random start for the CNN's 400 steps


def _paired_line(a: Path, b: Path, what: str) -> tuple[str, str] | None:
    """(verdict word, line) of R-PNODE's per-episode worst-case Dice against a control's, by Wilcoxon."""
    pa, pb = PerImage.load(a), PerImage.load(b)
    if FEWSHOT_METRIC not in pa.values or FEWSHOT_METRIC not in pb.values:
        return None
    da, db = pa.values[FEWSHOT_METRIC].astype(float), pb.values[FEWSHOT_METRIC].astype(float)
    d = da - db
    p = float(sps.wilcoxon(da, db, zero_method="wilcox").pvalue) if np.any(d != 0) else 1.0
    word = HOLDS if p < 0.05 and d.mean() > 0 else CONTRADICTED if p < 0.05 else INCONCLUSIVE
    return word, (f"{what} {da.mean():.3f} vs CNN {db.mean():.3f} mean worst-case Dice on the same {len(d)} episodes, "
                  f"higher on {int((d > 0).sum())}, lower on {int((d < 0).sum())}, Wilcoxon p = {fmt_p(p)}")


def _rpnode_gap(folder: Path) -> tuple[str, str] | None:
    """Masking or weak-attack-only, as for the zoo rows: the paper's PGD interval (per-episode Dice, bootstrap)
    lies wholly above the adaptive worst case's, for R-PNODE seed 0 as trained (RK4) or under dopri5; masking
    when its audit also warns."""
    flags, gaps = [], []
    for suffix in ("", "-dopri5"):
        card = _read(folder / f"rpnode-s0{suffix}.json") or {}
        audit = (card.get("evaluation") or {}).get("audit") or {}
        flags += [f"{k}{suffix}" for k, v in (audit.get("checks") or {}).items() if v.get("verdict") == "warn"]
        p = folder / f"rpnode-s0{suffix}.per_image.npz"
        if not p.exists():
            continue
        per = PerImage.load(p)
        if "q_pgd_paper__dice" in per.values and FEWSHOT_METRIC in per.values:
            single, worst = mean_ci(per.values["q_pgd_paper__dice"]), mean_ci(per.values[FEWSHOT_METRIC])
            if single[1] > worst[2]:
                gaps.append(f"{suffix.lstrip('-') or 'rk4'}: the paper's PGD {single[0]:.3f} ({single[1]:.3f}–"
                            f"{single[2]:.3f}) above the worst case {worst[0]:.3f} ({worst[1]:.3f}–{worst[2]:.3f})")
    if gaps and flags:
        return MASKING, f"the audit warns ({', '.join(flags)}) and " + "; ".join(gaps)
    if gaps:
        return WEAK_ONLY, "; ".join(gaps) + "; no audit warning"
    return None


def rpnode_verdict(folder: Path = FEWSHOT, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[str, str, list[str]]:
    """(verdict, reason, evidence) of the R-PNODE claim from the per-episode files of both models per seed.

    The matched control is the prototype CNN of the same seed trained on from its 400 steps for the 150
    steps on which R-PNODE was warm-started from it (same start, same episodes, same optimiser: only the ODE
    block and its regularizer differ); where that variant is missing, the CNN as shipped. R-PNODE trained from
    scratch (``-scratch``), where present, is reported beside it: does the result depend on the warm start?"""
    lines, words, evidence = [], [], []
    if gap := _rpnode_gap(folder):
        return gap[0], gap[1], [str((folder / "rpnode-s0.per_image.npz").relative_to(ROOT))]
    for s in seeds:
        a = folder / f"rpnode-s{s}.per_image.npz"
        b = folder / f"proto-s{s}-{CONTROL_TAG}.per_image.npz"
        if not b.exists():
            b = folder / f"proto-s{s}.per_image.npz"
        if not (a.exists() and b.exists()):
            return NOT_MEASURED, f"seed {s}: {a.name} or {b.name} missing (tools/eval_fewshot.py)", evidence
        got = _paired_line(a, b, f"seed {s}: R-PNODE")
        if got is None:
            return NOT_MEASURED, f"seed {s}: no per-episode worst-case Dice", evidence
        words.append(got[0])
        lines.append(got[1] + ("" if CONTROL_TAG in b.name else " (CNN as shipped: no matched-budget variant)"))
        evidence += [str(a.relative_to(ROOT)), str(b.relative_to(ROOT))]
    verdict = CONTRADICTED if CONTRADICTED in words else HOLDS if all(w == HOLDS for w in words) else INCONCLUSIVE
    control = "; control: the CNN of the same seed trained on for the same 150 steps on the same episodes"
    scratch = []
    for s in seeds:
        a, b = folder / f"rpnode-s{s}-{SCRATCH_TAG}.per_image.npz", folder / f"proto-s{s}.per_image.npz"
        if a.exists() and b.exists() and (got := _paired_line(a, b, f"seed {s}: R-PNODE from scratch")):
            scratch.append(f"{got[1]} [{got[0]}]")
            evidence.append(str(a.relative_to(ROOT)))
    tail = (". Trained from scratch for the CNN's 400 steps instead of warm-started: " + "; ".join(scratch)
            if scratch else "")
    return verdict, "; ".join(lines) + control + tail, evidence


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
