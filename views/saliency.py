"""Saliency: where does the model look, on the clean photo, the attacked one and a defended view?"""
from __future__ import annotations

import streamlit as st

from core.explain.defended import DEFENDED_OPTIONS
from core.explain.saliency_panels import agreement_rows
from core.explain.saliency import METHODS
from core.explain.saliency_experiment import saliency_experiment
from core.viz.common import to_numpy_image
from core.viz.explain import saliency_row
from core.models.user.architectures import capabilities
from core.data.safe_text import md
from ui.common import action_bar, attack_picker, device_caption, image_and_model, image_tensor, intro
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show

st.title("🔥 Saliency")
intro(
    "A **saliency map** colours each pixel by how much it matters to the model's answer. Here the same "
    "method is applied to the clean photo, to an adversarial version of it, and (optionally) to what a "
    "defended system sees, and the three maps share **one colour scale**, so equal colours mean equal "
    "values. Gradient maps ask *how fast would the score change if this pixel changed*; occlusion and "
    "blur maps actually change parts of the image and watch the output. If the attack really changed "
    "*where* the model looks, the maps disagree; the numbers below each row say by how much.")

DEFAULT_METHODS = ["saliency", "gradcam"]

preset_bar("sal")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model("sal")
    st.header("Attack")
    choice = attack_picker("sal", model.class_names)
    st.header("Explanations")
    methods = st.multiselect("Methods", list(METHODS), default=DEFAULT_METHODS, key="sal_methods",
                             format_func=lambda k: f"{METHODS[k].label} ({METHODS[k].cost})",
                             help="Cost in P = one forward+backward pass (≈0.1 s on a CPU), F = one forward pass.")
    target_mode = st.radio("Explain the score of", ["own", "clean"], key="sal_target",
                           format_func=lambda m: {"own": "each image's own top class",
                                                  "clean": "the clean image's top class"}[m])
    defense = st.selectbox("Third column", ["none", *DEFENDED_OPTIONS], index=1, key="sal_defense",
                           help="JPEG: the adversarial image after JPEG compression, same model. "
                                "CIFS-lite: the adversarial image on the model with the CIFS-lite channel mask.")
    frac = st.slider("Top-k % for the overlap", 1, 50, 10, key="sal_frac") / 100
    opacity = st.slider("Overlay strength", 0.0, 1.0, 0.9, 0.05, key="sal_opacity")
    params: dict[str, dict] = {}
    with st.expander("Method settings"):
        if "integrated_gradients" in methods or "occlusion" in methods:
            base = st.radio("Reference image (IG, occlusion)", ["black", "blur"], horizontal=True, key="sal_baseline")
            params["integrated_gradients"] = {"baseline": base,
                                              "n_steps": st.slider("IG steps", 4, 64, 16, key="sal_ig_steps")}
            params["occlusion"] = {"baseline": base}
        if "smoothgrad" in methods:
            params["smoothgrad"] = {"nt_samples": st.slider("SmoothGrad samples", 4, 64, 16, key="sal_sg_n"),
                                    "stdev": st.slider("SmoothGrad noise σ", 0.05, 0.3, 0.15, 0.05, key="sal_sg_std"),
                                    "seed": choice.seed}
        if "gradcam" in methods and "head" not in capabilities(model):
            st.info("Grad-CAM needs a feature map before the classifier; this model has none, so it is left out.")
            methods = [m for m in methods if m != "gradcam"]
        if "gradcam" in methods:
            stages = [s for s in model.stage_names if s != "stem"]
            params["gradcam"] = {"stage": st.selectbox("Grad-CAM stage", stages, index=len(stages) - 1,
                                                       key="sal_gc_stage")}
        if "perturbation" in methods:
            params["perturbation"] = {"output": st.radio("Blur map compares", ["logits", "softmax"],
                                                         horizontal=True, key="sal_pert_out")}
        if "jacobian" in methods:
            params["jacobian"] = {"k": st.slider("Jacobian: top-k classes", 1, 10, 5, key="sal_jac_k")}
    run = action.button("Compute", type="primary", key="sal_run") or consume_autorun("sal")
    device_caption()

if img is None:
    st.stop()
# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
if run and not methods:
    st.warning("Choose at least one method.")
    st.stop()
shown = run_and_show(
    "sal", run=run, inputs=(x, model_name), button="Compute", label="Explaining…",
    settings=(choice, methods, target_mode, defense, params),
    compute=lambda progress: saliency_experiment(model, x, choice.name, choice.threat, choice.params, choice.goal,
                                                 choice.seed, methods=methods, method_params=params, defense=defense,
                                                 target_mode=target_mode, progress=progress))
if shown is None:
    st.image(to_numpy_image(x), caption=f"{md(img_label)} as the model sees it", width=280)
    st.info("Choose methods and press **Compute** above. Gradient and Grad-CAM take a fraction of a "
            "second; occlusion and integrated gradients take a few seconds on a CPU.")
    st.stop()

# ------------------------------------------------------------------ render
panels, maps = shown.value.panels, shown.value.maps
names = model.class_names
st.markdown(" · ".join(f"**{p.title}**: {names[p.pred]} ({p.prob:.0%})"
                       + ("" if p.target == p.pred else f", explaining “{names[p.target]}”") for p in panels))
photos = [to_numpy_image(p.image) for p in panels]
for m, mlist in maps.items():
    info = METHODS[m]
    st.subheader(info.label)
    st.caption(info.summary + (" Signed: red raises the score, blue lowers it." if info.signed else ""))
    titles = [f"{p.title}<br>“{names[p.target][:26]}”" for p in panels]
    st.plotly_chart(saliency_row(photos, mlist, titles, info.signed, opacity=opacity), key=f"sal_fig_{m}",
                    width="stretch")
    rows = agreement_rows(panels, mlist, info.signed, frac)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")

with st.expander("What am I looking at?"):
    st.markdown(
        "- **One colour scale per row**: 0 (transparent) up to the 99.5th percentile of the three maps "
        "together; signed maps run from blue (against the class) through transparent to red (for it).\n"
        "- **Spearman ρ** compares the *ranking* of pixels between two maps (1 = same order, 0 = unrelated); "
        "**top-k % IoU** is the overlap of the most salient k % of pixels (1 = the same pixels). Signed maps "
        "are compared by magnitude.\n"
        "- **Blur perturbation** (Greydanus et al. 2018) blurs a soft spot of the image at a time and measures "
        "½‖f(x) − f(x′)‖² over all outputs; it is the map the J-SIGR training method asks the model's "
        "gradients to resemble. **Jacobian norm** sums the squared gradients of the five highest scores: what "
        "Jacobian regularisation penalises.\n"
        "- **Guided backpropagation and Guided Grad-CAM are not offered**: captum implements them by hooking "
        "`nn.ReLU` modules, and these models use the functional ReLU6, so captum would silently return plain "
        "gradients under a 'guided' label.\n"
        "- The adversarial image is made against the **undefended** model (a non-adaptive attack), so the third "
        "column shows how a defense treats an attack that ignored it, not how robust it is.")
