"""Defenses: one attack against several defenses, side by side, non-adaptive or adaptive."""
from __future__ import annotations

import streamlit as st

from core.judging import pages as pv
from core.explain.analysis import topk
from core.evaluation.audit.checks import audit_findings
from core.defenses import DEFENSES, EquivariancePurification
from core.evaluation.lab import WORSE_BY
from core.defenses.side_by_side import compare_defenses
from core.defenses.equivariance import equivariance_error_summary
from core.viz.common import amplified_perturbation, to_numpy_image
from core.viz.defenses import defense_comparison_figure, equivariance_error_figure, purification_trajectory_figure
from core.data.safe_text import md
from ui.common import action_bar, clean_logits, attack_picker, device_caption, image_and_model, image_tensor, intro, true_label
from ui.presets import consume_autorun, preset_bar
from ui.defenses import defense_picker
from ui.run import input_default, run_and_show
from ui.verdicts import show_verdict

st.title("🛡️ Defenses")
intro(
    "A **defense** changes how the model reads an image: it cleans the image first (JPEG, bit-depth, "
    "median filter, equivariance purification), votes over noisy copies (randomized smoothing), or "
    "changes the network's internals (feature-map size, CIFS-lite). Choose an attack in the sidebar and "
    "some defenses below, then press **Run**. Each column shows the image the defense finally classified "
    "and whether its answer is still right.\n\n"
    "The **attacker** matters as much as the defense. A *non-adaptive* attacker attacks the undefended "
    "model and hopes the result survives the defense. An *adaptive* attacker attacks the defended model "
    "itself: through a non-differentiable step it pretends the step is the identity on the way back "
    "(**BPDA**), and through randomness it averages over many draws (**EOT**). Defenses that only hide "
    "the gradient fall to the adaptive attacker.")

preset_bar("def")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model("def")
    st.header("Attack")
    choice = attack_picker("def", model.class_names)
    st.header("Attacker")
    mode = st.radio("Attacker knows the defense?", ["Non-adaptive", "Adaptive"], horizontal=True, key="def_mode",
                    help="Non-adaptive: attack the undefended model, then apply each defense. Adaptive: attack "
                         "each defended model (plain gradients, BPDA or EOT, as the defense requires).")
    adaptive = mode == "Adaptive"
    classify_clean = st.checkbox("Also classify the clean image with each defense", False, key="def_clean",
                                 help="Shows what the defense costs on an unattacked image (doubles the time).")
    run = action.button("Run", type="primary", key="def_run") or consume_autorun("def")
    device_caption()

if img is None:
    st.stop()

with st.sidebar:
    st.header("Defenses")
    defenses = defense_picker("def", model)
equi_attacker, lam = "bpda", 1.0
if adaptive and any(isinstance(d, EquivariancePurification) for d in defenses.values()):
    c1, c2 = st.columns([2, 1])
    equi_attacker = c1.radio(
        "Adaptive attacker for equivariance purification", ["bpda", "equivariance-aware"], horizontal=True,
        key="def_equi_attacker",
        format_func=lambda s: {"bpda": "BPDA through the purifier (slow: a purification per attack step)",
                               "equivariance-aware": "The paper's: maximise CE − λ·L_equi"}[s])
    if equi_attacker == "equivariance-aware":
        lam = c2.slider("λ", 0.0, 10.0, 1.0, 0.5, key="def_lambda")

# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
inputs = (x, model_name)
clean_top = topk(clean_logits(model_name, model, x), model.class_names)
known = true_label("def", model)  # a labelled ImageNet photo's true class
# The new photo's class, not the previous one's: its true class where known, else the clean prediction.
input_default("def_label", clean_top.top1 if known is None else known, inputs)
label = st.selectbox(
    "Correct class", range(len(model.class_names)),
    format_func=lambda i: f"{i}: {model.class_names[i]}", key="def_label",
    help="By default the true class of a labelled photo, otherwise the undefended model's clean "
         "prediction; set it if you know the true class.")

if not defenses:
    st.info("Choose at least one defense above.")
    st.stop()

