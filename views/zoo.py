"""Model zoo: small Fashion-MNIST models trained with different training-time defenses,
attacked side by side."""
from __future__ import annotations

import streamlit as st

from core.explain.saliency import METHODS
from core.judging.pages import model_accuracy
from core.evaluation.zoo.page import missing_views, outcome_verdict, view_gaps, zoo_experiment
from core.evaluation.claims.rows import worst_case_interval
from core.models.zoo.catalogue import available, get_entry, load_card
from core.models.zoo.net import FMNIST_CLASSES
from core.data import fashion_mnist as zdata
from core.evaluation.zoo.cards import CURVE_EPS, METRIC_LABELS, METRICS
from core.evaluation.zoo.under_attack import ZOO_ATTACKS, live_curves
from core.viz.explain import channel_profile, pr_nr_sums, saliency_row
from core.viz.zoo import amplified_delta, cifs_mask_figure, curves_figure, outcome_figure, upscale
from core.viz.zoo_per_class import per_class_figure, push_in_rows
from core.data.safe_text import md
from ui.common import action_bar, device_caption, get_model, intro
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show
from ui.tables import show_table
from ui.zoo_distribution import show_distributions
from ui.verdicts import ICON, show_verdict

st.title("🦓 Model zoo")
intro(
    "No downloadable robust model works offline, so this project trains its own: **one small network "
    "(four conv layers, 99k parameters) per training-time defense**, all on the same Fashion-MNIST images "
    "with the same budget, so that only the training method differs. Pick two or more, attack the same "
    "image on each (every model with its own gradients) and see which ones hold; compare their "
    "accuracy-versus-ε curves; look at how J-SIGR's saliency and CIFS's channels differ from a standard "
    "model's. These models were trained for minutes on a CPU: the *ranking* is meaningful, the absolute "
    "numbers are far below the papers'.")

entries = available()
if len(entries) < 2:
    st.error("The zoo's weights are missing (assets/zoo/). Train them with `tools/train_zoo.py`.")
    st.stop()
titles = {e.name: e.title for e in entries}
shorts = {e.name: e.short or e.title for e in entries}
names = list(titles)
cards = {n: load_card(n) for n in names}

default = [n for n in ("fmnist-standard", "fmnist-pgd-at", "fmnist-trades", "fmnist-cifs") if n in names]

preset_bar("zoo")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    st.header("Models")
    chosen = st.multiselect("Zoo models (two or more)", names, default=default, format_func=lambda n: titles[n],
                            key="zoo_models")
    st.header("Image")
    # Test images only: a photo shrunk to 28×28 grey is not a Fashion-MNIST garment, and every model
    # called it "Bag" (issue 16), so the page has no photo mode.
    cls = st.selectbox("Class", list(range(10)), format_func=lambda c: FMNIST_CLASSES[c], key="zoo_cls")
    of_cls = zdata.subset_of_class(cls)
    k = st.slider("Image of that class", 0, len(of_cls) - 1, 0, key="zoo_k")
    x, label, t10k_index = zdata.subset_image(of_cls[k])
    img_label = f"test image #{t10k_index} ({FMNIST_CLASSES[label]})"
    st.header("Attack")
    attack = st.selectbox("Attack", list(ZOO_ATTACKS), index=1, key="zoo_attack",
                          help="White-box on each model separately, untargeted cross-entropy.")
    eps = st.slider("ε (L∞, [0, 1] pixels)", 0.0, 0.3, 0.1, 0.01, key="zoo_eps",
                    help="0.1 is the usual Fashion-MNIST budget and the one of the model cards.")
    steps = 1 if attack == "FGSM" else st.slider("Steps", 1, 100, 20, key="zoo_steps",
                                                 help="PGD: step 2.5ε/steps, random start. APGD-CE: adaptive step.")
    seed = int(st.number_input("Seed", 0, 10_000, 0, key="zoo_seed"))
    sal_method = st.selectbox("Saliency method", ["saliency", "smoothgrad", "integrated_gradients", "perturbation"],
                              format_func=lambda m: METHODS[m].label, key="zoo_sal")
    run = action.button("Attack and explain", type="primary", key="zoo_run") or consume_autorun("zoo")
    device_caption()

