"""Segmentation: attack a person mask or a multi-class label map, defend it by equivariance; and
the denoiser section (ObsAtk, HAT, a classical denoiser, purification before a classifier)."""
from __future__ import annotations

import streamlit as st

from core.attacks.dense.seg_targets import mask_of_image, shape_mask
from core.defenses.seg_equivariance import SegEquivariancePurification, run_experiment
from core.evaluation.dense.denoise import ALL_DENOISERS, run_denoise_experiment
from core.evaluation.dense.equivariance_eval import DefenseSettings
from core.evaluation.dense.page import (DENSE_ATTACKS, DenseGoal, class_names_of, goal_preview, is_multiclass, n_test_scenes,
                             predict_labels, present_classes, run_dense_experiment, scene_input)
from core.explain.cam_mask import cam_mask_model
from core.data.images import stretch, to_tensor
from core.models import list_models
from core.data.safe_text import html
from core.explain.analysis import mask_probability
from core.data.fashion_mnist import SUBSET_PATH
from core.viz.dense.segmentation import (class_colours, display_size, image_grid, label_grid, label_image, label_overlay,
                                   overlay, target_preview)
from ui.common import action_bar, device_caption, get_model, image_picker, intro, memo_on_image, model_picker, model_spec
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show
from ui.segmentation import (DENSE_ADAPTIVE, GOALS, defense_picker, dense_attack_picker, dense_goal_picker,
                             denoise_picker, goal_picker, scene_picker, threat_picker)
from ui.long_work import QUIET_BAR_INTERVAL_S
from ui.dense_results import show_dense_result, show_denoise_result, show_mask_result
from ui.fewshot import chosen_episode, compute_demo, fewshot_models, fewshot_picker, show_demo, show_episode
from ui.user_models import require

CAM = "Class-activation mask (approximate)"
TASKS = {"segment": "Segmentation", "denoise": "Denoising (ObsAtk)", "fewshot": "Few-shot (R-PNODE)"}

st.title("👤 Segmentation")
intro(
    "A **segmentation model** colours every pixel: here, *is this pixel part of a person?* "
    "(Google's MediaPipe selfie model, the one behind video-call background effects), or, for the "
    "**Garment U-Net** trained in this project, *which of 10 garments (or background) is this pixel?* "
    "An attacker can change the photo by at most **ε** per pixel — invisible to you — and make the "
    "person vanish from the mask, paint a shape or a class of their choosing into it, or just break it. "
    "The **equivariance defense** uses a simple fact: on a normal photo, the mask of a flipped, "
    "resized or rotated copy, turned back, matches the original mask. Adversarial noise breaks that "
    "agreement, so the defense nudges the photo until the copies agree again — no training needed. "
    "**IoU** (overlap ÷ union) and **mIoU** (its mean over the classes) say how much of the mask survived. "
    "The **Denoising** task attacks deep denoisers (ObsAtk) and shows that denoising before a classifier "
    "is no defense against an attacker who knows it. The **Few-shot** task segments a garment class never seen in "
    "training from one annotated example and attacks R-PNODE (a neural-ODE segmenter) and a prototype CNN.")

preset_bar("seg")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    task = st.radio("Task", list(TASKS), format_func=TASKS.get, key="seg_task", horizontal=True)
    if task == "segment":
        st.header("Mask model")
        seg_names = [s.name for s in list_models("segmentation")]
        source = st.selectbox("Model", seg_names + [CAM], key="seg_model",
                              help="MediaPipe: person masks. Garment U-Net: 11 classes on garment scenes. The "
                                   "class-activation mask is an approximate object mask from an ImageNet classifier.")
multi = task == "segment" and source != CAM and is_multiclass(model_spec(source).num_classes)

