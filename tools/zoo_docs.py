"""docs/models/zoo.md, written from the cards (``tools/train_zoo.py --phase docs``), after the cards'
descriptive fields are refreshed from core/models/zoo/catalogue.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.evaluation.zoo.cards import EVAL_EPS, METRICS  # noqa: E402
from core.models.zoo.catalogue import ZOO  # noqa: E402
from core.train.common import TrainConfig  # noqa: E402
from core.train.recipes import recipe_class  # noqa: E402
from core.train import recipe_report  # noqa: E402
from zoo_common import read_card, write_card  # noqa: E402

DOC = ROOT / "docs" / "models" / "zoo.md"


def refresh_descriptions() -> None:
    """Copy the descriptive fields (title, paper, about) from core/models/zoo/catalogue.py into the cards."""
    for e in ZOO:
        if e.card_path.exists():
            card = read_card(e.name)
            card.update(title=e.title, paper=e.paper, about=e.about, family=e.family, claim=e.claim, here=e.here)
            write_card(e.name, card)


def distribution_section() -> str:
    """Each card's robustness distribution (tools/per_image_zoo.py): the median smallest flipping ε with its
    interval and the share still robust at a few ε, and where the per-image file is."""
    rows = []
    for e in ZOO:
        c = read_card(e.name) if e.card_path.exists() else {}
        d = c.get("distribution")
        if not d:
            continue
        at = {round(p["eps"], 3): p for p in d["ecdf"]}

        def pct(eps: float) -> str:
            p = at.get(eps)
            return f"{100 * p['accuracy']:.1f}" if p else "—"

        m = d["median"]
        rows.append(f"| `{e.name}` | {m['value']} ({m['interval95'][0]}–{m['interval95'][1]}) | {pct(0.02)} | {pct(0.05)} | "
                    f"{pct(0.1)} | {pct(0.2)} | {d['n']} | {d.get('total_seconds', '—')} |")
    if not rows:
        return ""
    return ("\n## Robustness distributions\n\nEach image's smallest flipping ε (L∞) on the grid "
            "0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3 by the worst-case ensemble's gradient attacks (APGD-CE, then "
            "targeted APGD-DLR on the top other class, 25 iterations each), on the first 500 subset images "
            "(`tools/per_image_zoo.py`; per-image files `assets/zoo/<name>.per_image.npz`). Models at 0 % at "
            "ε = 0.1 differ at smaller ε. Robust % at ε is the share of images not yet flipped.\n\n"
            "| model | median ε (95 %) | robust % at 0.02 | at 0.05 | at 0.1 | at 0.2 | images | seconds |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def recipe_sections() -> str:
    """Issue 22's sections of docs/models/zoo.md: per class, push-in, kernel transfer, training time."""
    cards = {e.name: read_card(e.name) for e in ZOO if e.card_path.exists()}
    return recipe_report.sections(cards)


