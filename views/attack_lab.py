"""Attack Lab: pick or upload a photo, attack a real ImageNet model, compare side by side."""
from __future__ import annotations

import streamlit as st

from core.explain.analysis import quantised_prediction, topk, transfer_predictions
from core.defenses import DEFENSES, make_defense
from core.evaluation.lab import lab_verdicts, run_attack_lab, summarize
from core.evaluation.live_attack import LiveState
from core.models import get_spec
from core.viz.report import attack_report
from core.viz.attack import delta_heatmap, trajectory_figure
from core.viz.common import amplified_perturbation, to_numpy_image, topk_bar
from core.data.safe_text import md
from ui.common import action_bar, clean_logits, attack_picker, device_caption, get_model, image_and_model, image_tensor, intro, true_label
from ui.defenses import defense_settings
from ui.live_attack import LIVE_INTERVAL_S, LIVE_RENDER_COST_S, LivePanel, show_stopped
from ui.long_work import QUIET_BAR_INTERVAL_S
from ui.presenter import big, is_presenter, key_numbers
from ui.presets import consume_autorun, preset_bar
from ui.report import report_download
from ui.run import input_default, run_and_show
from ui.user_models import transfer_candidates
from ui.verdicts import show_verdict
from ui.urlstate import UrlState, attack_lab_params, share_caption, upload_note

ROUTE_TEXT = {"plain": "ordinary gradients through the defense (it is differentiable)",
              "bpda": "BPDA: the defense runs forward, the backward pass treats it as the identity",
              "eot": "EOT: gradients averaged over the defense's randomness"}

st.title("⚔️ Attack Lab")
intro(
    "An **adversarial example** is a photo changed by an amount too small to notice, chosen so that "
    "the model changes its answer. Pick a photo and a model, choose an attack and its budget **ε** "
    "(how far each pixel may move, in steps of 1/255 of the brightness range), then press **Run attack**. "
    "You will see the original, the attacked image, the change made visible, and what the model "
    "believes about each.")

url = UrlState("lab", attack_lab_params())  # shareable view: settings <-> URL (ui/urlstate.py)
url.seed()
preset_bar("lab")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

# ------------------------------------------------------------------ sidebar
with st.sidebar:
    img, img_label, model_name, model = image_and_model("lab")
    st.header("Attack")
    with st.expander("Attack settings") if is_presenter() else st.container():  # presenter: fewer controls
        choice = attack_picker("lab", model.class_names)
    st.header("Defense")
    defense_name = st.selectbox("Defense", ["None"] + list(DEFENSES), key="lab_defense")
    defense, adaptive = None, False
    if defense_name != "None":
        st.caption(DEFENSES[defense_name].summary)
        with st.expander("Defense settings"):
            def_params, def_preset = defense_settings(defense_name, model, "lab_def")
        try:
            defense = make_defense(defense_name, model, preset=def_preset, **def_params)
        except (ValueError, KeyError) as e:
            st.error(f"{defense_name}: {e}")
        adaptive = st.toggle("Adaptive attacker (knows the defense)", False, key="lab_adaptive",
                             help="Off: the attacker attacks the bare model and the defense then classifies "
                                  "the result. On: the attacker attacks through the defense using "
                                  + ROUTE_TEXT[DEFENSES[defense_name].adaptive_route] + ".")
    run = action.button("Run attack", type="primary", key="lab_run") or consume_autorun("lab")
    device_caption()
    share_caption()
url.write()
url.show_notes()
upload_note("lab")

if img is None:
    st.stop()

# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
inputs = (x, model_name)
clean_top = topk(clean_logits(model_name, model, x), model.class_names)
known = true_label("lab", model)  # a labelled ImageNet photo's true class
# The new photo's class, not the previous one's: its true class where known, else the clean prediction.
input_default("lab_label", clean_top.top1 if known is None else known, inputs)
label = st.selectbox(
    "Correct class (the attack pushes the model away from it)", range(len(model.class_names)),
    format_func=lambda i: f"{i}: {model.class_names[i]}", key="lab_label",
    help="By default the true class of a labelled photo, otherwise the model's own clean prediction; "
         "set it if you know the true class.")

live_panel = LivePanel(model.class_names)  # the attack while it runs (ui/live_attack.py)
live = LiveState(x_clean=x, label=label)  # kept if the run is stopped: the best example so far
shown = run_and_show(
    "lab", run=run, inputs=inputs, button="Run attack", keep_partial=live, bar_interval_s=QUIET_BAR_INTERVAL_S,
    settings=(choice, label, defense_name, defense.params() if defense else None, adaptive),
    label=f"Running {choice.name}" + (" through the defense…" if defense is not None and adaptive else "…"),
    compute=lambda progress: run_attack_lab(model, x, label, choice.name, choice.threat, choice.params, choice.goal,
                                            choice.seed, defense=defense, defense_name=defense_name,
                                            adaptive=adaptive, progress=progress, live=live, on_update=live_panel,
                                            live_interval=LIVE_INTERVAL_S, live_render_cost=LIVE_RENDER_COST_S))