if len(chosen) < 2:
    st.info("Choose at least two zoo models in the sidebar.")
    st.stop()
for n in chosen:  # a model near chance is not comparable with the others (core.judging.pages)
    clean_acc = cards[n].get("evaluation", {}).get("full_test", {}).get("clean", {}).get("accuracy")
    if clean_acc is not None and (v := model_accuracy(titles[n], clean_acc, len(FMNIST_CLASSES))) is not None:
        show_verdict(v)

# ------------------------------------------------------------------ 1. side by side
st.header("The same image, attacked on each model")
shown = run_and_show(
    "zoo", run=run, inputs=(x, label), button="Attack and explain", label=f"{attack} on each model…",
    settings=(tuple(chosen), attack, eps, steps, seed, sal_method),
    compute=lambda progress: zoo_experiment(get_model, names, chosen, x, label, attack, eps, steps, seed,
                                            saliency_method=sal_method, progress=progress))
stored = shown.value if shown is not None else None
if stored is None:
    st.image(upscale(x), caption=f"{md(img_label)}; true class: {FMNIST_CLASSES[label]}", width=168)
    st.info("Press **Attack and explain** above (a few seconds on a CPU).")
else:
    outs, by_name, sal, chan, masks = stored.outcomes, stored.by_name, stored.saliency, stored.channels, \
        stored.cifs_masks
    st.caption("One image is an anecdote: each model's **worst case** over the card's test images (below its "
               "verdict, and in the table further down) is the number to quote.")
    cols = st.columns(len(outs) + 1)
    cols[0].image(upscale(x), caption=f"clean: {FMNIST_CLASSES[label]}", width="stretch")
    for c, o in zip(cols[1:], outs):
        v = outcome_verdict(o)
        wc = cards[o.name].get("worst_case")
        c.image(upscale(o.x_adv), caption=f"{titles[o.name]}", width="stretch")
        c.markdown(f"**{ICON[v.tone]} {v.word}**  \n{FMNIST_CLASSES[o.clean_pred]} → **{FMNIST_CLASSES[o.adv_pred]}** "
                   f"(P({FMNIST_CLASSES[label]}) {float(o.adv_probs[label]):.0%})  \n"
                   + (f"worst case: **{100 * wc['robust_accuracy']:.1f} %** of {wc['n']:,}" if wc else "no worst case yet"),
                   help=v.sentence)
    st.plotly_chart(outcome_figure([titles[o.name] for o in outs], label, [o.clean_probs for o in outs],
                                   [o.adv_probs for o in outs], FMNIST_CLASSES), key="zoo_outcome", width="stretch")
    with st.expander("The perturbations (amplified)"):
        pc = st.columns(len(outs))
        for c, o in zip(pc, outs):
            c.image(amplified_delta(o.x_adv - x), caption=f"{titles[o.name]}: ‖δ‖∞ = "
                    f"{float((o.x_adv - x).abs().max()):.3f}", width="stretch")
        st.caption("Each perturbation is scaled to its own maximum (grey = no change). Robust models tend to get "
                   "perturbations that look like strokes of a garment rather than noise.")

# ------------------------------------------------------------------ 2. curves
st.header("Accuracy versus ε")
card_curves = {n: cards[n]["evaluation"]["curve_subset"]["points"] for n in chosen
               if "curve_subset" in cards[n].get("evaluation", {})}
c1, c2 = st.columns([3, 1])
n_live = c2.select_slider("Live batch", [16, 32, 64], 64, key="zoo_live_n")
live_run = c2.button("Run live curves", key="zoo_live_run",
                     help="PGD-10 at each ε (the cards' attack) on images spread evenly over the shipped subset")
with c2:
    live = run_and_show(
        "zoo_live", run=live_run, inputs=(tuple(chosen),), settings=(n_live,), button="Run live curves",
        label="Live curves…",
        compute=lambda progress: live_curves({n: get_model(n) for n in chosen}, *zdata.spread_subset(n_live),
                                             CURVE_EPS, progress=progress))
no_curve = {n: cards[n].get("evaluation", {}).get("curve_subset_skipped", "the card has no curve")
            for n in chosen if n not in card_curves}
if no_curve:
    c1.info("Not on the solid curves: " + "; ".join(f"**{md(titles[n])}** ({md(why)})" for n, why in no_curve.items())
            + ". *Run live curves* draws them from a small batch.")
