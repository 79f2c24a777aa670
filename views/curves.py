"""Robustness curves: confidence and correctness against ε for several attacks × defenses on one
image, the smallest flipping ε per attack, and the certified radius against σ."""
from __future__ import annotations

import streamlit as st

from core.runtime import limits
from core.explain.analysis import topk
from core.attacks import ATTACK_INFO, ATTACKS, Goal
from core.defenses import DEFENSES
from core.judging import pages as pv
from core.evaluation.curves import NO_DEFENSE, WORST_CASE, curve_attacks_for, curves_with_extras
from core.evaluation.ensemble import WORST_CASE_SUMMARY
from core.viz.report import curves_report
from core.viz.common import to_numpy_image
from core.viz.curves import curve_figure, eps_axis
from core.data.safe_text import md
from ui.common import action_bar, clean_logits, device_caption, image_and_model, image_tensor, intro, true_label
from ui.curve_results import show_certified, show_flips, show_images_and_numbers, show_worst_case
from ui.long_work import StopButton
from ui.presets import consume_autorun, preset_bar
from ui.sweep_widgets import defenses_input, format_numbers, numbers_input, parse_numbers
from ui.report import report_download
from ui.run import input_default, run_and_show
from ui.verdicts import show_verdict
from ui.urlstate import (UrlParam, UrlState, image_picker_params, model_param, share_caption, upload_note)

P = "cur"
RATIOS = [0.1, 0.25, 0.5, 1.0]
EPS_DEFAULT = {"linf": "0, 0.0625, 0.125, 0.25, 0.5, 1", "l2": "0, 0.1, 0.25, 0.5, 1, 2"}
EPS_MAX = {"linf": 64.0, "l2": 50.0}
CHOICES = [*ATTACKS, WORST_CASE]  # the single attacks, then the worst-case ensemble (core/evaluation/ensemble.py)


def _norm(s) -> str:
    n = s.get(f"{P}_norm", "linf")
    return n if n in ("linf", "l2") else "linf"


def _eps_param(norm: str) -> UrlParam:
    hi = EPS_MAX[norm]
    return UrlParam("eps", f"{P}_eps_{norm}", "list", item="float", lo=0.0, hi=hi, max_items=limits.MAX_CURVE_EPS,
                    url_to_widget=format_numbers,
                    widget_to_url=lambda t, hi=hi: parse_numbers(t, 0.0, hi, limits.MAX_CURVE_EPS)[0],
                    when=lambda s, n=norm: _norm(s) == n)


URL_PARAMS = [
    *image_picker_params(P), model_param(P),
    UrlParam("attacks", f"{P}_attacks", "list", item="choice", choices=CHOICES, max_items=len(CHOICES)),
    UrlParam("wc_targets", f"{P}_wc_targets", "int", lo=0, hi=limits.MAX_ENSEMBLE_TARGETS,
             when=lambda s: WORST_CASE in (s.get(f"{P}_attacks") or [])),
    UrlParam("wc_queries", f"{P}_wc_queries", "int", lo=0, hi=2000,
             when=lambda s: WORST_CASE in (s.get(f"{P}_attacks") or [])),
    UrlParam("norm", f"{P}_norm", "choice", choices=["linf", "l2"]),
    _eps_param("linf"), _eps_param("l2"),
    UrlParam("steps", f"{P}_steps", "int", lo=1, hi=limits.MAX_ATTACK_STEPS),
    UrlParam("ratio", f"{P}_ratio", "choice", choices=RATIOS),
    UrlParam("rs", f"{P}_rs", "bool"),
    UrlParam("goal", f"{P}_goal", "choice", choices=["untargeted", "least_likely", "targeted"]),
    UrlParam("target", f"{P}_target", "int", lo=0, hi=999, when=lambda s: s.get(f"{P}_goal") == "targeted"),
    UrlParam("seed", f"{P}_seed", "int", lo=0, hi=2**31 - 1),
    UrlParam("defenses", f"{P}_def_names", "list", item="choice",
             choices=list(DEFENSES), max_items=len(DEFENSES)),
    UrlParam("adaptive", f"{P}_adaptive", "bool"),
    UrlParam("bisect", f"{P}_bisect", "bool"),
    UrlParam("certify", f"{P}_cert", "bool"),
    UrlParam("sigmas", f"{P}_sigmas", "list", item="float", lo=0.01, hi=2.0, max_items=limits.MAX_CURVE_SIGMAS,
             url_to_widget=format_numbers,
             widget_to_url=lambda t: parse_numbers(t, 0.01, 2.0, limits.MAX_CURVE_SIGMAS)[0],
             when=lambda s: bool(s.get(f"{P}_cert"))),
    UrlParam("n", f"{P}_cert_n", "int", lo=16, hi=2048, when=lambda s: bool(s.get(f"{P}_cert"))),
    UrlParam("label", f"{P}_label", "int", lo=0, hi=999),
]

