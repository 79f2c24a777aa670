"""Sections of docs/models/zoo.md for issue 22 (written by ``tools/train_zoo.py --phase docs``):
per-class clean and attacked accuracy of every card that has them (:mod:`core.evaluation.zoo.per_class`),
the rate at which attacks push other classes' images into the cost-sensitive model's protected
classes, the audit's transfer numbers of the kernel models, and the recipes' training time
against PGD-AT's (``docs/models/recipe_times.json``, made by ``tools/time_recipes.py``)."""
from __future__ import annotations

import json
from pathlib import Path

from core.runtime.paths import DOCS


TIMES = DOCS / "models" / "recipe_times.json"
SHORT = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.0f}"


def per_class_section(cards: dict[str, dict]) -> str:
    """Markdown: one row per model with a ``per_class`` block (attacked / clean % per class)."""
    have = {n: c for n, c in cards.items() if "per_class" in c}
    if not have:
        return ""
    head = "| model | attack | " + " | ".join(SHORT) + " | all |\n|---|---|" + "---|" * (len(SHORT) + 1) + "\n"
    rows, push = [], []
    for n, c in have.items():
        pc = c["per_class"]
        cells = [f"{_pct(r['attacked_accuracy'])} / {_pct(r['clean_accuracy'])}" for r in pc["classes"]]
        o = pc["overall"]
        rows.append(f"| `{n}` | {'worst case' if pc['source'] == 'worst_case' else 'PGD-20'} | " + " | ".join(cells)
                    + f" | **{_pct(o['attacked_accuracy'])}** / {_pct(o['clean_accuracy'])} |")
        p = pc.get("push_in")
        if p:
            push.append(f"| `{n}` | {'worst case' if pc['source'] == 'worst_case' else 'PGD-20'} | "
                        f"{p['attack_into_protected']} / {p['attacked_other_images']} ({_pct(p['attack_push_in_rate'])} %) | "
                        f"{p['fooled_other_images']} | {_pct(p['share_of_fooled_into_protected'])} % | "
                        f"{p['clean_into_protected']} / {p['other_images']} |")
    text = ("\n### Per class\n\nAttacked / clean accuracy (%) of each class on the images of the card's worst case "
            "(the first 1,000 shipped test images, 100 per class; `tools/per_class_zoo.py`). \"worst case\": from "
            "the worst-case run's per-image verdicts; \"PGD-20\": the card's PGD-20 re-run per image where no per-image "
            "worst case was kept (an upper bound on the worst case). Shirt and Pullover are the weak classes of "
            "almost every model.\n\n" + head + "\n".join(rows) + "\n")
    if push:
        text += ("\n**Pushed into the protected classes** (Coat, Shirt: the cost-sensitive model's; the same count for "
                 "every model, for comparison): of the other classes' images that are classified correctly and "
                 "attacked, how many the attack's first successful example puts into Coat or Shirt; of all the "
                 "other classes' images it fools, the share that lands there; and how many of the other classes' images are "
                 "already classified as Coat or Shirt without an attack.\n\n"
                 "| model | attack | attacked → Coat/Shirt | fooled (other classes) | share of fooled into Coat/Shirt | "
                 "clean → Coat/Shirt |\n|---|---|---|---|---|---|\n" + "\n".join(push) + "\n")
    return text


def transfer_section(cards: dict[str, dict]) -> str:
    """Markdown: the audit's white-box / transfer / Square success rates of each card that keeps them
    for models of the kernel family (and the CNN trained on their data)."""
    rows = []
    for n, c in cards.items():
        if not n.startswith("fmnist-ntk"):
            continue
        wc = c.get("worst_case", {})
        for a in [wc.get("audit")] + list(wc.get("audit_other_surrogates", [])):
            if not a or not a.get("comparison"):
                continue
            sur = a.get("description", "").split("surrogate: ")[-1] if "surrogate: " in a.get("description", "") else "—"
            for r in a["comparison"]:
                rows.append(f"| `{n}` | {sur} | {r['eps']:g} | {_pct(r['white_box'])} | {_pct(r.get('transfer'))} | "
                            f"{_pct(r.get('square'))} | {a['checks'].get('transfer', '—')} |")
    if not rows:
        return ""
    return ("\n### The kernel-distilled models under the audit's transfer check\n\nSuccess rates (%) over the "
            "clean-correct images of the audit's 50 images: white-box PGD-20 on the model itself, PGD-20 crafted on "
            "the surrogate and transferred, and the gradient-free Square Attack (`python -m core audit`, the "
            "card's `worst_case.audit` and `audit_other_surrogates`).\n\n| model | surrogate | ε | white-box % | "
            "transfer % | Square % | transfer check |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def times_section(path: Path = TIMES) -> str:
    """Markdown: seconds per training step of each recipe and the ratio to PGD-AT (one run)."""
    if not path.exists():
        return ""
    t = json.loads(path.read_text(encoding="utf-8"))
    rows = [f"| `{r['model']}` | {r['recipe']} | {r['batch']} | {r['seconds_per_step']:.2f} | "
            f"{_ratio(r['relative_to_pgd_at'])} |"
            for r in t["rows"]]
    return ("\n### Training time against PGD-AT (issue 22's recipes)\n\n"
            f"`{t['command']}` ({t['date']}, {t['threads']} thread, {t['machine']}): the recipes took turns for "
            f"{t['rounds']} rounds of {t['steps_per_round']} steps each on the same training batches; median seconds "
            f"per step (loss, backward, optimiser step). {t['note']}. DIAL and LADDER were timed although their "
            "models are not in the zoo (not trained to the end in this run).\n\n"
            "| model | recipe | batch | s / step | × PGD-AT |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def sections(cards: dict[str, dict]) -> str:
    """All of issue 22's sections, in order."""
    return per_class_section(cards) + transfer_section(cards) + times_section()


__all__ = ["per_class_section", "sections", "times_section", "transfer_section"]