c1.plotly_chart(curves_figure(card_curves, live.value if live is not None else None, titles), key="zoo_curves", width="stretch")
st.caption("Solid: from the model cards (PGD-10, step 2.5ε/10, random start, the 1,000 shipped test images; "
           "robust = correct clean *and* attacked). Dashed: the same attack run now on a small batch.")
NOISE_SHOWN = (0.1, 0.3)  # Gaussian-noise accuracy columns (the cards hold every σ of model_cards.NOISE_SIGMAS)
rows, rows2 = [], []  # two tables, so that each fits 1440 px: attacks; noise, audit and training time
for n in chosen:
    ev = cards[n].get("evaluation", {})
    noise = {pt["sigma"]: round(100 * pt["accuracy"], 1) for pt in ev.get("gaussian_noise_subset", {}).get("points", [])}
    full = ev.get("full_test", {})
    wc = cards[n].get("worst_case", {})
    aud = wc.get("audit")
    rows.append({"model": shorts[n], **{f"{METRIC_LABELS[m]} %": round(100 * full[m]["accuracy"], 1)
                                         for m in METRICS if m in full},
                 "worst case %": round(100 * wc["robust_accuracy"], 1) if wc else None,
                 "95 % interval": worst_case_interval(cards[n]).short() if wc else None,
                 "worst case, 10k %": (round(100 * wc["full_test_set"]["robust_accuracy"], 1)
                                       if "full_test_set" in wc else None)})
    rows2.append({"model": shorts[n], **{f"noise σ={sg:g} %": noise.get(sg) for sg in NOISE_SHOWN},
                  "audit": ("—" if not aud else ("⚠️ " + ", ".join(aud["flags"]) if aud["flagged"] else "✅ pass")),
                  "training (s)": cards[n]["training"]["seconds"]})
show_table(rows, decimals={c: 1 for c in rows[0] if c.endswith("%")}, key="zoo_table")
show_table(rows2, decimals={c: 1 for c in rows2[0] if c.endswith("%")}, key="zoo_table_noise")
wc_images = " / ".join(f"{k:,}" for k in sorted({cards[n]["worst_case"]["n"] for n in chosen
                                                 if "worst_case" in cards[n]})) or "the"
st.caption("Model cards: full 10,000-image test set, ε = 0.1 (L∞), single white-box attacks (APGD-CE with 20 "
           "iterations; for CIFS a mask-blind attacker). **Worst case**: the number to quote — the AutoAttack-style "
           f"ensemble (APGD-CE, targeted APGD-DLR, Square) on {wc_images} shipped test images (its exact 95 % "
           "interval beside it: on 1,000 images about ±3 points), and on the whole "
           "10,000-image test set where it was run (docs/models/zoo.md). **Noise σ**: accuracy on the 1,000 "
           "shipped images plus random Gaussian noise of that σ (clipped to [0, 1]) — robustness to *random* "
           "noise, which is not robustness to an adversary. **Audit**: the "
           "gradient-masking checks of the Robustness audit page; ⚠️ means a single attack's number overstates "
           "robustness. Re-check any card with `tools/evaluate_zoo.py` and `tools/ensemble_zoo.py`.")

show_distributions(cards, chosen, shorts)

# ------------------------------------------------------------------ per class (issue 22)
per_class = {n: cards[n]["per_class"] for n in chosen if "per_class" in cards[n]}
st.subheader("Per class")
if len(per_class) < len(chosen):
    st.info("Not in the per-class chart: " + ", ".join(f"**{md(titles[n])}**" for n in chosen if n not in per_class)
            + " (its card has no per-class results yet).")
if per_class:
    st.plotly_chart(per_class_figure(per_class, titles), key="zoo_per_class", width="stretch")
    st.caption("Bars: accuracy of each class under attack (the worst case where the card keeps its per-image "
               "results, else the card's PGD-20); dashes: clean accuracy. 100 shipped test images per class.")
    # The protected classes are the cost-sensitive model's: the table only makes sense beside it.
    push = push_in_rows(per_class, shorts) if "fmnist-cost-sensitive" in per_class else []
    if push:
        show_table(push, decimals={c: 1 for c in push[0] if c.endswith("%")}, key="zoo_push_in")
        st.caption("How often the attack's examples of the *other* classes' correctly classified images land in the "
                   "cost-sensitive model's protected classes (Coat, Shirt), for each chosen model: a model that "
                   "'protects' a class by moving the boundary towards the others shows more of them here.")