shown = run_and_show(
    "def", run=run, inputs=inputs, button="Run", label=f"{choice.name} against {len(defenses)} defense(s)…",
    settings=(choice, label, adaptive, classify_clean, equi_attacker, lam,
              [(n, d.params()) for n, d in defenses.items()]),
    compute=lambda progress: compare_defenses(
        model, x, label, defenses, attack_name=choice.name, threat=choice.threat, attack_params=choice.params,
        goal=choice.goal, seed=choice.seed, adaptive=adaptive, equivariance_attacker=equi_attacker, lam=lam,
        classify_clean=classify_clean, progress=progress))
if shown is None:
    st.image(to_numpy_image(x), caption=f"{md(img_label)}: the model says {clean_top.names[0]} ({clean_top.probs[0]:.0%})",
             width=224)
    st.info("Press **Run** above.")
    st.stop()

# ------------------------------------------------------------------ render
cmp = shown.value
names = model.class_names
lab = cmp.label
base = cmp.base_attack
bare_p = float(base.adv_logits.softmax(1)[0, lab])
bare_fooled = int(base.adv_logits.argmax(1)[0]) != lab
verdicts = [pv.defended_classifier(
    md(r.name), names[lab], bare_fooled, def_clean_correct=r.clean_pred is None or r.clean_pred == lab,
    def_clean_abstains=r.clean_pred is not None and r.clean_pred < 0, def_adv_meets_goal=r.pred >= 0 and not r.correct,
    def_adv_abstains=r.pred < 0, worse_than_none=(not bare_fooled and not r.correct) or r.p_ref < bare_p - WORSE_BY,
    p_label_def=r.p_ref, p_label_bare=bare_p) for r in cmp.rows]
show_verdict(
    f"Without a defense the attack {'fools' if bare_fooled else 'does not fool'} the model. With a defense — "
    + " ".join(v.sentence for v in verdicts) + (" (Adaptive attacker.)" if cmp.adaptive else
                                                " ⚠️ Against an attacker who **ignored** the defenses: see the note "
                                                "below the images."), pv.worst_tone(verdicts))
unfit = pv.classifier_input(names[lab], clean_top.names[0], clean_top.probs[0], clean_top.top1 == lab, len(names))
if unfit is not None:
    show_verdict(unfit)
cols_per_row = 4
cards = [None] + cmp.rows
for start in range(0, len(cards), cols_per_row):
    cols = st.columns(cols_per_row)
    for col, row in zip(cols, cards[start:start + cols_per_row]):
        with col:
            if row is None:
                p = base.adv_logits.softmax(1)[0]
                pred = int(p.argmax())
                st.markdown("**No defense**")
                st.image(to_numpy_image(base.x_adv), width="stretch",
                         caption=f"{base.attack} image (ε = " + (f"{base.threat.eps * 255:.1f}/255)"
                                 if base.threat.norm == "linf" else f"{base.threat.eps:g}, L2)"))
                ok = pred == lab
                st.markdown(f"{'✅' if ok else '❌'} **{names[pred]}** ({float(p[pred]):.0%})  \n"
                            f"attack: {base.elapsed_s:.2f} s")
                continue
            out = row.output
            st.markdown(f"**{row.name}**")
            shown = out.x_classified
            cap = "image classified"
            if out.certificate is not None:
                cap = "one of the noisy copies it voted over"
            elif shown.shape[-1] != x.shape[-1]:
                cap = f"image classified ({shown.shape[-1]}×{shown.shape[-2]})"
            st.image(to_numpy_image(shown), width="stretch", caption=cap)
            if row.pred < 0:
                verdict = f"⏸️ **abstains** (top vote: {names[int(out.logits[0].argmax())]})"
            else:
                verdict = f"{'✅' if row.correct else '❌'} **{names[row.pred]}** ({row.p_pred:.0%})"
            lines = [verdict, f"defense: {row.elapsed_s:.2f} s"]
            if cmp.adaptive and row.attack is not None:
                lines.append(f"attack: {row.attack.elapsed_s:.2f} s")
            if out.certificate is not None and row.pred >= 0:
                lines.append(f"certified L2 radius {float(out.certificate.radius[0]):.3f}")
            if row.clean_pred is not None:
                cp = row.clean_pred
                lines.append("clean image: " + ("abstains" if cp < 0 else f"{'✅' if cp == lab else '❌'} {names[cp]}"))
            st.markdown("  \n".join(lines))
            if "v" in out.diagnostics:
                st.image(amplified_perturbation(out.diagnostics["v"][:1]), width="stretch",
                         caption="reversal vector v, amplified")

