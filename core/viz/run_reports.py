"""The reports of a batch evaluation and of a gradient-masking audit (:class:`core.viz.report.Report`):
the Batch evaluation and Robustness audit pages' downloads and the command line's ``report.html``."""
from __future__ import annotations

from collections.abc import Sequence

from core.evaluation.audit.checks import AuditResult
from core.evaluation.audit.runs import AuditTarget
from core.evaluation.batch.evaluate import INTERVAL_COLUMNS, BatchResult, comparison_notes
from core.judging.stats import interval_note
from core.viz.audit import attack_comparison_figure, checklist_rows, comparison_rows, success_vs_eps_figure
from core.viz.curves import batch_figure
from core.viz.report import Report


def batch_report(result: BatchResult, class_names: Sequence[str] | None = None, *, page: str = "",
                 title: str = "Batch evaluation") -> Report:
    """The report of a batch evaluation (the page's download and the command line's
    ``report.html``/``results.json``): settings, seeds, the summary figure and table, every
    image's verdicts and the skipped files."""
    s = result.settings
    notes = [result.robust_accuracy_note(), result.label_note, *result.extra_notes]
    if not result.complete:
        notes.append(f"Stopped early: {len(result.images)} image(s) evaluated.")
    if not s.adaptive and s.defenses:
        notes.append("Non-adaptive attacker: the attack saw only the undefended model. A defense that holds here "
                     "is not shown to be robust.")
    rep = Report(title, page=page, settings={**s.to_dict(), "label": result.label_source},
                 seeds={"run": s.seed, "attack": "per image: image_seed(run seed, image key)",
                        "defenses": "per image: the attack's seed + 1"},
                 notes=notes)
    summary = result.summary()
    rep.add_section("Summary", f"{len(result.images)} image(s), {s.attack_description()} ({s.norm}), "
                               f"{'adaptive' if s.adaptive else 'non-adaptive'} attacker.")
    if summary:
        rep.add_figure(batch_figure(summary, s.norm), "Accuracy and attack success rate against ε")
    cols = ["defense", "kind", "attack", "eps", "eps_255", "n", "accuracy", *INTERVAL_COLUMNS[:3], "success_rate",
            *INTERVAL_COLUMNS[3:6], "abstain_rate", "mean_confidence", *INTERVAL_COLUMNS[6:]]
    rep.add_table([{**r, "eps_255": r["eps"] * 255 if s.norm == "linf" else None} for r in summary],
                  "Summary per defense and ε (correct of n, exact 95 % interval; vs_bare: exact McNemar against the "
                  "bare model on the same images)", columns=cols)
    notes_vs = comparison_notes(summary, s.norm)
    if notes_vs:
        rep.add_section("Defended vs undefended (paired, same images)", " ".join(notes_vs))
    breakdown = result.breakdown()
    if breakdown:
        rep.add_section("Robust accuracy" + (" (worst case)" if s.worst_case else f" ({s.attack} only)"),
                        result.robust_accuracy_note() + " " + interval_note(len(result.images)))
        rep.add_table(breakdown, "Robust accuracy of the bare model per ε and the attack that fooled each image first",
                      columns=["eps", "eps_255", "n", "attack", "robust_accuracy", "robust", "robust_accuracy_ci95_lo",
                               "robust_accuracy_ci95_hi", "clean_misclassified",
                               *[f"fooled_by_{a}" for a in result.breakdown_attacks()], "not_fooled"])
    rep.add_numbers({"images": len(result.images), "complete": result.complete, "elapsed_s": result.elapsed_s,
                     "device": result.device}, "Run")
    rep.add_section("Per image")
    rep.add_table(result.image_rows(class_names), "Every image × defense × ε",
                  columns=["image", "defense", "eps", "label", "label_name", "clean_pred", "pred", "pred_name",
                           "confidence", "correct", "success", "found_by"])
    if result.skipped:
        rep.add_section("Skipped files")
        rep.add_table([{"message": m} for m in result.skipped])
    return rep


def audit_report(result: AuditResult, target: AuditTarget, settings: dict, seed: int):
    """The page's report download (core.viz.report.Report): checklist, figures, numbers."""
    rep = Report(f"Gradient-masking audit: {target.description}", page="views/audit.py", settings=settings,
                 seeds={"audit": seed}, notes=list(result.notes))
    signs = [f"{sign} ({key})" for key, sign in zip(result.flags(), result.warning_signs())]
    rep.add_section("Verdict", ("Flagged: " + "; ".join(signs)) if result.flagged else "No check warns.")
    rep.add_text(f"Data: {target.data}; {result.clean_correct} of {result.n} classified correctly.")
    rep.add_table([{k: v for k, v in r.items() if k} for r in checklist_rows(result)], "Checks")
    rep.add_figure(success_vs_eps_figure(result), "White-box success against ε")
    rep.add_figure(attack_comparison_figure(result), "White-box vs transfer vs Square")
    rep.add_section("Numbers")
    for c in result.checks:
        if c.numbers:
            rep.add_numbers({k: v for k, v in c.numbers.items() if k != "rows"}, c.title)
    rep.add_table(comparison_rows(result), "Attack comparison: success over the clean-correct images (exact 95 % "
                                           "interval) and the exact McNemar test against white-box PGD")
    return rep