def phase_docs() -> None:
    refresh_descriptions()
    rows, full_rows, noise_rows, seed_rows = [], [], [], []
    for e in ZOO:
        if not e.card_path.exists():
            continue
        c = json.loads(e.card_path.read_text(encoding="utf-8"))
        ev = c.get("evaluation", {})
        full, sub = ev.get("full_test", {}), ev.get("subset", {})

        def pct(d: dict, m: str) -> str:
            return f"{100 * d[m]['accuracy']:.1f}" if m in d else "—"

        hp = ", ".join(f"{k}={v}" for k, v in c["recipe_params"].items() if k not in ("unverified", "status", "saliency"))
        wc = c.get("worst_case", {})
        worst = f"**{100 * wc['robust_accuracy']:.1f}**" if wc else "—"
        aud = wc.get("audit")
        flag = "—" if not aud else ("⚠️ " + ", ".join(aud["flags"]) if aud["flagged"] else "✅ pass")
        rows.append(f"| `{c['name']}` | {c['title']} | {c['paper']} | {hp} | {c['training']['seconds']:.0f} | "
                    + " | ".join(pct(full, m) for m in METRICS) + " | "
                    + " / ".join(pct(sub, m) for m in METRICS) + f" | {worst} | {wc.get('n', '—')} | {flag} |")
        npts = ev.get("gaussian_noise_subset", {}).get("points", [])
        if npts:  # random noise beside the adversary, on the same 1,000 subset images
            noise_rows.append(f"| `{c['name']}` | {e.arch_family.title} | "
                              f"{pct(sub, 'clean')} | " + " | ".join(f"{100 * q['accuracy']:.1f}" for q in npts)
                              + f" | {worst} |")
            noise_sigmas = [q["sigma"] for q in npts]
        sd = c.get("seeds")
        if sd:
            sp = sd["spread"]
            seed_rows.append(f"| `{c['name']}` | {', '.join(map(str, sd['seeds']))} | " + " | ".join(
                (" / ".join(f"{100 * v:.1f}" for v in sp[m]["values"]) + f" (range {100 * sp[m]['range']:.1f})")
                if m in sp else "—" for m in ("clean", "fgsm", "pgd20", "worst_case")) + " |")
        fw = wc.get("full_test_set")
        if fw:
            views = [k for k in ("as_shipped", "through_mask") if k in fw]
            full_rows.append(
                f"| `{c['name']}` | {c['title']} | {fw['n']:,} | {100 * fw['clean_accuracy']:.1f} | "
                f"**{100 * fw['robust_accuracy']:.1f}** | {100 * wc['robust_accuracy']:.1f} (n = {wc['n']:,}) | "
                + "; ".join(f"{v.replace('_', ' ')}: " + ", ".join(f"{b['attack']} −{b['fooled']:,}" for b in fw[v]["breakdown"])
                            for v in views)
                + f" | {sum(fw[v].get('seconds', 0) for v in views):,.0f} |")
    full_section = "" if not full_rows else """
### Worst case on the whole test set

The same ensemble on all 10,000 test images (`tools/ensemble_zoo.py --full`; run in the background
on one thread, for the models named here — the others were not re-run on the full set for time).
The attack columns count the images each attack of the ensemble fooled first (for CIFS, as shipped
and through its mask; the robust accuracy quoted is the lower).

| model | method | images | clean % | worst case % | on the subset % | fooled first by | seconds |
|---|---|---|---|---|---|---|---|
""" + "\n".join(full_rows) + "\n"
    if noise_rows:
        full_section += """
### Random noise beside the adversary

Accuracy on the 1,000 shipped test images plus Gaussian noise of standard deviation σ (clipped to
[0, 1], one fixed draw per image; `core/evaluation/zoo/cards.py` `noise_accuracy`), beside the
worst-case robust accuracy at ε = 0.1 on the same images. Robustness to *random* noise is not
robustness to an adversary: a model can gain one without the other (the ODE and ZeroSNet papers
argue from the first).

| model | architecture | clean % | """ + " | ".join(f"σ = {sg:g} %" for sg in noise_sigmas) + """ | worst case % |
|---|---|---|""" + "---|" * len(noise_sigmas) + """---|
""" + "\n".join(noise_rows) + "\n"
    if seed_rows:
        full_section += """
### Training seeds

Models trained with several seeds (`tools/train_zoo.py --phase seeds`, merged with `--merge-seeds`):
each seed's accuracy on the 1,000 shipped test images (the card's attacks; worst case on the same
images), shipped seed first, and the range between seeds. A difference between two models smaller
than their seed ranges is not a finding.

| model | seeds | clean % | FGSM % | PGD-20 % | worst case % |
|---|---|---|---|---|---|
""" + "\n".join(seed_rows) + "\n"
    cfg = TrainConfig()
    text = f"""# Fashion-MNIST model zoo

Made by `tools/train_zoo.py` (training, evaluation and this table); re-check a card with
`tools/evaluate_zoo.py <name>` (full test set) or `--subset`. Cards: `assets/zoo/<name>.json`;
weights: `assets/zoo/<name>.pt` (state dicts, loaded with `weights_only=True`, `strict=True`).

**Shared architecture** (`core/models/zoo/net.py`): four 3×3 conv blocks (16, 32, 64, 128 channels,
strides 2, 1, 2, 1, batch norm, ReLU), global average pooling, linear; 98,682 parameters; [0, 1]
input, 1 or 3 channels (3 are averaged to grey). Variants: SiLU (FGSM tricks), stride (2, 1, 1, 1)
(feature-map size), two CIFS probes (CIFS).

**Shared budget** (`core/train/common.py`): {cfg.train_images:,} training images (class-balanced,
seed {cfg.seed}), {cfg.epochs} epochs, batch {cfg.batch_size}, SGD (Nesterov momentum {cfg.momentum},
weight decay {cfg.weight_decay}), one-cycle learning rate peaking at {cfg.lr}, {cfg.threads} CPU
thread. "train s" is wall-clock time on a 2-core CPU shared with other jobs (load 2–4 during
training), so it is only a rough cost comparison. Adversarial recipes use ε = 0.1 (L∞); multi-step ones PGD-5 with step 0.05. These are
small demonstration models trained for minutes, far from the papers' converged numbers.

**Evaluation** (`core/evaluation/zoo/cards.py`): robust accuracy (correct on the clean *and* the
attacked image) at ε = {EVAL_EPS} (L∞), the usual Fashion-MNIST budget; FGSM; PGD-20 (step
2.5ε/20, random start); APGD-CE with 20 iterations (paper: 100). All white-box on the final
logits; for CIFS the attacker's gradient treats the channel mask as constant, as in the paper's
code. Subset: the 1,000 shipped test images (`assets/data/`), as used by the app and the tests.

**Worst case** (`core/evaluation/ensemble.py`, made by `tools/ensemble_zoo.py`): the robust accuracy the project
quotes. An AutoAttack-style ensemble — APGD-CE (50 iterations), targeted APGD-DLR towards the three most
likely other classes (50 iterations each), and the gradient-free Square Attack (1,000 queries) — each run
on the images still classified correctly, on the first images of the shipped subset (how many: the
"images" column and the card's `worst_case.data`), ε = 0.1 (L∞).
For CIFS it is the lower of the mask-blind and the through-the-mask evaluation
(`core/attacks/cifs_adaptive.py`). The FGSM/PGD-20/APGD-CE columns are kept as what those single
white-box attacks see (for CIFS: a mask-blind attacker). **Audit**: the gradient-masking audit
(`python -m core audit --model <name> --n 100`, `core/evaluation/audit/checks.py`) on the first 100 (CIFS, PGD-AT) or
50 (the others) subset images; "⚠️" lists the checks that warn (the card's `worst_case.audit` has the
verdict of every check and the command). A flag means that a single attack's number overstates the
model's robustness; the worst-case column already includes the gradient-free Square Attack.

| model | method | paper | recipe hyperparameters | train s | clean % | FGSM % | PGD-20 % | APGD-CE % | subset clean / FGSM / PGD-20 / APGD-CE % | worst case % (ensemble) | images | audit |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + full_section + distribution_section() + recipe_sections() + """
## The methods