# ================================================================== denoising (ObsAtk, HAT)
if task == "denoise":
    with st.sidebar:
        st.header("Denoiser")
        ns = denoise_picker("seg", ALL_DENOISERS, 1000)
        run = action.button("Run attack", type="primary", key="seg_run") or consume_autorun("seg")
        device_caption()
    st.caption(f"Images: the shipped Fashion-MNIST test subset ({SUBSET_PATH.name}); Gaussian noise σ = 25/255; "
               "classifier on the denoised image: fmnist-standard (the zoo's standard model).")
    shown = run_and_show(
        "seg", run=run, inputs=("denoise", ns["position"]), button="Run attack", label="Attacking the denoiser…",
        settings=ns,
        compute=lambda progress: run_denoise_experiment(ns["position"], ns["denoiser"], ns["eps_k"] / 255,
                                                        steps=ns["steps"], objective=ns["objective"],
                                                        curve_images=ns["curve"], progress=progress))
    if shown is None:
        st.info("Press **Run attack** above: noise the image, attack the denoiser within ε, and classify the result.")
        st.stop()
    show_denoise_result(shown.value)
    st.stop()

# ================================================================== few-shot (R-PNODE vs a prototype CNN)
if task == "fewshot":
    with st.sidebar:
        fs = fewshot_picker("seg")
        run = action.button("Run attack", type="primary", key="seg_run") or consume_autorun("seg")
        device_caption()
    fs_ep = chosen_episode(fs)
    if fs_ep is None:
        st.stop()
    show_episode(fs, fs_ep)
    shown = run_and_show("seg", run=run, inputs=("fewshot", fs["episode"]), button="Run attack", label="Attacking…",
                         settings=fs, compute=compute_demo(fs, fs_ep, fewshot_models(fs["dopri5"])))
    if shown is None:
        st.info("Press **Run attack** above: attack this episode's query (or support) against each few-shot model.")
        st.stop()
    show_demo(shown.value)
    st.stop()

# ================================================================== multi-class label maps
if multi:
    model = get_model(source)
    names = class_names_of(model)
    colours = class_colours(len(names))
    with st.sidebar:
        st.header("Image")
        dsrc, scene_idx = scene_picker("seg", n_test_scenes())
        img = None
        if dsrc == "photo":
            img, img_label = image_picker("seg", default="astronaut", labelled=False)
        st.header("Attack")
        dgoal = DenseGoal(**dense_goal_picker("seg", names))
        dattack, queries = dense_attack_picker("seg", DENSE_ATTACKS)
        threat, seed = threat_picker("seg")
        st.header("Defense")
        dchoice = defense_picker("seg", ["logits"], DENSE_ADAPTIVE)
        run = action.button("Run attack", type="primary", key="seg_run") or consume_autorun("seg")
        device_caption()
    if dsrc == "photo":
        if img is None:
            st.stop()
        x, ref = to_tensor(stretch(img, model_spec(source).input_size)), None
    else:
        x, ref = scene_input(scene_idx, model)
    clean = predict_labels(model, x)
    reference = clean if ref is None else ref
    disp = (300, 300) if dsrc == "scene" else display_size(tuple(x.shape[-2:]), img.width / img.height, 300)
    defense = (DefenseSettings(views=dchoice.views, steps=dchoice.steps, eps_v=dchoice.eps_v)
               if dchoice.enabled else None)
    shown = run_and_show(
        "seg", run=run, inputs=(x, source, dsrc, scene_idx), button="Run attack", label="Attacking the label map…",
        settings=(dgoal, dattack, queries, threat, seed, dchoice),
        compute=lambda progress: run_dense_experiment(
            model, x, ref, dgoal, threat, dattack, defense, adaptive=dchoice.adaptive if defense else "none",
            lam=dchoice.lam, square_queries=queries, class_names=names, seed=seed, progress=progress))
    if shown is None:
        target = goal_preview(dgoal, reference)
        panels = [("image", label_overlay(x, clean, colours, alpha=0.0, size_hw=disp)),
                  ("ground truth" if ref is not None else "reference = clean prediction", label_image(reference, colours, disp)),
                  ("clean prediction", label_image(clean, colours, disp))]
        if target is not None:
            panels.append(("target map", label_image(target, colours, disp)))
        st.plotly_chart(label_grid(panels, names, colours, present_classes(reference, clean, target), height=330),
                        key="seg_dense_preview")
        st.info("Press **Run attack** above." + (" The worst case is untargeted: choose *Break the map*."
                                                 if dattack.startswith("Worst") and dgoal.mode != "untargeted" else ""))
        st.stop()
    show_dense_result(shown.value, names, colours, disp)
    st.stop()

