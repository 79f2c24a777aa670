"""Batch evaluation: success rate and accuracy against ε for one model × defenses over many
images (the bundled photos, a ZIP archive or several image files)."""
from __future__ import annotations

import os

import streamlit as st

from core.runtime import limits
from core.data.safe_text import md
from core.attacks import ATTACK_INFO, ATTACKS
from core.defenses import DEFENSES
from core.runtime.device import describe_device
from core.evaluation.ensemble import WORST_CASE_NORMS, EnsembleConfig
from core.evaluation.batch.engine import evaluate_here_or_on_cluster
from core.evaluation.batch.evaluate import (LABEL_NOTE, comparison_notes, WORST_CASE, WORST_CASE_CLI, BatchResult, EvalSettings, batch_attacks)
from core.viz.run_reports import batch_report
from core.data.image_sets import ImageItem
from core.data.images import list_samples
from core.data.labels import Labeler, LabelError, parse_labels
from core.judging import pages as pv
from core.judging.stats import interval_note
from core.viz.curves import batch_breakdown_table, batch_figure, batch_summary_table, eps_axis
from ui.common import action_bar, device_caption, get_model, intro, model_picker
from ui.image_sources import SOURCES, choose_images, cli_for
from ui.long_work import StopButton
from ui.presets import consume_autorun, preset_bar
from ui.sweep_widgets import defenses_input, format_numbers, numbers_input, parse_numbers
from ui.report import report_download
from ui.run import kept, run_and_show
from ui.tables import show_table
from ui.urlstate import UrlParam, UrlState, model_param, share_caption
from ui.verdicts import show_verdict

P = "bat"
RAY_ADDRESS = os.environ.get("RAY_ADDRESS", "")  # a configured Ray cluster: large jobs may be sent there
RATIOS = [0.1, 0.25, 0.5, 1.0]
EPS_DEFAULT = {"linf": "0.0625, 0.125, 0.25, 0.5", "l2": "0.25, 0.5, 1, 2"}  # the default run in < 3 s
EPS_MAX = {"linf": 64.0, "l2": 50.0}


def _norms(attack: str) -> tuple[str, ...]:
    """The norms an attack choice supports."""
    if attack == WORST_CASE:
        return WORST_CASE_NORMS
    return tuple(ATTACKS[attack].norms) if attack in ATTACKS else ("linf",)


def _worst(s) -> bool:
    return s.get(f"{P}_attack", "FGSM") == WORST_CASE


def _norm(s) -> str:
    norms = _norms(s.get(f"{P}_attack", "FGSM"))
    n = s.get(f"{P}_norm", norms[0])
    return n if n in norms else norms[0]


def _eps_param(norm: str) -> UrlParam:
    hi = EPS_MAX[norm]
    return UrlParam("eps", f"{P}_eps_{norm}", "list", item="float", lo=0.0, hi=hi, max_items=limits.MAX_CURVE_EPS,
                    url_to_widget=format_numbers,
                    widget_to_url=lambda t, hi=hi: parse_numbers(t, 0.0, hi, limits.MAX_CURVE_EPS)[0],
                    when=lambda s, n=norm: _norm(s) == n)


URL_PARAMS = [
    UrlParam("src", f"{P}_src", "choice", choices=list(SOURCES), url_to_widget=lambda v: SOURCES[v],
             widget_to_url=lambda w: {b: a for a, b in SOURCES.items()}.get(w, "bundled")),
    UrlParam("samples", f"{P}_samples", "list", item="choice", choices=lambda: [s.key for s in list_samples()],
             max_items=100, when=lambda s: s.get(f"{P}_src", SOURCES["bundled"]) == SOURCES["bundled"]),
    model_param(P),
    UrlParam("attack", f"{P}_attack", "choice", choices=batch_attacks()),
    UrlParam("norm", f"{P}_norm", "choice", choices=["linf", "l2"],
             when=lambda s: len(_norms(s.get(f"{P}_attack", "FGSM"))) > 1),
    _eps_param("linf"), _eps_param("l2"),
    UrlParam("steps", f"{P}_steps", "int", lo=1, hi=limits.MAX_ATTACK_STEPS),
    UrlParam("ratio", f"{P}_ratio", "choice", choices=RATIOS, when=lambda s: not _worst(s)),
    UrlParam("rs", f"{P}_rs", "bool", when=lambda s: not _worst(s)),
    UrlParam("targets", f"{P}_targets", "int", lo=1, hi=limits.MAX_ENSEMBLE_TARGETS, when=_worst),
    UrlParam("squareq", f"{P}_squareq", "int", lo=1, hi=limits.MAX_SQUARE_QUERIES, when=_worst),
    UrlParam("seed", f"{P}_seed", "int", lo=0, hi=2**31 - 1),
    UrlParam("defenses", f"{P}_def_names", "list", item="choice", choices=list(DEFENSES), max_items=len(DEFENSES)),
    UrlParam("adaptive", f"{P}_adaptive", "bool", when=lambda s: not _worst(s)),
    UrlParam("max", f"{P}_max", "int", lo=1, hi=limits.MAX_EVAL_IMAGES),
]


