"""Write tests/fixtures/claims_snapshot.json: the Claims page's measured numbers and verdicts as computed
now from the cards and audit files (core/evaluation/claims/rows.py). tests/evaluation/test_claims.py compares the rows computed
at test time with it, so a card or audit file that changes a row fails that test until the change
is looked at and the snapshot rewritten:

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


def main() -> None:
    rows = [r.snapshot() for r in claim_rows() if r.verdict != NOT_MEASURED or r.n is not None]
    OUT.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
