"""Home: what the app is, and four guided paths into it (the tour), plus the surprising cases."""
from __future__ import annotations

import streamlit as st

from core.teaching.presets import PAGE_PATHS, PAGE_TITLES, all_presets
from core.teaching.tour import PATHS, STEPS, path_start
from core.viz.common import to_numpy_image
from ui import tour
from ui.common import home_example
from ui.presets import queue

st.title("🛡️ Robustness Explorer")
x_clean, x_adv, demo = home_example()  # computed live on the first visit, then cached (ui/common.py)
d1, d2, d3 = st.columns([1, 1, 2], vertical_alignment="top")
d1.image(to_numpy_image(x_clean), caption=f"A photo: the model says “{demo.clean.names[0]}” ({demo.clean.probs[0]:.0%})",
         width="stretch")
d2.image(to_numpy_image(x_adv), caption=f"Its adversarial twin: “{demo.adv.names[0]}” ({demo.adv.probs[0]:.0%})",
         width="stretch")
d3.markdown(f"### Two images you cannot tell apart\nThe right one differs from the left by at most "
            f"**{demo.stats['linf_255']:.0f}/255** per pixel (PSNR {demo.stats['psnr']:.0f} dB), yet the model "
            f"changes its answer from **{demo.clean.names[0]}** to **{demo.adv.names[0]}**. Both were computed "
            "live on this machine on the first visit; the Attack Lab makes your own.")
st.markdown(
    "Image classifiers can be fooled by changes too small for you to see. This app lets you **make such "
    "adversarial examples** on real ImageNet and segmentation models, **switch defenses on and off**, "
    "look at **what the model attends to**, and **certify** predictions — on the bundled photos or your own, "
    "live, on this machine. Every number is computed as you watch.\n\n"
    "New here? Pick a question: the guided tour loads the right photo, model, attack and defense at each "
    "step, explains the idea in a few lines, and tells you what to notice.")

cols = st.columns(2)
for k, p in enumerate(PATHS):
    first = path_start(p.key)
    titles = [s.title for s in STEPS if s.path == p.key]
    with cols[k % 2].container(border=True, key=f"home_path_{p.key}"):
        st.subheader(p.question, anchor=False)
        st.markdown(p.teaser)
        st.caption(" → ".join(titles))
        if st.button(f"Start: {p.question}", key=f"home_start_{p.key}", width="stretch"):
            tour.start(p.key)

c1, c2 = st.columns([1, 2], vertical_alignment="center")
if c1.button(f"🧭 Take the whole tour ({len(STEPS)} steps)", key="home_start_all", width="stretch"):
    tour.start()
c2.caption("The tour panel sits at the top of each page; Back and Next move between steps, and you can change "
           "any setting on the way. For a projector, switch on **Presenter mode** in the sidebar.")

st.subheader("Jump to a surprising case", anchor=False)
st.caption("One click loads the settings on the right page and runs them. Each of these claims is checked by the "
           "project's tests with exactly these settings.")
surprising = [p for p in all_presets() if p.surprising]
scols = st.columns(3)
for k, p in enumerate(surprising):
    with scols[k % 3]:
        if st.button(f"{p.title.lstrip('⚡ ')} ({PAGE_TITLES[p.page]})", key=f"home_case_{p.page}_{p.id}",
                     help=p.blurb, width="stretch"):
            queue(p)
            st.switch_page(PAGE_PATHS[p.page])

with st.expander("What is on each page?"):
    st.markdown(
        "- **Attack Lab** — attack one photo with FGSM, PGD, APGD, CW and more; replay the attack step by step; "
        "switch a defense on, with or without an attacker who knows it.\n"
        "- **Defenses** — one attack against several defenses side by side; non-adaptive or adaptive (BPDA, EOT).\n"
        "- **Certify** — randomized smoothing and Smooth-Reduce certificates with their vote counts and radii, on "
        "images and frame sequences, and the audit that breaks certificates.\n"
        "- **Segmentation** — attack a person mask or a garment label map and repair it by equivariance; attack "
        "denoisers; few-shot segmentation from one example (R-PNODE against a prototype CNN), with your own support.\n"
        "- **Saliency**, **Channels**, **Feature maps** — what the model looks at, which channels an attack "
        "flips, and whether larger feature maps help.\n"
        "- **Robustness curves**, **Batch evaluation** — many budgets, many images.\n"
        "- **Model zoo** — small Fashion-MNIST models trained with different training-time defenses, attacked "
        "side by side, with each model's worst-case accuracy.\n"
        "- **Robustness audit** — checks a model or a defense for signs of gradient masking.\n"
        "- **Claims** — every paper's headline claim beside what this project measured, with a verdict.\n"
        "- **Glossary** — every term, with its equation.")
