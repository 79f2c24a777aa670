"""Feature maps: does a larger last feature map make the model harder to fool?"""
from __future__ import annotations

import streamlit as st

from core.judging import pages as pv

from core.runtime import limits
from core.defenses.feature_size import downsampling_stages, stage_sizes
from core.explain.feature_maps import Setting, compare_settings, pooling_demo, variant_model
from core.viz.common import to_numpy_image
from core.viz.explain import pooling_demo_figure, sensitivity_figure, stage_sizes_figure
from core.data.safe_text import md
from ui.common import action_bar, device_caption, get_model, image_and_model, image_tensor, intro
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show
from ui.user_models import require
from ui.verdicts import show_verdict

st.title("🧩 Feature maps")
intro(
    "A convolutional network shrinks the image step by step into smaller and smaller **feature maps**; the "
    "last one is averaged into a single vector before the classifier. Xu et al. (TNNLS 2025) argue that a "
    "**larger last map makes a model more robust**, because averaging over more positions damps a "
    "perturbation's effect, and that this does **not** hold for max pooling. Here you can enlarge the maps "
    "of a pretrained model, by upsampling the image inside the model or by removing a downsampling step, "
    "and measure how sensitive it becomes to noise and how small an attack still flips its answer.")

preset_bar("fm")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model("fm")
    require(model, "stages", "The Feature maps page")  # user models without named stages get a note
    st.header("Settings to compare")
    factors = st.multiselect("Input upsampling s (nearest)", [1.0, 1.5, 2.0], default=[1.0], key="fm_up",
                             format_func=lambda s: f"×{s:g}", help="Each pass costs about s² times a plain one.")
    down = downsampling_stages(model)
    # Default: the plain model against stride 1 in the last downsampling stage (the paper's way to a
    # larger last map; it costs about twice a plain pass, where ×2 upsampling costs four times).
    stride1 = st.multiselect("Stride 1 in a stage (at ×1)", down, default=down[-1:], key="fm_stride",
                             help="Removing a downsampling step doubles every later map in each direction; only the "
                                  "stages after it cost more.")
    st.header("Measurements")
    sigma = st.slider("Noise σ (k/255)", 1, 16, 4, key="fm_sigma") / 255
    pgd_eps = st.select_slider("Short PGD ε (k/255)", [0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], 0.25,
                               key="fm_pgd_eps", format_func=lambda v: f"{v:g}") / 255
    pgd_steps = st.slider("PGD steps", 1, 10, 5, key="fm_pgd_steps")
    bisect = st.checkbox("Smallest flipping ε (bisection, ≈ 10–20 s)", False, key="fm_bisect",
                         help="About 10 short PGD runs per setting.")
    hi = st.slider("Search ε up to (k/255)", 1, 16, 2, key="fm_hi", disabled=not bisect) / 255
    run = action.button("Compare", type="primary", key="fm_run") or consume_autorun("fm")
    device_caption()

settings = [Setting(float(s)) for s in factors] + [Setting(1.0, (st_,)) for st_ in stride1]


@st.cache_data(show_spinner=False, max_entries=64)
def sizes_for(name: str, chosen: tuple[Setting, ...], hw: tuple[int, int]) -> dict:
    """Stage sizes of every setting (one forward pass of a zero image each), cached."""
    m = get_model(name)
    return {s.label: stage_sizes(variant_model(m, s), hw) for s in chosen}


if not settings:
    st.info("Choose at least one setting in the sidebar.")
    st.stop()
if len(settings) > limits.MAX_FEATURE_SETTINGS:
    st.error(f"Compare at most {limits.MAX_FEATURE_SETTINGS} settings at a time.")
    st.stop()

if img is None:
    st.stop()
x = image_tensor(img, model_name)

st.subheader("Sensitivity and attackability per setting")
shown = run_and_show(
    "fm", run=run, inputs=(x, model_name), button="Compare", label="Measuring…",
    settings=(settings, sigma, pgd_eps, pgd_steps, bisect, hi),
    compute=lambda progress: compare_settings(model, x, settings, noise_sigma=sigma, pgd_eps=pgd_eps,
                                              pgd_steps=pgd_steps, bisect=bisect, bisect_hi=hi, progress=progress))
if shown is None:
    st.image(to_numpy_image(x), caption=f"{md(img_label)} as the model sees it", width=240)
    st.info("Press **Compare** above. Each setting runs a few forward passes, a short PGD and, with "
            "bisection on, about ten more short PGD runs (×s² the cost of the plain model).")