# ------------------------------------------------------------------ 3. saliency
st.header("Saliency of the chosen models")
for n, miss in missing_views(chosen).items():  # what a chosen architecture does not offer, in words
    st.info(f"**{md(titles[n])}** ({md(get_entry(n).arch_family.title)}) does not offer " + "; ".join(miss)
            + ". Everything else on this page works for it.")
gaps = view_gaps(chosen, "saliency")
if gaps:
    st.info("Not in the saliency figure: " + "; ".join(f"**{md(titles[n])}**: {md(w)}" for n, w in gaps.items()) + ".")
if stored is not None and sal:
    info = METHODS[sal_method]
    photos, maps, heads = [], [], []
    for n, (mc, ma, rho) in sal.items():
        o = by_name[n]
        photos += [upscale(x, 1), upscale(o.x_adv, 1)]
        maps += [mc, ma]
        heads += [f"{shorts[n]}<br>clean", f"{shorts[n]}<br>attacked → {FMNIST_CLASSES[o.adv_pred]}"]
    st.plotly_chart(saliency_row(photos, maps, heads, False, colorbar_title="÷ max"), key="zoo_sal_fig",
                    width="stretch")
    st.caption(f"{info.label} for the true class, each map divided by its own maximum (the models' gradients "
               "differ in scale). " + " · ".join(
                   f"{shorts[n]}: Spearman ρ(gradient, blur-perturbation map) = {rho:.2f}" for n, (_, _, rho) in sal.items()))
    st.markdown("J-SIGR penalises input gradients *outside* the region a blur-perturbation map marks as salient: "
                "choose it beside the standard model and compare where the colour sits (background or garment) "
                "and the ρ values.")
elif stored is None:
    st.caption("Press **Attack and explain** above for the maps.")

# ------------------------------------------------------------------ 4. channels
st.header("Channels of the chosen models")
gaps = view_gaps(chosen, "channels")
if gaps:
    st.info("Not in the channel view: " + "; ".join(f"**{md(titles[n])}**: {md(w)}" for n, w in gaps.items()) + ".")
if stored is not None and chan:
    cols = st.columns(min(len(chan), 3))
    for i, (n, res) in enumerate(chan.items()):
        cols[i % len(cols)].plotly_chart(channel_profile(res, f"{shorts[n]}: mean activation per channel"),
                                         key=f"zoo_prof_{n}", width="stretch")
    st.plotly_chart(pr_nr_sums({shorts[n]: r for n, r in chan.items()}), key="zoo_sums", width="stretch")
    if masks is not None:
        m_clean, m_adv = masks
        rel = get_model("fmnist-cifs").classifier_weight[label].detach().cpu()
        st.plotly_chart(cifs_mask_figure(m_clean["conv4"][0], m_adv["conv4"][0], rel,
                                         "CIFS mask of the last block: clean vs attacked"),
                        key="zoo_mask", width="stretch")
    st.caption("Channels of the last map (after the CIFS mask for the CIFS model), ordered by relevance to the true "
               "class (the classifier weight). An attack works by switching positively relevant (PR) channels off "
               "and negatively relevant (NR) ones on"
               + ("; CIFS's mask, computed from its probes' top-2 classes, re-weights the channels (1 = unchanged)."
                  if masks is not None else ". Choose CIFS to see its channel mask."))
elif stored is None:
    st.caption("Press **Attack and explain** above for the channel profiles.")

# ------------------------------------------------------------------ 5. methods
with st.expander("The methods, in a few sentences", expanded=stored is None):
    for e in entries:
        ev = cards[e.name].get("evaluation", {}).get("full_test", {})
        nums = ", ".join(f"{METRIC_LABELS[m]} {100 * ev[m]['accuracy']:.1f} %" for m in METRICS if m in ev)
        st.markdown(f"**{e.title}** — *{e.paper}*. {e.about}" + (f"  \nCard: {nums}." if nums else ""))