Each recipe's file in `core/train/` cites its paper and lists its defaults and every deviation
(fewer attack steps, the shared short budget, CIFS's mask scaling, J-SIGR being a
reconstruction, which FGSM tricks are implemented).

""" + "\n".join(f"- **{e.title}** (`{e.name}`, `{recipe_class(e).__module__.replace('.', '/')}.py`; "
                 f"{e.paper}): {e.about}"
                 + (f"\n  - *The paper claims:* {e.claim}" if e.claim else "")
                 + (f"\n  - *Here we see:* {e.here}" if e.here else "") for e in ZOO) + """

## Reproduce

```
apt-get install -y --no-install-recommends dataset-fashion-mnist
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py          # subset, train, evaluate, this file
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/evaluate_zoo.py --subset --check 0.005
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --out /tmp/zooeval               # worst case, 1,000 images
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python -m core audit --model fmnist-cifs --n 100 --out /tmp/audits/fmnist-cifs.json
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python -m core audit --model fmnist-cifs --through-mask --n 100 \\
    --out /tmp/audits/fmnist-cifs-through-mask.json                      # likewise each model (--n 50 for the others)
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --merge /tmp/zooeval --audits /tmp/audits
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --full --out /tmp/zoofull fmnist-standard fmnist-pgd-at fmnist-cifs \\
    fmnist-trades fmnist-jsigr fmnist-fgsm-tricks fmnist-nfgsm                  # about 2.5 h on one thread
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --merge-full /tmp/zoofull
```
"""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