st.title("📈 Robustness curves")
intro(
    "One adversarial example answers *whether* an attack can fool the model; a **curve** answers *how strong* "
    "it must be. For one photo, each chosen attack runs at every budget **ε** in your list — in a single batched "
    "run where the attack allows it (the photo is copied once per ε) — and the plot shows the model's confidence "
    "in the correct class against ε, with a marker for whether the answer is still right (green circle: right, red ✗: fooled). Add defenses to "
    "see how each one shifts the curve, find the **smallest ε that flips the label** by bisection, and see how "
    "large a **certified radius** randomized smoothing gives for each noise level σ.")

url = UrlState(P, URL_PARAMS)
url.seed()
preset_bar(P)  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model(P)
    st.header("Attacks")
    norm = st.radio("Norm", ["linf", "l2"], horizontal=True, key=f"{P}_norm",
                    format_func=lambda n: {"linf": "L∞", "l2": "L2"}[n])
    usable = [a for a, cls in ATTACKS.items() if norm in cls.norms] + [WORST_CASE]
    chosen = st.multiselect("Attacks", CHOICES, default=["FGSM", "PGD"], key=f"{P}_attacks",
                            help=f"Each adds one line per defense. {WORST_CASE}: {WORST_CASE_SUMMARY}")
    dropped = [a for a in chosen if a not in usable]
    attacks = [a for a in chosen if a in usable]
    if dropped:
        st.caption(f"⚠️ {', '.join(dropped)} cannot use {'L∞' if norm == 'linf' else 'L2'}; left out.")
    wc_targets, wc_queries = 3, 300
    if WORST_CASE in attacks:
        wc_targets = st.slider(f"{WORST_CASE}: target classes of APGD-T", 0, limits.MAX_ENSEMBLE_TARGETS, 3,
                               key=f"{P}_wc_targets", help="The most likely other classes, one targeted run each.")
        wc_queries = st.slider(f"{WORST_CASE}: Square queries", 0, 2000, 300, 50, key=f"{P}_wc_queries",
                               help="Model evaluations of the gradient-free attack per ε, on the points that the "
                                    "gradient attacks did not break (paper: 5,000).")
    unit = "k/255" if norm == "linf" else "L2, [0, 1] pixel scale"
    eps_shown = numbers_input(f"ε values ({unit})", f"{P}_eps_{norm}", EPS_DEFAULT[norm], 0.0, EPS_MAX[norm],
                              limits.MAX_CURVE_EPS, help="Comma-separated; at most "
                              f"{limits.MAX_CURVE_EPS}. 0 is the clean image.")
    eps = [e / 255 if norm == "linf" else e for e in eps_shown]
    steps = st.slider("Steps (iterative attacks)", 1, limits.MAX_ATTACK_STEPS, 5, key=f"{P}_steps")
    ratio = st.select_slider("Step size α as a fraction of ε", RATIOS, 0.25, key=f"{P}_ratio",
                             help="α = ε × this, at every point of the curve (PGD and TRADES-KL).")
    rs = st.checkbox("Random start", True, key=f"{P}_rs",
                     help="Every ε starts from the same random direction, scaled by its own ε.")
    goal_mode = st.radio("Goal", ["untargeted", "least_likely", "targeted"], horizontal=True, key=f"{P}_goal",
                         format_func=lambda m: {"untargeted": "Any wrong class", "least_likely": "Least likely",
                                                "targeted": "A chosen class"}[m])
    target = None
    if goal_mode == "targeted":
        target = st.selectbox("Target class", range(len(model.class_names)), index=1, key=f"{P}_target",
                              format_func=lambda i: f"{i}: {model.class_names[i]}")
    if goal_mode != "untargeted" and WORST_CASE in attacks:
        attacks.remove(WORST_CASE)
        st.caption(f"⚠️ {WORST_CASE} looks for any wrong class; left out for this goal.")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{P}_seed"))
    st.header("Defenses")
    defenses, defense_record = defenses_input(f"{P}_def", model)
    adaptive = st.toggle("Adaptive attacker (attacks through each defense)", False, key=f"{P}_adaptive",
                         disabled=not defenses)
    st.header("Extras")
    bisect = st.checkbox("Smallest flipping ε per attack (bisection, ≈ +1–3 s)", False, key=f"{P}_bisect",
                         help="Single-ε runs between the last ε that failed and the first that succeeded, "
                              "on the undefended model.")
    certify = st.checkbox("Certified radius against σ (randomized smoothing)", False, key=f"{P}_cert")
    sigmas, cert_n = [], 64
    if certify:
        sigmas = numbers_input("σ values", f"{P}_sigmas", "0.12, 0.25, 0.5", 0.01, 2.0, limits.MAX_CURVE_SIGMAS)
        cert_n = st.slider("Noisy samples n per σ", 16, 2048, 64, 16, key=f"{P}_cert_n",
                           help="Plus 16 selection samples; α = 0.001.")
    run = action.button("Run", type="primary", key=f"{P}_run") or consume_autorun(P)
    with action:
        stop = StopButton(P)  # drawn only while the curves are computed
    device_caption()
    share_caption()
url.write()
url.show_notes()
upload_note(P)

if img is None:
    st.stop()

# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
clean_top = topk(clean_logits(model_name, model, x), model.class_names)
names = model.class_names
# The new photo's class, not the previous one's; a labelled sample's true class where known.
known = true_label(P, model)
input_default(f"{P}_label", clean_top.top1 if known is None else known, (x, model_name))
label = st.selectbox("Correct class", range(len(names)), key=f"{P}_label",
                     format_func=lambda i: f"{i}: {names[i]}",
                     help="By default the true class of a labelled photo, otherwise the model's own clean "
                          "prediction; set it if you know the true class.")

curve_attacks = curve_attacks_for(attacks, norm, steps=steps, step_ratio=ratio, random_start=rs,
                                  worst_case=(("n_targets", int(wc_targets)), ("square_queries", int(wc_queries))))
goal = Goal(goal_mode, target)
settings = {"model": model_name, "image": img_label, "label": int(label), "label_name": names[label], "norm": norm,
            "eps": eps, "eps_shown": eps_shown, "attacks": attacks, "steps": steps, "step_ratio": ratio,
            "random_start": rs, "goal": goal_mode, "target": target, "defenses": {n: dict(p) for n, p in defense_record},
            "adaptive": adaptive and bool(defenses), "bisection": bisect, "sigmas": sigmas, "cert_n": cert_n,
            "attack_params": {a.name: dict(a.params) for a in curve_attacks}}
if run and (not attacks or not eps):
    st.error("Choose at least one attack and one ε.")
    st.stop()
shown = run_and_show(
    P, run=run, inputs=(x, model_name), button="Run", label="Curves…", stop_button=stop,
    settings=(settings, seed),
    compute=lambda progress: (settings, seed, curves_with_extras(
        model, x, label, eps, curve_attacks, defenses, adaptive=settings["adaptive"], goal=goal, seed=seed,
        bisect=bisect, sigmas=sigmas if certify else (), cert_n=cert_n, progress=progress)))
if shown is None:
    c1, c2 = st.columns([1, 2])
    c1.image(to_numpy_image(x), caption=f"{md(img_label)}: the model says {clean_top.names[0]} ({clean_top.probs[0]:.0%})",
             width="stretch")
    c2.info("Choose attacks and ε values in the sidebar, then press **Run**.")
    st.stop()

# ------------------------------------------------------------------ render
used, used_seed, page_run = shown.value
curves, flips, cert = page_run.curves, page_run.flips, page_run.cert
unfit = pv.classifier_input(used["label_name"], clean_top.names[0], clean_top.probs[0],
                            clean_top.top1 == used["label"], len(model.class_names))
if unfit is not None:  # the curves still show what the attacks do, but not robustness on a fit input
    show_verdict(unfit)
xt, k = eps_axis(curves.norm)
if used["defenses"] and not curves.adaptive:
    show_verdict(pv.non_adaptive("attacks", "A defense whose curve stays high"))

min_eps = {kk: b.eps for kk, b in flips.items()}
fig = curve_figure(curves, names, min_eps)
st.plotly_chart(fig, key=f"{P}_fig", width="stretch")
batched = ", ".join(f"{s.attack} ({'one batched run' if s.batched else 'one run per ε'}, {s.elapsed_s:.1f} s)"
                    for s in curves.series if s.defense == NO_DEFENSE)
st.caption(f"Markers: green circle = still the correct class, red ✗ = fooled, grey square = the defense abstains. "
           f"Line colour = attack, dash = defense. {batched}. Total {curves.elapsed_s:.1f} s.")

show_worst_case(curves, k, xt)  # the result sections below the chart: ui/curve_results.py
show_flips(flips, k, xt)
show_images_and_numbers(curves, names, k, xt, key=P)
show_certified(cert, names, key=P)

with st.expander("Download report"):
    if shown.stale:
        st.info("Press **Run** with the current settings to get their report.")
    else:
        report_download(lambda: curves_report(curves, flips, cert, image=x, image_label=img_label, settings=used,
                                              seed=used_seed, figure=fig, class_names=names),
                        key=f"{P}_report", file_stem=f"curves_{img_label}_{used['model']}")

with st.expander("How to read this"):
    st.markdown(
        "- Each **line** is one attack, classified by the bare model or by one defense. Its height is the "
        "confidence in the correct class (for smoothing defenses: the class's share of the noisy votes).\n"
        "- Attacks that support it (FGSM, PGD, APGD) run **once**, with one copy of the photo per ε; each copy "
        "gets exactly what a single run at that ε and the same seed would (with random start, every ε starts "
        "from the same random direction scaled by its ε). N-FGSM, TRADES-KL and CW-L2 run once per ε; here "
        "N-FGSM is clipped to the ε-ball and CW-L2 respects ε, so that ε bounds every perturbation.\n"
        "- The step size follows ε (α = ε × the chosen fraction), so every point gets the same number of steps "
        "of proportionate size.\n"
        + "".join(f"- **{a}**: {WORST_CASE_SUMMARY if a == WORST_CASE else ATTACK_INFO[a]}\n" for a in attacks))
