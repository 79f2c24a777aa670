"""Write tests/fixtures/claims_snapshot.json: the Claims page's measured numbers and verdicts as computed
now from the cards and audit files (core/evaluation/claims/rows.py). tests/evaluation/test_claims.py compares the rows computed
at test time with it, so a card or audit file that changes a row fails that test until the change
is looked at and the snapshot rewritten. It also writes docs/models/claims.md, every row's verdict with the
one line of numbers behind it, in the words the Claims page uses:

    .venv/bin/python tools/claims_snapshot.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.evaluation.claims.rows import NOT_MEASURED, claim_rows  # noqa: E402  (after the path is set)

OUT = ROOT / "tests" / "fixtures" / "claims_snapshot.json"
DOC = ROOT / "docs" / "models" / "claims.md"


def write_doc(rows) -> None:
    lines = ["# Claims, checked: the verdicts", "",
             "Written by `tools/claims_snapshot.py` from the cards, their per-image files and the audit files, with the "
             "rules of `core/judging/claims.py` (the Claims page shows the same rows). Each verdict comes with the "
             "numbers behind it: the effect on the same images, its interval and the exact McNemar p, or the "
             "signed-rank test on each image's smallest flipping budget, and the seed spread where there are seeds.",
             "", "| verdict | row | judged on | control |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.verdict} | {r.title} (`{r.key}`) | {r.metric or 'robust accuracy behind the defense'} | "
                     f"{(r.control or r.baseline).split(' — ')[0]} |")
    lines.append("")
    for r in rows:
        lines += [f"## {r.title} — {r.verdict}", "", f"*Claim.* {r.claim}", "",
                  f"*Why.* {r.reason}", ""]
        if r.distribution:
            lines += [f"*Robustness distribution.* {r.distribution}", ""]
        if r.binarization:
            lines += [f"*Binarization test.* {r.binarization}", ""]
        lines += [f"*Audit.* {r.audit}", "", "*Evidence.* " + "; ".join(f"`{e}`" for e in r.evidence or [r.source]), ""]
    DOC.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    all_rows = claim_rows()
    write_doc(all_rows)
    rows = [r.snapshot() for r in all_rows if r.verdict != NOT_MEASURED or r.n is not None]
    OUT.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(rows)} rows) and {DOC}")


if __name__ == "__main__":
    main()
