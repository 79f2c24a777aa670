"""Claims, checked: each paper's headline claim beside what the project measured (core/evaluation/claims/rows.py)."""
from __future__ import annotations

import streamlit as st

from core.evaluation.claims.rows import VERDICT_ICON, VERDICTS, claim_rows, short_audit, short_number, verdict_counts
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
    "when it reproduced the method at small scale — **how sure** that number is (its exact 95 % interval, "
    "Clopper–Pearson, with the number of images n) — and gives a verdict computed by fixed rules from the model "
    "cards (`assets/zoo/`) and the audit files (`docs/audits/`), never typed in:\n\n"
    "- **holds here** — the worst case's interval lies above the baseline's (or, for an *as good as* claim, the "
    "baseline's does not lie above it);\n"
    "- **holds only against weak or non-adaptive attacks** — a single attack, or an attacker who ignores the "
    "defense, overstates what the worst case or the adaptive attacker finds;\n"
    "- **gradient masking found** — the gradient-masking audit warns and the gap it predicts is real;\n"
    "- **not reproduced at this scale** — the intervals overlap or the baseline is better.\n\n"
    "On 8 or 20 photos the intervals are wide — one photo is 5 to 12.5 points — and that is the point: a "
    "difference inside them is not a finding. The zoo's numbers are on 1,000 images (about ±3 points). "
    "*Not reproduced at this scale* is not *false*: the project trains small models for minutes.")
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
             "measured (95 % interval)": r.measured, "baseline": short_number(r.baseline),
             **({} if is_presenter() else {"audit": short_audit(r.audit)})} for r in rows], key=f"{P}_table")

for r in rows:
    with st.container(border=True, key=f"{P}_row_{r.key.replace(':', '_')}"):
        st.markdown(f"#### {VERDICT_ICON[r.verdict]} {md(r.title)} — *{md(r.verdict)}*")
        st.caption(md(r.paper, None))
        left, right = st.columns([1, 1] if is_presenter() else [5, 6])
        left.markdown(f"**Claim**: {md(r.claim or 'no claim recorded in the catalogue yet', None)}")
        left.markdown(f"**Reproduced here**: {md(r.reproduction or '—', None)}")
        right.markdown(f"**Measured**: {md(r.measured)}  \n**Baseline**: {md(r.baseline)}  \n"
                       f"**Single attack / naive attacker**: {md(r.single_attack, None)}  \n"
                       f"**Audit**: {md(r.audit, None)}"
                       + (f"  \n**Seeds**: {md(r.seeds)}" if r.seeds else ""))
        right.markdown(f"**Why this verdict**: {md(r.reason, None)}")
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
        "- A zoo model's number is its card's **worst case** (APGD-CE → targeted APGD-DLR → Square on the card's "
        "1,000 images; the *rand* version with Square-EOT for randomized models), compared with the baseline its "
        "paper compares against (standard training, PGD-AT, …).\n"
        "- An ImageNet defense's number is the robust accuracy of EfficientNet-Lite0 behind it against the "
        "strongest attack of its audit (white-box through the adaptive route, transfer from the undefended model, "
        "Square; Square-EOT for randomized defenses) at ε = 4/255, on the first 8 labelled ImageNet photos; the "
        "baseline is the same audit of the undefended model.\n"
        "- Two numbers differ when their 95 % intervals do not overlap (conservative); where cards carry several "
        "training seeds, the difference must also exceed the seeds' range. The rules are in `core/evaluation/claims/rows.py`.")
