"""Write docs/audits/README.md: one row per audit JSON in docs/audits/ (``python -m core audit
... --out FILE``), with the model and attacker, the images, the clean-correct count, the verdict and
the time. Run after adding an audit:

    .venv/bin/python tools/audit_table.py
"""
from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "audits"

HEAD = """# Gradient-masking audits of the ImageNet defenses

The JSON written by `python -m core audit … --out FILE` (`core/evaluation/audit/checks.py`, `core/evaluation/audit/runs.py`) for every
audit that the Defenses page's "What the gradient-masking audit found" quotes: EfficientNet-Lite0 behind
each inference-time defense, on four bundled photos (labels: the undefended model's answers) or on the
first photos of the labelled ImageNet sample (true labels). Every file holds the command that made it
(`command`), each check's numbers and verdict, and the success-against-ε curve. ε = 4/255 (L∞), PGD with
5 steps, Square with 100 queries; `naive`: the attacker uses autograd through the defense as run, `bpda`:
identity on the backward pass, `eot`: gradients averaged over the defense's noise.

Machine: AMD EPYC, 2 cores, torch 2.14.1 CPU, one thread per audit (two for the labelled Smooth-Reduce
run), often beside other work, so the times are rough. This table is made by `tools/audit_table.py`.

| file | model and attacker | images | clean-correct | verdict | time |
|---|---|---|---|---|---|
"""

TAIL = """
Few images survive some defenses (smoothing at σ = 0.25 keeps one photo), so those verdicts are rough; the
audit says so in its `notes`. The zoo models' audits are summarised in each card's `worst_case.audit`.
"""


def main() -> None:
    rows = []
    for f in sorted(FOLDER.glob("*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        verdict = "⚠️ " + ", ".join(d["flags"]) if d["flagged"] else "✅ no check warns"
        rows.append(f"| `{f.name}` | {d['description']} | {d['data']} | {d['clean_correct']}/{d['n']} | {verdict} "
                    f"| {d['seconds']:.0f} s |")
    (FOLDER / "README.md").write_text(HEAD + "\n".join(rows) + "\n" + TAIL, encoding="utf-8")
    print(f"wrote {FOLDER / 'README.md'} ({len(rows)} audits)")


if __name__ == "__main__":
    main()