else:
    results = shown.value
    names = model.class_names
    rows = []
    unfit = {}  # settings whose clean prediction cannot be compared (core.judging.pages): near chance / unsure
    for r in results:
        v = pv.classifier_input(names[r.label], names[r.clean_pred], r.clean_prob, True, len(names))
        if v is not None:
            unfit[r.setting.label] = v
    for r in results:
        e = None if r.min_eps is None else r.min_eps.eps
        rows.append({
            "setting": r.setting.label + (f" ⚪ {unfit[r.setting.label].word}" if r.setting.label in unfit else ""),
            "last map": f"{r.final_hw[0]}×{r.final_hw[1]}",
            "clean prediction": f"{names[r.clean_pred]} ({r.clean_prob:.0%})",
            "pooled-feature change": round(r.sensitivity["pooled"], 4),
            "logit change": round(r.sensitivity["logits"], 4),
            f"PGD-{pgd_steps} at {pgd_eps * 255:g}/255 flips": "yes" if r.pgd_success else "no",
            "smallest flipping ε (/255)": ("—" if r.min_eps is None else f"> {hi * 255:g}" if e is None
                                           else f"{e * 255:.3f}"),
            "time (s)": round(r.elapsed_s, 1),
        })
    moved = [r.setting.label for r in results[1:] if r.clean_pred != results[0].clean_pred]
    if moved:
        st.warning(f"⚠️ {', '.join(moved)} already {'changes' if len(moved) == 1 else 'change'} the clean prediction (from "
                   f"“{names[results[0].clean_pred]}”): these pretrained weights were not trained for larger maps, "
                   "so compare their sensitivity with care.")
    for lab, v in unfit.items():
        show_verdict(f"**{lab}**: " + v.sentence + " Its row is marked ⚪: do not compare its flips and noise "
                     "sensitivity with the other settings'.", v.tone)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.plotly_chart(sensitivity_figure(results), key="fm_sens", width="stretch")
    st.caption(f"Noise: the same Gaussian draw (σ = {sigma * 255:g}/255, seeded) for every setting; changes are "
               "‖Δ‖/‖·‖ averaged over 4 draws. PGD tries to change each setting's own clean prediction, with no random "
               "start and step 2.5·ε/steps. Bisection reports the smallest ε it saw succeed (an upper bound, to about "
               "10 %). ε below 0.5/255 does not survive saving the image with 8 bits per channel.")

st.warning("The paper's gains come from **training** with the larger maps. These are the pretrained weights used "
           "as they are, so expect clean accuracy to change (objects appear at a different scale to the "
           "filters); treat the numbers as an exploration, not a test of the claim.")

st.subheader("Feature-map sizes")
hw = tuple(model.input_size) if isinstance(model.input_size, (tuple, list)) else (model.input_size, model.input_size)
sizes = sizes_for(model_name, tuple(settings), hw)
st.plotly_chart(stage_sizes_figure(sizes), key="fm_sizes", width="stretch")
last = model.stage_names[-1]
st.caption(f"Input {hw[0]}×{hw[1]}. Last map before pooling ('{last}'): "
           + "; ".join(f"{lab}: {sz[last][1]}×{sz[last][2]}" for lab, sz in sizes.items()) + ".")

st.subheader("Why average pooling and not max pooling?")
st.markdown(
    "A small numeric experiment, no network involved: a map of n×n non-negative activations is pooled to one "
    "number, before and after a perturbation of the same size per position. Averaging divides a change at one "
    "position by n² and shrinks zero-mean noise like 1/n; the maximum passes a change of the top position on "
    "in full, and noise's largest excursion does not shrink. A change that raises **every** position alike "
    "passes through both unchanged: averaging only damps perturbations that vary across the map.")
st.plotly_chart(pooling_demo_figure(pooling_demo()), key="fm_pool", width="stretch")

with st.expander("What am I looking at?"):
    st.markdown(
        "- **Upsampling ×s** enlarges the image inside the model (nearest neighbour), so every map is s× larger "
        "in each direction while the attacker still changes the original pixels with the same ε.\n"
        "- **Stride 1** removes one halving of the map; the weights are unchanged, so the filters see the image "
        "at a different scale.\n"
        "- **Sensitivity** is how much the pooled feature vector and the scores move under a fixed random noise; "
        "the paper predicts it falls as the last map grows (for a model trained that way).\n"
        "- **Smallest flipping ε** is found by bisection: attack at ε, halve the bracket, repeat.")
