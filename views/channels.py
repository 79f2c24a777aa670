"""Channels (CIFS): which feature channels does an attack switch on and off?"""
from __future__ import annotations

import streamlit as st

from core.explain.channel_experiment import channel_experiment
from core.viz.common import to_numpy_image
from core.viz.explain import channel_maps_grid, channel_profile, pr_nr_sums, relevance_scatter
from core.data.safe_text import md
from ui.common import action_bar, attack_picker, device_caption, image_and_model, image_tensor, intro
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show
from ui.user_models import require

st.title("📊 Channels")
intro(
    "Deep inside the network, an image is described by many **channels**, each a detector for some "
    "pattern. For the final class score, some channels are evidence *for* the class (positively relevant, "
    "**PR**) and some are evidence *against* it (negatively relevant, **NR**). The CIFS paper (Yan et al., "
    "ICML 2021) observed that attacks work by **switching PR channels off and NR channels on**. Below, each "
    "channel's average activation on the natural and the adversarial image is plotted with the channels "
    "ordered by relevance, so you can check that pattern on this photo, and then again with the "
    "**CIFS-lite** channel mask switched on.")

preset_bar("ch")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model("ch")
    require(model, "cam", "The Channels page")  # user models without a CAM layer get a note, not an error
    st.header("Attack")
    choice = attack_picker("ch", model.class_names)
    st.header("Channels")
    stages = [s for s in model.stage_names if s != "stem"]
    stage = st.selectbox("Stage", stages, index=len(stages) - 1, key="ch_stage",
                         help="'head' is the last map before average pooling; relevance there is exactly the "
                              "classifier weight. Earlier stages use gradients.")
    rel_to = st.radio("Relevance to", ["clean", "adversarial"], key="ch_rel", horizontal=True,
                      format_func=lambda m: {"clean": "clean prediction", "adversarial": "adversarial prediction"}[m])
    k = st.slider("Channels in the map grid", 2, 12, 6, key="ch_k")
    by = st.radio("Pick them by", ["impact", "relevance", "activation"], key="ch_by", horizontal=True,
                  help="impact: |r_c · Δā_c|, how much the attack's change of the channel moved the score.")
    cifs = st.checkbox("Also with CIFS-lite (about twice the time)", False, key="ch_cifs")
    temp = st.select_slider("CIFS-lite temperature T", [0.1, 0.3, 1.0, 3.0, 10.0], 1.0, key="ch_temp",
                            disabled=not cifs)
    adaptive = st.checkbox("Attack the CIFS-lite model itself (adaptive)", True, key="ch_adaptive", disabled=not cifs,
                           help="Off: reuse the adversarial image made against the plain model.")
    run = action.button("Compute", type="primary", key="ch_run") or consume_autorun("ch")
    device_caption()

if img is None:
    st.stop()

# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
shown = run_and_show(
    "ch", run=run, inputs=(x, model_name), button="Compute", label=f"{choice.name}…",
    settings=(choice, stage, rel_to, cifs, temp, adaptive),
    compute=lambda progress: channel_experiment(model, x, choice.name, choice.threat, choice.params, choice.goal,
                                                choice.seed, stage=stage, relevance_to=rel_to, cifs=cifs,
                                                temperature=temp, adaptive=adaptive, progress=progress))
if shown is None:
    st.image(to_numpy_image(x), caption=f"{md(img_label)} as the model sees it", width=280)
    st.info("Press **Compute** above (an attack plus a few forward passes: seconds on a CPU).")
    st.stop()

# ------------------------------------------------------------------ render
out = shown.value
names = model.class_names


def show(res, x_adv, adv_logits, tag: str) -> None:
    y = int(res.cls[0])
    s = res.sums()
    c0, c1, c2, c3, c4 = st.columns([1.2, 1, 1, 1, 1])
    c0.image(to_numpy_image(x_adv), caption=f"adversarial: {names[int(adv_logits.argmax())]}", width="stretch")
    with c1:  # a class name is too long for a metric's value (it would be cut off)
        st.caption("Class y (the relevance refers to it)")
        st.markdown(f"**{names[y]}**")
    c2.metric("Score z_y", f"{res.logit_adv:.2f}", f"{res.logit_adv - res.logit_nat:+.2f} vs natural")
    c3.metric("Σ PR r·ā", f"{s['PR_adv']:.2f}", f"{s['PR_adv'] - s['PR_nat']:+.2f}",
              help="Evidence for y from the positively relevant channels (adversarial; change vs natural).")
    c4.metric("Σ NR r·ā", f"{s['NR_adv']:.2f}", f"{s['NR_adv'] - s['NR_nat']:+.2f}",
              help="Evidence against y from the negatively relevant channels (more negative = more against).")
    st.plotly_chart(channel_profile(res, f"{res.stage}: mean activation per channel, ordered by relevance to "
                                         f"“{names[y]}”"), key=f"ch_profile_{tag}", width="stretch")
    a, b = st.columns(2)
    a.plotly_chart(relevance_scatter(res, "Relevance vs change of activation"), key=f"ch_scatter_{tag}",
                   width="stretch")
    b.plotly_chart(pr_nr_sums({tag: res}), key=f"ch_sums_{tag}", width="stretch")
    top = res.top_channels(k, by)
    st.plotly_chart(channel_maps_grid(res, top.tolist()), key=f"ch_grid_{tag}", width="stretch")
    rel_note = ("exact: the classifier weights W_y,c" if res.exact else
                "by autograd on the natural image (a uniform shift of the whole channel)")
    st.caption(f"Relevance r_c = ∂z_y/∂ā_c, {rel_note}. Grid: the {len(top)} channels picked by {by}, "
               "natural (top) and adversarial (bottom) maps on one colour scale.")


st.subheader("Plain model")
plain, xa, za = out.plain.analysis, out.plain.x_adv, out.plain.adv_logits
show(plain, xa, za, "plain")

if out.cifs is not None:
    st.subheader("With CIFS-lite (untrained, exploratory)")
    res_c, xa2, za2, zc2 = out.cifs.analysis, out.cifs.x_adv, out.cifs.adv_logits, out.cifs.clean_logits
    st.markdown(f"CIFS-lite reweights the channels of the last map by how relevant each is to the two classes the "
                f"model currently favours (mask m = C·softmax(g/T)), using the classifier's own weights. Clean "
                f"prediction with the mask: **{names[int(zc2.argmax())]}**; on the adversarial image: "
                f"**{names[int(za2.argmax())]}**. At the head the activations shown are the *masked* ones.")
    show(res_c, xa2, za2, "cifs")
    st.plotly_chart(pr_nr_sums({"plain": plain, "CIFS-lite": res_c}), key="ch_sums_both", width="stretch")

with st.expander("What am I looking at?"):
    st.markdown(
        "- **ā_c** is channel c's activation averaged over the map; **r_c** says how much the class score z_y "
        "rises when the whole channel rises by one (for the last map this is exactly the classifier weight).\n"
        "- **Σ PR r·ā** and **Σ NR r·ā** split the score into evidence for and against y; at the last map they "
        "add up, with the bias, to z_y exactly.\n"
        "- In the scatter, channels at bottom right (relevant, switched off) and top left (harmful, switched "
        "on) are where the attack lowers the score.\n"
        "- **CIFS-lite is not CIFS**: the paper trains relevance probes and the network together; this "
        "training-free mask reuses the final layer and makes no robustness claim. With the adaptive option the "
        "attacker knows about the mask.")