st.title("🗂️ Batch evaluation")
intro(
    "How often does an attack succeed, and how much accuracy is left, as the budget **ε** grows — over many "
    "images rather than one? Pick the bundled photos, upload a **ZIP archive** or several image files, choose an "
    "attack, a list of ε and optionally some defenses, then press **Run**. Each image is attacked once per "
    "attack, one copy per ε, and classified by the bare model and by every defense. The same numbers come out "
    "of the command line: the exact command is shown under the results.")

url = UrlState(P, URL_PARAMS)
url.seed()
preset_bar(P)  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    st.header("Images")
    src = st.radio("Source", list(SOURCES.values()), key=f"{P}_src")
    max_images = st.slider("At most this many images", 1, limits.MAX_EVAL_IMAGES, 50, key=f"{P}_max")
    st.header("Model")
    model_name = model_picker(P)
    model = get_model(model_name)
    st.header("Attack")
    attack = st.selectbox("Attack", batch_attacks(), index=0, key=f"{P}_attack",
                          help=f"{WORST_CASE}: the worst case per image over an ensemble (APGD-CE, targeted "
                               "APGD-DLR, Square) — the robust accuracy to quote.")
    worst = attack == WORST_CASE
    norms = list(_norms(attack))
    norm = norms[0] if len(norms) == 1 else st.radio("Norm", norms, horizontal=True, key=f"{P}_norm",
                                                     format_func=lambda n: {"linf": "L∞", "l2": "L2"}[n])
    unit = "k/255" if norm == "linf" else "L2, [0, 1] pixel scale"
    eps_shown = numbers_input(f"ε values ({unit})", f"{P}_eps_{norm}", EPS_DEFAULT[norm], 0.0, EPS_MAX[norm],
                              limits.MAX_CURVE_EPS)
    eps = [e / 255 if norm == "linf" else e for e in eps_shown]
    steps = st.slider("APGD iterations" if worst else "Steps (iterative attacks)", 1, limits.MAX_ATTACK_STEPS, 10,
                      key=f"{P}_steps")
    attack_params: tuple = ()
    if worst:  # the ensemble sets its own step sizes, random starts and restarts
        n_targets = st.slider("Target classes (targeted APGD-DLR)", 1, limits.MAX_ENSEMBLE_TARGETS,
                              EnsembleConfig.n_targets, key=f"{P}_targets")
        square_q = int(st.number_input("Square queries per image", 1, limits.MAX_SQUARE_QUERIES, EnsembleConfig.square_queries,
                                       key=f"{P}_squareq"))
        attack_params = (("n_targets", int(n_targets)), ("square_queries", square_q))
        ratio, rs = None, None
    else:
        ratio = st.select_slider("Step size α as a fraction of ε", RATIOS, 0.25, key=f"{P}_ratio")
        rs = st.checkbox("Random start (PGD, APGD)", True, key=f"{P}_rs")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{P}_seed"))
    st.header("Defenses")
    defenses, defense_record = defenses_input(f"{P}_def", model)
    adaptive = st.toggle("Adaptive attacker (attacks through each defense)", False, key=f"{P}_adaptive",
                         disabled=not defenses or worst,
                         help=f"Not with {WORST_CASE}: the ensemble attacks the bare model." if worst else None)
    run = action.button("Run", type="primary", key=f"{P}_run") or consume_autorun(P)
    with action:
        stop = StopButton(P)  # drawn only while the evaluation runs
    on_ray = bool(RAY_ADDRESS) and st.toggle("Run on the Ray cluster", False, key=f"{P}_ray",
                                             help=f"Send the evaluation to the Ray cluster at RAY_ADDRESS "
                                                  f"({RAY_ADDRESS}); same numbers, spread over its workers.")
    device_caption()
    share_caption()
url.write()
url.show_notes()

# ----------------------------------------------------------------------------- the images
chosen = choose_images(P, src, model_name, max_images)  # ui/image_sources.py
images, sample_keys = chosen.images, chosen.sample_keys
if images is None or not images.items:
    st.info("Choose some images (bundled photos, a ZIP archive or image files).")
    st.stop()
labeler = Labeler(parse_labels("pattern" if src == SOURCES["labelled"] else None), model.class_names)
try:
    labels = {n: labeler.label(n) for n in images.names} if labeler.labelled else None
except LabelError as e:
    st.error(f"Cannot use the labels: {md(e, max_chars=600)}")
    st.stop()
st.info(f"**Labels.** {labeler.note() if labeler.labelled else LABEL_NOTE}")
st.caption(f"{len(images.items)} image(s): " + ", ".join(md(n, max_chars=80) for n in images.names[:12])
           + (" …" if len(images.items) > 12 else ""))

