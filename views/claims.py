"""Claims, checked: each paper's headline claim beside what the project measured (core/evaluation/claims/rows.py)."""
from __future__ import annotations

import streamlit as st

from core.evaluation.claims.rows import VERDICT_ICON, VERDICTS, claim_rows, short_audit, short_number, verdict_counts
from core.judging.claims import CONTRADICTED, HOLDS, INCONCLUSIVE, MASKING, NOT_MEASURED, WEAK_ONLY
from core.teaching.presets import PAGE_PATHS, PAGE_TITLES
from core.data.safe_text import md
from ui.common import intro
from ui.presenter import is_presenter
from ui.presets import preset_bar, queue
from ui.tables import show_table

P = "claims"
st.title("📜 Claims, checked")
intro(
    "Each paper behind the explorer makes a headline claim. This page sets it beside what the project measured "
    "when it reproduced the method at small scale, judged on **the claim's own metric** (worst case, noise "
    "accuracy, FGSM against PGD, clean *and* robust accuracy, …) against a **matched control** — the model that "
    "differs from the claimed one only in the claimed ingredient — on **the same images, paired**. The verdicts "
    "come from fixed rules (`core/judging/claims.py`) applied to the model cards and their per-image files "
    "(`assets/zoo/`) and the audit files (`docs/audits/`), never typed in:\n\n"
    f"- **{HOLDS}** — significant in the claimed direction (exact McNemar on the images the two models disagree "
    "on), beyond the spread between training seeds; an *as good as* claim: the paired difference's interval lies "
    "above −3 points;\n"
    f"- **{CONTRADICTED}** — significant in the opposite direction;\n"
    f"- **{INCONCLUSIVE}** — neither; the row says how many images would tell a difference of the claimed size;\n"
    f"- **{WEAK_ONLY}** — a single attack, or an attacker who ignores the defense, overstates "
    "what the worst case finds;\n"
    f"- **{MASKING}** — the gradient-masking audit warns and the gap it predicts is real;\n"
    f"- **{NOT_MEASURED}** — a file the rules need is missing (the row says which).\n\n"
    "Where two models both sit at 0 % at the card's ε, the claim is judged on each image's **smallest flipping ε** "
    "(the robustness distribution) instead: one ε cannot tell them apart.")
preset_bar(P)

all_rows = claim_rows()
counts = verdict_counts(all_rows)
st.markdown(" · ".join(f"{VERDICT_ICON[v]} **{v}**: {c}" for v, c in counts.items()))
shown_verdicts = st.sidebar.multiselect("Show the verdicts", list(VERDICTS), default=list(VERDICTS), key=f"{P}_verdicts",
                                format_func=lambda v: f"{VERDICT_ICON[v]} {v}")
rows = [r for r in all_rows if r.verdict in shown_verdicts]
# Five short columns, so the table fits 1440 px without scrolling sideways; each row's card below has
# the baseline's interval and the audit's words.
show_table([{"verdict": f"{VERDICT_ICON[r.verdict]} {r.verdict}", "paper / model": r.title,
             "measured (95 % interval)": r.measured, "control": short_number(r.baseline),
             **({} if is_presenter() else {"audit": short_audit(r.audit)})} for r in rows], key=f"{P}_table")

for r in rows:
    with st.container(border=True, key=f"{P}_row_{r.key.replace(':', '_')}"):
        st.markdown(f"#### {VERDICT_ICON[r.verdict]} {md(r.title)} — *{md(r.verdict)}*")
        st.caption(md(r.paper, None))
        left, right = st.columns([1, 1] if is_presenter() else [5, 6])
        left.markdown(f"**Claim**: {md(r.claim or 'no claim recorded in the catalogue yet', None)}")
        left.markdown(f"**Reproduced here**: {md(r.reproduction or '—', None)}")
        if r.metric:
            left.markdown(f"**Judged on**: {md(r.metric, None)}  \n**Matched control**: {md(r.control, None)}")
        right.markdown(f"**Measured**: {md(r.measured)}  \n**Control**: {md(r.baseline)}  \n"
                       f"**Single attack / naive attacker**: {md(r.single_attack, None)}  \n"
                       f"**Audit**: {md(r.audit, None)}"
                       + (f"  \n**Binarization test**: {md(r.binarization, None)}" if r.binarization else "")
                       + (f"  \n**Seeds**: {md(r.seeds)}" if r.seeds else "")
                       + (f"  \n**Robustness distribution**: {md(r.distribution, None)}" if r.distribution else ""))
        right.markdown(f"**Why this verdict** (effect, interval, p): {md(r.reason, None)}")
        if r.evidence:
            with st.expander("Evidence: files and the commands that made them"):
                st.markdown("\n".join(f"- `{e.replace('`', '')}`" for e in r.evidence))
        links = st.container(horizontal=True, vertical_alignment="center", gap="small")
        if r.preset is not None:
            p = r.preset
            if links.button(f"Open live: {PAGE_TITLES[p.page]}", key=f"{P}_go_{r.key}", help=p.title):
                queue(p)
                st.switch_page(PAGE_PATHS[p.page])
        for text, p in r.extra_links:
            if links.button(f"{text.capitalize()}: {PAGE_TITLES[p.page]}", key=f"{P}_go_{r.key}_{text}",
                            help=f"{p.title} (press Run there; an audit takes minutes)"):
                queue(p)
                st.switch_page(PAGE_PATHS[p.page])
        links.caption(f"reads `{r.source.replace('`', '')}`")  # a path inside the project (core.evaluation.claims.rows)

with st.expander("How the verdicts are computed"):
    st.markdown(
        "- A zoo model's card quotes its **worst case** (APGD-CE → targeted APGD-DLR → Square on 1,000 images; the "
        "*rand* version for randomized models). The verdict uses the **per-image** files beside the cards: the "
        "claim's metric per image for the claimed model and its control, on the same images, compared by the exact "
        "McNemar test; the worst case per image comes from the robustness distribution (each image's smallest "
        "flipping ε on a grid, by the ensemble's gradient attacks), whose value at the card's ε is checked "
        "against the card's worst case.\n"
        "- An ImageNet defense's number is the robust accuracy of EfficientNet-Lite0 behind it at ε = 4/255 on the "
        "labelled photos, per photo against every attack of its audit; the control is the same audit of the "
        "undefended model on the same photos, compared by the exact McNemar test. Smooth-Reduce claims larger "
        "*certified* radii: each photo's radius for its true class against randomized smoothing of the same base "
        "model at the same σ and noise draws (signed-rank test).\n"
        "- The rules, with their tests, are in `core/judging/claims.py`; the rows in `core/evaluation/claims/rows.py`.")