if not cmp.adaptive:
    st.warning(
        "⚠️ **Non-adaptive attack.** These results rest on an attack that did not know the defenses: it "
        "attacked the undefended model only. A defense that survives here is *not* shown to be robust; "
        "switch the attacker to **Adaptive** before drawing any conclusion.")
else:
    st.info("**Adaptive attack:** each defense was attacked through its own route: "
            + "; ".join(f"{r.name}: {r.attacker}" for r in cmp.rows) + ".")
for row in cmp.rows:  # purification trajectories, full width
    if "trajectory" in row.output.diagnostics:
        st.plotly_chart(purification_trajectory_figure(row.output.diagnostics["trajectory"], names, lab, height=320,
                                                       title=f"{row.name}: loss and top-1 class per step"),
                        key=f"def_traj_{row.name}", width="stretch")
        st.caption("Each step moves the reversal vector v to lower the equivariance loss L_equi (dashed line: "
                   "its minimum, reached when all views agree exactly). Markers are green where the top-1 class "
                   "is the correct one; the last point is the image that was classified.")

rows = [{"name": "No defense", "p_ref": float(base.adv_logits.softmax(1)[0, lab]),
         "correct": int(base.adv_logits.argmax(1)[0]) == lab,
         "pred_name": names[int(base.adv_logits.argmax(1)[0])], "elapsed_s": base.elapsed_s}]
rows += [{"name": r.name, "p_ref": r.p_ref, "correct": r.correct,
          "pred_name": "abstain" if r.pred < 0 else names[r.pred], "elapsed_s": r.elapsed_s} for r in cmp.rows]
st.plotly_chart(defense_comparison_figure(rows, title=f"Confidence in “{names[lab]}” after the attack"),
                key="def_summary", width="stretch")
st.caption(f"Total time {cmp.elapsed_s:.1f} s. Green: the defended prediction is the correct class. For the "
           "smoothing defenses the bar is the share of noisy copies that voted for the correct class.")

equi_rows = [r for r in cmp.rows if isinstance(r.defense, EquivariancePurification)]
if equi_rows and st.checkbox("Show equivariance error maps (clean, attacked, purified)", False, key="def_err"):
    r = equi_rows[0]
    p = r.defense.params()
    summary_maps = equivariance_error_summary(
        model, {"clean": base.x_clean, "attacked": r.attack.x_adv, "purified": r.output.x_classified[:1]}, views=p["views"], stage=p["stage"], seed=0)
    ecols = st.columns(3)
    top_err = max(float(m.max()) for _, m in summary_maps.values())
    for ec, (nm, (mean_err, emap)) in zip(ecols, summary_maps.items()):
        ec.plotly_chart(equivariance_error_figure(emap, title=f"{nm}: mean {mean_err:.3f}", height=260, zmax=top_err),
                        key=f"def_err_{nm}", width="stretch")
    st.caption(f"1 − cosine between the identity view's feature vector at each position of {p['stage']} and the "
               "mean of the other views' back-warped features (same random views for all three images). The "
               "paper's finding: clean images are the most equivariant, attacked ones the least, and purification "
               "moves them back.")

with st.expander("What do these defenses do?"):
    for name, d in defenses.items():
        st.markdown(f"**{name}** ({DEFENSES[name].paper}). {DEFENSES[name].summary} "
                    f"*Adaptive route: {d.adaptive_route.upper()}.*")
    st.markdown(
        "**BPDA** (Backward Pass Differentiable Approximation, Athalye, Carlini & Wagner 2018) runs the defense "
        "forward but treats it as the identity when computing gradients. **EOT** (Expectation over "
        "Transformation) averages the model's output over the defense's randomness, so the gradient points "
        "where the *average* prediction changes. A defense is only credible if it holds against these.")

with st.expander("What the gradient-masking audit found"):
    st.markdown(audit_findings())  # docs/audits/FINDINGS.md, one text for the page and the docs
