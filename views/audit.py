"""Robustness audit: is a robustness claim real, or does the attack just fail? (core/evaluation/audit/checks.py)"""
from __future__ import annotations

import streamlit as st

from core.runtime import limits
from core.evaluation.audit.checks import CHECK_TITLES, WARNING_SIGNS
from core.viz.run_reports import audit_report
from core.evaluation.audit.runs import BINARIZATION_N, default_config, default_surrogate, prepare, run_audit
from core.defenses import DEFENSES
from core.models import list_models
from core.judging.stats import interval_note
from core.viz.audit import VERDICT_ICON, attack_comparison_figure, comparison_rows, success_vs_eps_figure
from ui.common import action_bar, device_caption, intro
from ui.presets import consume_autorun, preset_bar
from ui.report import report_download
from ui.run import run_and_show
from ui.tables import show_table

P = "audit"
st.title("🔎 Robustness audit")
intro(
    "A model can look robust because it **is** robust — or because the attack **failed to find** the "
    "adversarial examples that exist. Defenses that hide, break or randomise their gradients (\"gradient "
    "masking\") fool gradient attacks, not attackers. This page runs the checks that the papers on "
    "evaluating defenses ask for (Athalye, Carlini & Wagner 2018; Carlini et al. 2019; Tramèr et al. 2020) "
    "and says, for each, whether it found a warning sign:\n\n"
    "- an attack **transferred** from another model, or the **gradient-free Square Attack**, must not beat "
    "the white-box attack;\n- with a **large ε** the attack must win almost always, and reach chosen targets;\n"
    "- **more steps or restarts** must not do worse;\n- the **input gradient** must be non-zero and point "
    "uphill better than random directions;\n- for **randomised** models, the verdict must be stable and EOT "
    "must not change it;\n- the **binarization test** (Zimmermann et al. 2022): on a copy of the model whose last "
    "layer is replaced by a two-class readout that provably has an adversarial example within ε, the attack must "
    "find it.\n\n"
    "One warning is enough to distrust a robustness number: quote the number of the strongest attack "
    "(the worst-case ensemble) instead.")

preset_bar(P)
action = action_bar()  # the run button on the first screen (ui/common.py)