try:
    settings = EvalSettings(model=model_name, attack=attack, norm=norm, eps=tuple(eps), steps=steps, step_ratio=ratio,
                            random_start=rs, attack_params=attack_params, defenses=defense_record,
                            adaptive=adaptive and bool(defenses) and not worst, seed=seed)
except ValueError as e:
    st.error(f"Cannot evaluate with these settings: {e}")
    st.stop()
inputs = (model_name, images.names, [x for _, x in images.items])
if stop.pressed:  # run_and_show says "Stopped"; here, how much of the run was finished
    partial = kept(P)
    if partial is not None and not partial[0].complete:
        st.warning(f"Stopped after {len(partial[0].images)} of {partial[1]} image(s); the results below cover those.")

# Kept before the work starts: if the run is stopped, the finished images stay.
result = BatchResult(settings=settings, skipped=images.messages(), device=describe_device(),
                     label_note=labeler.note() if labeler.labelled else LABEL_NOTE,
                     label_source=labeler.spec.describe() if labeler.labelled else "clean prediction of the bare model")
items = [ImageItem(n, k, x) for (n, x), k in zip(images.items, images.keys)]  # keys: per-image seeds
partial = (result, len(images.items))


def evaluate(progress) -> tuple:
    evaluate_here_or_on_cluster(model, items, settings, labeler, defenses=defenses, labels=labels, progress=progress,
                                into=result, address=RAY_ADDRESS if on_ray else None)
    return partial


shown = run_and_show(
    P, run=run, inputs=inputs, settings=(settings, labels, on_ray), button="Run", label="Evaluating:",
    stop_button=stop, keep_partial=partial if run else None, compute=evaluate)
if shown is None:
    st.info("Press **Run** above.")
    st.stop()
result, n_total = shown.value
if not result.images:
    st.info("No image was finished.")
    st.stop()

s = result.settings
xt, k = eps_axis(s.norm)
summary = result.summary()
if s.defenses and not s.adaptive:
    show_verdict(pv.non_adaptive("attack", "A defense that keeps its accuracy"))
if not result.complete:
    st.caption(f"Partial results: {len(result.images)} of {n_total} image(s).")
st.plotly_chart(batch_figure(summary, s.norm, title=f"{s.attack} on {s.model}: {len(result.images)} image(s)"),
                key=f"{P}_fig", width="stretch")
st.caption("Left: share of images still classified as their label (ε = 0: clean). Right: among the images a defense "
           "got right when clean, the share the attack made it get wrong. Abstentions of certified defenses count "
           f"as wrong for accuracy and not as success. Error bars: exact 95 % intervals. "
           f"{interval_note(len(result.images))} {result.elapsed_s:.1f} s in all.")
show_table(batch_summary_table(summary, k),
           percent=("accuracy", "success rate", "abstain", "mean P(label)"))
vs_bare = comparison_notes(summary, s.norm)
if vs_bare:
    with st.expander("Defended vs undefended, image by image (exact McNemar on the same images)"):
        st.markdown("\n".join(f"- {md(t, max_chars=None)}" for t in vs_bare))
st.markdown(f"**Robust accuracy of the bare model** — {s.attack_description()}")
st.info(result.robust_accuracy_note())  # registry names and numbers only
show_table(batch_breakdown_table(result.breakdown(), result.breakdown_attacks(), k),
           percent=("robust accuracy",))
with st.expander("Per image"):
    show_table([{**r, "eps": round(r["eps"] * k, 4)} for r in result.image_rows(model.class_names)])

cmd = cli_for(s, src, sample_keys)
st.markdown("**The same evaluation from the command line** (same code, same numbers):")
st.code(cmd, language="bash", wrap_lines=True)

with st.expander("Download report"):
    report_download(lambda: batch_report(result, model.class_names, page="views/batch.py"), key=f"{P}_report",
                    file_stem=f"batch_{WORST_CASE_CLI if s.worst_case else s.attack}_{s.model}")

with st.expander("How the numbers are made"):
    st.markdown(
        (f"- **{s.attack}**: {ATTACK_INFO[s.attack]}\n" if s.attack in ATTACK_INFO else
         f"- **{WORST_CASE}**: {s.attack_description()}. Robust accuracy counts the images classified "
         "correctly both clean and after every attack of the ensemble.\n")
        + "- Every image is attacked with its own seed, derived from the seed and the image (its name and content), "
        "so its numbers do not depend on the other images or on where they were computed. Attacks "
        "that support it (FGSM, PGD, APGD) attack all ε in one batched run per image.\n"
        "- ZIP archives are read without extracting anything: at most "
        f"{limits.MAX_ZIP_MEMBERS} entries and {limits.MAX_ZIP_TOTAL_BYTES // 2**20} MB uncompressed; entries "
        "with absolute paths or “..” are ignored, non-images are skipped with a message.\n"
        "- **Stop** ends the run at the next progress update and keeps the images already finished.")