# ================================================================== person masks
with st.sidebar:
    st.header("Photo")
    img, img_label = image_picker("seg", default="astronaut", labelled=False)
    clf_name = model_picker("seg_cam", "classification", "Classifier") if source == CAM else None
    st.header("Attack")
    goal = goal_picker("seg")
    other_img = None
    if goal.mode == "other":
        other_img, _ = image_picker("seg_other", default="grace_hopper", label="Photo whose mask to copy", labelled=False)
    threat, seed = threat_picker("seg")
    st.header("Defense")
    features = ["logits", "cam"] if source == CAM else ["logits", "decoder3", "probs"]
    dchoice = defense_picker("seg", features)
    run = action.button("Run attack", type="primary", key="seg_run") or consume_autorun("seg")
    device_caption()

if img is None:
    st.stop()

# The photo stretched to the model's input size (as MediaPipe does); shown with its own aspect.
if source == CAM:
    classifier = get_model(clf_name)
    require(classifier, "head", "A class-activation mask")  # user models without a feature map get a note
    size = classifier.input_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    x = to_tensor(stretch(img, size))
    model = cam_mask_model(classifier, x)
    st.warning(f"**Approximate mask**: the class-activation map of {clf_name} for "
               f"{', '.join(model.classes.names[0])}, thresholded at half its maximum. It shows where the "
               "classifier looks, not a true outline.")
else:
    model = get_model(source)
    x = to_tensor(stretch(img, model.input_size))
disp = display_size(tuple(x.shape[-2:]), img.width / img.height)
clean_prob = memo_on_image("mask", (source, clf_name), x, lambda: mask_probability(model, x))
mh, mw = clean_prob.shape[-2:]

target = None
if goal.mode == "erase":
    target = shape_mask("erase", mh, mw)
elif goal.mode == "shape":
    target = shape_mask(goal.shape, mh, mw, cy=goal.cy, cx=goal.cx, size=goal.size)
elif goal.mode == "other":
    if other_img is None:
        st.info("Choose the photo whose mask the attack should copy.")
        st.stop()
    target = mask_of_image(model, to_tensor(stretch(other_img, tuple(x.shape[-2:]))))[0, 0]

defense = None
if dchoice.enabled:
    defense = SegEquivariancePurification(model, views=dchoice.views, steps=dchoice.steps, eps_v=dchoice.eps_v,
                                          feature=dchoice.feature)
# The result first: the click computes the attack and the defense of the attacked photo; the
# defense of the clean photo and the views' diagnostics (details, below the fold) come after the
# result is drawn (ui.dense_results.show_mask_result). The bar is redrawn at most once a second
# (each redraw is a page render that shares the cores with the attack; docs/BENCHMARKS.md).
shown = run_and_show(
    "seg", run=run, inputs=(x, source, clf_name), button="Run attack", label="Attacking the mask…",
    settings=(goal, target, threat, seed, dchoice), bar_interval_s=QUIET_BAR_INTERVAL_S,
    compute=lambda progress: run_experiment(model, x, target, threat, defense,
                                            adaptive=dchoice.adaptive if defense else "none", lam=dchoice.lam,
                                            seed=seed, diagnostics=False, check_clean=False, progress=progress))
if shown is None:
    panels = [(f"{html(img_label, max_chars=80)}: clean mask", overlay(x, clean_prob, size_hw=disp))]
    if target is not None:
        panels.append(("target mask", target_preview(x, target, size_hw=disp)))
    st.plotly_chart(image_grid(panels, height=340), key="seg_preview")
    st.caption(f"Person share of the clean mask: {float((clean_prob > 0.5).float().mean()):.1%}. "
               f"Goal: {GOALS[goal.mode]}.")
    st.info("Press **Run attack** above.")
    st.stop()

# ------------------------------------------------------------------ render
show_mask_result(shown.value, model, x, defense, seed=seed, disp=disp, stale=shown.stale)