models = [s.name for s in list_models("fashion-mnist")] + [s.name for s in list_models("classification")]
with st.sidebar:
    st.header("What to audit")
    model_name = st.selectbox("Model", models, index=models.index("fmnist-cifs") if "fmnist-cifs" in models else 0,
                              key=f"{P}_model")
    zoo = model_name.startswith("fmnist-")
    through = st.checkbox("Attack through the CIFS mask", False, key=f"{P}_through", disabled=model_name != "fmnist-cifs",
                          help="As shipped, the attacker's gradient treats CIFS's channel mask as a constant "
                               "(mask-blind). Ticked, the gradient flows through the mask (an adaptive attacker).")
    defense = st.selectbox("Defense", ["none"] + list(DEFENSES), key=f"{P}_defense",
                           help="Audit the model behind an inference-time defense (default settings).")
    adaptive = st.checkbox("Adaptive attacker (BPDA / EOT)", True, key=f"{P}_adaptive", disabled=defense == "none")
    default_sur = default_surrogate(model_name, None if defense == "none" else defense)
    sur_choices = ["(none)", "(the undefended model)"] + [m for m in models if m != model_name]
    sur_default = ("(the undefended model)" if default_sur == "" else default_sur) or "(none)"
    surrogate = st.selectbox("Surrogate to transfer from", sur_choices, index=sur_choices.index(sur_default)
                             if sur_default in sur_choices else 0, key=f"{P}_surrogate")
    labelled = st.checkbox("Labelled ImageNet sample (true labels)", False, key=f"{P}_labelled", disabled=zoo,
                           help="ImageNet models: the 20 shipped labelled validation photos instead of the bundled "
                                "photos labelled with the model's own answer.")
    st.header("Budget")
    n = st.slider("Images", 4, limits.MAX_EVAL_IMAGES, 100 if zoo else 7, key=f"{P}_n",
                  help="Zoo models: the first images of the shipped test subset. ImageNet models: the bundled photos "
                       "(at most 7, labelled with the model's clean prediction) or the labelled sample (at most 20).")
    eps = float(st.number_input("ε (L∞, pixel scale: 4/255 ≈ 0.0157)", 0.001, 0.5, 0.1 if zoo else 0.0157, 0.005,
                                format="%.4f", key=f"{P}_eps",
                                help="The claim's budget. The audit also attacks at 2ε and up to 8ε."))
    steps = st.slider("PGD steps", 2, limits.MAX_ATTACK_STEPS // 5, 20 if zoo else 10, key=f"{P}_steps")
    queries = st.slider("Square queries", 10, 5000, 1000 if zoo else 300, 10, key=f"{P}_queries")
    binar = st.slider("Binarization test images", 0, 50, BINARIZATION_N if zoo else 0, key=f"{P}_binarization",
                      help="The active test of Zimmermann et al. (2022): per image, a binarized copy of the model "
                           "that provably has an adversarial example within ε; the white-box attack must find it. "
                           "0 = off. About a second per zoo image, half a minute per ImageNet photo.")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{P}_seed"))
    run = action.button("Run audit", type="primary", key=f"{P}_run") or consume_autorun(P)
    device_caption()

settings = {"model": model_name, "through_mask": through, "labelled": labelled and not zoo, "defense": defense,
            "adaptive": adaptive, "surrogate": surrogate, "n": n, "eps": eps, "steps": steps, "square_queries": queries,
            "binarization_n": binar}


def audit(progress) -> tuple:
    """Prepare the model and data and run the checks (core.evaluation.audit.runs); a bad combination raises ValueError."""
    sur = {"(none)": None, "(the undefended model)": ""}.get(surrogate, surrogate)
    target = prepare(model_name, n=n, through_mask=through, defense=None if defense == "none" else (defense, ()),
                     adaptive=adaptive, surrogate=sur, labelled=labelled and not zoo)
    cfg = default_config(model_name, eps=eps, steps=steps, square_queries=queries, binarization_n=binar)
    return target, run_audit(target, cfg, seed=seed, progress=progress), settings, seed


# The result is about the model as attacked (model, mask, defense) and its data; the rest are settings.
shown = run_and_show(P, run=run, inputs=(model_name, through, defense, n, labelled and not zoo),
                     settings=(sorted(settings.items()), seed), button="Run audit", label="Auditing…", compute=audit)
if shown is None:
    st.info("Choose a model and press **Run audit** above (about a minute for 100 zoo images on a CPU).")
    st.markdown("**The checks it runs**, each with its warning sign:\n"
                + "\n".join(f"- ⬜ {title} — *warns if {WARNING_SIGNS[key]}*" for key, title in CHECK_TITLES.items()))
    st.stop()
target, result, used, used_seed = shown.value

st.subheader(("⚠️ Flagged: " + "; ".join(result.warning_signs()))
             if result.flagged else "✅ No warning sign found")
st.caption(f"{target.description}. Data: {target.data}; {result.clean_correct} of {result.n} classified correctly "
           f"(success rates are over those). {result.elapsed_s:.0f} s.")
for note in result.notes:
    st.warning(note)
for c in result.checks:
    st.markdown(f"{VERDICT_ICON[c.verdict]} **{c.title}** — {c.meaning}")
c1, c2 = st.columns(2)
c1.plotly_chart(success_vs_eps_figure(result), width="stretch")
c2.plotly_chart(attack_comparison_figure(result), width="stretch")
st.caption(f"Error bars: exact 95 % intervals over the {result.clean_correct} clean-correct images. "
           f"{interval_note(result.clean_correct)} The table tests each attack against white-box PGD on the same "
           "images (exact McNemar); *robust to all* counts, over all images, those right before the attack that no "
           "attack fooled (at the audit's ε also PGD with more steps and restarts): the audit's worst case per image.")
show_table(comparison_rows(result), key=f"{P}_comparison")
with st.expander("Numbers of every check"):
    for c in result.checks:
        if c.numbers:
            st.markdown(f"**{c.title}**")
            st.json(c.numbers, expanded=False)

with st.expander("Download report"):
    report_download(lambda: audit_report(result, target, used, used_seed), key=f"{P}_report",
                    file_stem=f"audit_{used['model']}")

with st.expander("How to read this"):
    st.markdown(
        "- **Success** is the share of correctly classified images the attack turns into mistakes.\n"
        "- The **transfer** attack never sees this model's gradients: it attacks the surrogate and hands the "
        "result over. If that works better than attacking the model itself, the model's gradients mislead.\n"
        "- **Square** only reads output scores. If it beats the gradient attack, gradients are hiding examples.\n"
        "- A warning does not prove that a model is weak; it proves that the gradient attack's number is not a "
        "worst case. The Model zoo page quotes the worst-case ensemble (APGD-CE, targeted APGD-DLR, Square).\n"
        "- Try the CIFS zoo model as shipped (mask-blind) and then *through the mask*, and the PGD-AT model.")