live_panel.clear()
if shown is not None and isinstance(shown.value, LiveState):  # stopped: the best example so far
    show_stopped(shown.value, model)
    st.stop()
if shown is None:
    c1, c2 = st.columns([1, 2])
    c1.image(to_numpy_image(x), caption=f"{md(img_label)} as the model sees it ({x.shape[-1]}×{x.shape[-2]})")
    c2.plotly_chart(topk_bar(clean_top.names, clean_top.probs, "Clean prediction (top 5)"), key="lab_clean_only")
    st.info("Press **Run attack** above.")
    st.stop()

# ------------------------------------------------------------------ render
lab_run = shown.value
res = lab_run.result
names = model.class_names
s = summarize(lab_run, names)
x0, xa = res.x_clean, res.x_adv
cp, ap, stats, lab = s.clean, s.adv, s.stats, s.label

if s.defense is not None:
    dc, da = s.defended_clean, s.defended_adv
    defended = lab_run.defended
    who = "an adaptive attacker (" + ROUTE_TEXT[DEFENSES[s.defense].adaptive_route] + ")" if lab_run.adaptive \
        else "an attacker who does not know the defense"
    dv = lab_verdicts(s, res.attack, len(names))[1]
    show_verdict(f"**With {s.defense}** against {who}: clean → “{dc.names[0]}” ({dc.probs[0]:.0%}), "
                 f"adversarial → “{da.names[0]}” ({da.probs[0]:.0%}). " + dv.sentence, dv.tone)
    if not lab_run.adaptive and not s.gets_through and not s.defended_clean_wrong:
        st.warning("⚠️ This rests on a **non-adaptive** attack: the attacker did not know the defense. "
                   "Switch on *Adaptive attacker* before calling the defense robust.")
    e1, e2, e3 = st.columns([1, 1, 2])
    e1.image(to_numpy_image(defended[0].x_classified), caption="Defense input → what it classified (clean)",
             width="stretch")
    e2.image(to_numpy_image(defended[1].x_classified), caption="… and on the adversarial image",
             width="stretch")
    e3.plotly_chart(topk_bar(da.names, da.probs, "Defended, adversarial: top 5", highlight=names[lab]),
                    key="lab_def_bar")
    st.caption(f"Defense time: {defended[0].elapsed_s:.2f} s (clean) and {defended[1].elapsed_s:.2f} s (adversarial). "
               "The rows below show the bare model.")
else:
    show_verdict(lab_verdicts(s, res.attack, len(names))[0])
for note in s.notes():
    st.warning("⚠️ " + note)

c1, c2, c3, c4 = st.columns(4)
c1.image(to_numpy_image(x0), caption=f"Original: {cp.names[0]} ({cp.probs[0]:.0%})", width="stretch")
c2.image(to_numpy_image(xa), caption=f"Adversarial: {ap.names[0]} ({ap.probs[0]:.0%})", width="stretch")
c3.image(amplified_perturbation(xa - x0), caption="Perturbation, amplified to the full range (grey = 0)",
         width="stretch")
key_numbers([(f"Clean: {cp.names[0]}", f"{cp.probs[0]:.0%}"),  # presenter mode only: the headline, under the images
             (f"Adversarial: {ap.names[0]}", f"{ap.probs[0]:.0%}"),
             ("Largest pixel change", f"{stats['linf_255']:.1f}/255"), ("PSNR", f"{stats['psnr']:.0f} dB")])

b1, b2, b3 = st.columns([2, 2, 1.3])
# The result first: the numbers (right column) are sent before the two charts beside them, so the
# browser shows them without waiting for plotly to draw; the layout is the same either way.
with b3:
    if not is_presenter():  # (presenter mode shows these in the headline numbers already)
        st.metric("L∞ of δ", f"{stats['linf_255']:.2f}/255", help="Largest change of any pixel channel.")
    st.metric("L2 of δ", f"{stats['l2']:.3f}", help="Euclidean length of the whole change, [0,1] pixel scale.")
    if not is_presenter():
        st.metric("PSNR", "∞" if stats["psnr"] == float("inf") else f"{stats['psnr']:.1f} dB",
                  help="Above ~40 dB the change is usually invisible.")
    st.metric(f"P({names[lab][:18]})", f"{s.p_label_adv:.1%}", f"{(s.p_label_adv - s.p_label_clean) * 100:+.1f} pts")
    if "queries" in res.params:  # score-based attacks (Square): forward passes used, of the budget
        st.metric("Queries used", f"{res.params['queries'][0]} / {res.params['n_queries']}",
                  help="Forward passes of the model the attack asked for (it never uses gradients); "
                       "it stops as soon as the image is fooled.")
with c4:  # the charts last (see above): the |δ| map beside the images, then the two top-5 bars
    st.plotly_chart(delta_heatmap(xa - x0, height=260), key="lab_delta", width="stretch")
    st.caption("|δ| (max over colour channels; a large image in 2×2 blocks), in units of 1/255.")
b1.plotly_chart(big(topk_bar(cp.names, cp.probs, "Clean: top 5", highlight=names[lab])), key="lab_clean_bar")
b2.plotly_chart(big(topk_bar(ap.names, ap.probs, "Adversarial: top 5", highlight=names[lab])), key="lab_adv_bar")

if is_presenter():  # presenter mode: the replay, download, transfer and report sections are hidden
    st.stop()
st.subheader("Replay the attack")
traj = res.trajectory
if len(traj) > 1:
    step = st.slider("Step", 0, len(traj) - 1, len(traj) - 1, key="lab_replay")
else:
    step = 0
r1, r2 = st.columns([3, 1])
r1.plotly_chart(trajectory_figure(traj, names, lab, step), key="lab_traj", width="stretch")
rec = traj[step]
if rec.image is not None:
    r2.image(rec.image[0].permute(1, 2, 0).numpy(), width="stretch",
             caption=f"Image evaluated at step {step}: {names[int(rec.topk_classes[0, 0])]} "
                     f"({float(rec.topk_probs[0, 0]):.0%})")
st.caption("Each step evaluates the current image, then moves it along the gradient. The objective "
           "is what the attacker maximises (the loss of the correct class, or minus the loss of the target).")

st.subheader("Download")
png, x8, logits8 = quantised_prediction(model, xa)
p8 = topk(logits8, names)
d1, d2 = st.columns([1, 3])
d1.download_button("Download adversarial PNG", png, file_name=f"adversarial_{res.attack}_{model_name}.png",
                   mime="image/png", key="lab_download")
same = p8.top1 == ap.top1
d2.markdown(f"The file is rounded to 8 bits per channel. **Prediction on the downloaded file:** "
            f"“{p8.names[0]}” ({p8.probs[0]:.1%})" + ("" if same else
            " — ⚠️ rounding changed the prediction, so the file is not adversarial in the same way."))

st.subheader("Does it fool the other models? (transfer)")
others = transfer_candidates(model_name, len(model.class_names))  # same classes, user models that load
rows = None
if others and st.checkbox(f"Classify the adversarial image with {', '.join(others)}", key="lab_transfer"):
    with st.spinner("Loading and running the other models…"):
        rows = transfer_predictions(xa, x0, {n: get_model(n) for n in others},
                                    {n: get_spec(n) for n in others}, names)
    for row in rows:
        st.markdown(f"- **{row['model']}**: clean “{row['clean'].names[0]}” ({row['clean'].probs[0]:.0%}) → "
                    f"adversarial “{row['adversarial'].names[0]}” ({row['adversarial'].probs[0]:.0%}) — "
                    + ("**fooled**" if row["fooled"] else "not fooled"))
    st.caption("The image is resized to each model's input size first; the clean column uses the same resize.")

with st.expander("What am I looking at?"):
    st.markdown(
        "- **ε** bounds the change: under L∞ no pixel channel moves by more than ε; under L2 the total "
        "length of the change is at most ε.\n"
        "- **FGSM** takes one step along the sign of the gradient; **PGD** takes many small steps and "
        "projects back into the ε-ball after each; **APGD** adapts its step size; **CW-L2** looks for "
        "the *smallest* change that fools the model; **N-FGSM** and **TRADES-KL** are the perturbations "
        "used by two adversarial-training methods.\n"
        "- The **amplified perturbation** stretches δ so that you can see its pattern; the real change is "
        "tiny (see PSNR).\n"
        "- A **targeted** attack must reach a chosen class, which is harder than any wrong class.")

with st.expander("Download report"):
    if shown.stale:
        st.info("The settings changed since this result was computed: press **Run attack** to get its report.")
    else:
        report_download(lambda: attack_report(
            res, names, model_name=model_name, image_label=img_label, seed=choice.seed, bare=lab_run.bare,
            defended=lab_run.defended, defense_name=lab_run.defense_name, defense_params=lab_run.defense_params,
            adaptive=lab_run.adaptive, quantised_logits=logits8, transfer=rows), key="lab_report",
            file_stem=f"attack_{res.attack}_{model_name}")
