"""Certify: randomized smoothing and Smooth-Reduce certificates for one image, side by side."""
from __future__ import annotations

import streamlit as st

from core.runtime import limits
from core.explain.analysis import topk
from core.defenses import RandomizedSmoothing, SmoothReduce
from core.defenses.smoothing import certify_each, max_certifiable_radius, smoothing_cost_note
from core.viz.common import to_numpy_image
from core.viz.defenses import certificate_figure, class_counts_figure, patch_grid_figure, rmax_curve_figure
from core.data.safe_text import md
from core.judging import pages as pv
from ui.common import action_bar, clean_logits, device_caption, image_and_model, image_tensor, intro
from ui.presets import consume_autorun, preset_bar
from ui.run import run_and_show
from ui.sequence_certify import sequence_mode
from ui.verdicts import show_verdict

st.title("📜 Certify")
if st.radio("Certify", ["Image", "Frame sequence"], horizontal=True, key="cert_mode", label_visibility="collapsed",
            help="Frame sequence: Smooth-Reduce's video certificates on short Fashion-MNIST sequences, "
                 "with the certificate audit.") == "Frame sequence":
    sequence_mode()  # ui/sequence_certify.py
    st.stop()
intro(
    "**Randomized smoothing** (Cohen, Rosenfeld & Kolter 2019) turns any classifier into one with a "
    "*guarantee*: classify many copies of the image with Gaussian noise of size **σ** added, and take the "
    "majority vote. If the winning class wins often enough, a statistical test (a Clopper–Pearson bound "
    "p̲A on its vote share, wrong with probability at most **α**) proves that **no** change of the image "
    "with L2 length below the radius **R = σ·Φ⁻¹(p̲A)** can change the vote. If p̲A is not above ½, the "
    "smoothed classifier **abstains** rather than guess.\n\n"
    "Two limits to keep in mind. With n samples even a unanimous vote only gives p̲A = α^(1/n), so the "
    "radius can never exceed the **ceiling R_max = σ·Φ⁻¹(α^(1/n))**. And the models here were not trained "
    "on noisy images, so at useful σ they often lose track of the object: abstentions are expected.\n\n"
    "**Smooth-Reduce** (Joshi et al. 2022) smooths a *patch ensemble* instead: the noisy image is enlarged "
    "a little, cut into overlapping crops, and the crops' logits are averaged (or max-ed) before the vote. "
    "The certificate is computed the same way; a steadier vote means fewer abstentions and larger radii, "
    "at the price of one forward pass per patch.")

preset_bar("cert")  # one-click presets and the guided tour's settings (ui/presets.py)
action = action_bar()  # the run button, on the first screen (ui/common.py)

with st.sidebar:
    img, img_label, model_name, model = image_and_model("cert")
    st.header("Smoothing")
    sigma = st.select_slider("Noise σ", [0.05, 0.12, 0.25, 0.5, 1.0], 0.25, key="cert_sigma",
                             help="Standard deviation of the Gaussian noise, in [0, 1] pixel units.")
    alpha = st.select_slider("Failure probability α", [0.1, 0.05, 0.01, 0.001], 0.001, key="cert_alpha")
    n0 = st.slider("Selection samples n0", 4, 256, 8, 4, key="cert_n0",
                   help="Noisy copies used to pick the candidate class.")
    n = st.slider("Estimation samples n", 16, 4096, 48, 16, key="cert_n",
                  help="Fresh noisy copies used to bound the candidate's vote share.")
    st.header("Smooth-Reduce")
    use_sr = st.checkbox("Certify with Smooth-Reduce too (≈ 6–12 s more)", False, key="cert_sr",
                         help="One forward pass per patch and noisy copy: four to nine times the cost.")
    sr_n0 = st.slider("Selection samples n0 ", 4, 128, 8, 4, key="cert_sr_n0")
    sr_n = st.slider("Estimation samples n ", 16, 1024, 64, 16, key="cert_sr_n")
    reduction = st.radio("Reduce patch logits by", ["mean", "max"], horizontal=True, key="cert_red")
    stride = st.select_slider("Patch stride (px)", [32, 16], 32, key="cert_stride",
                              help="Patches of the model's input size, from the image enlarged by 32 px: "
                                   "stride 32 gives 2×2 patches, stride 16 gives 3×3.")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="cert_seed"))
    run = action.button("Certify", type="primary", key="cert_run") or consume_autorun("cert")
    device_caption()

if img is None:
    st.stop()

# ------------------------------------------------------------------ compute
x = image_tensor(img, model_name)
clean_top = topk(clean_logits(model_name, model, x), model.class_names)
names = model.class_names

smooth = RandomizedSmoothing(model, sigma=sigma, n0=n0, n=n, alpha=alpha, batch_size=32)
sr = SmoothReduce(model, sigma=sigma, n0=sr_n0, n=sr_n, alpha=alpha, reduction=reduction, stride=stride,
                  batch_size=8) if use_sr else None
methods = {"Randomized smoothing": smooth} | ({"Smooth-Reduce": sr} if sr is not None else {})

top = st.columns([1, 3])
top[0].image(to_numpy_image(x), width="stretch",
             caption=f"{md(img_label)}: without noise the model says {clean_top.names[0]} ({clean_top.probs[0]:.0%})")
with top[1]:
    for name, d in methods.items():
        st.markdown(f"**{name}**: {smoothing_cost_note(d)} Ceiling for n = {d.n}, α = {alpha:g}: "
                    f"R_max = {d.max_radius():.3f} ({d.max_radius() / sigma:.2f}σ).")


shown = run_and_show("cert", run=run, inputs=(x, model_name), button="Certify", label="Certifying…",
                     settings=([(k, d.params()) for k, d in methods.items()], seed), compute=lambda progress: certify_each(methods, x, seed=seed, progress=progress))
if shown is None:
    st.info("Press **Certify** above.")
    st.stop()

# ------------------------------------------------------------------ render
results, used = shown.value
cols = st.columns(len(results))
summary = []
for col, (name, out) in zip(cols, results.items()):
    cert, diag = out.certificate, out.diagnostics
    p = used[name]
    pred = int(cert.predicted[0])
    p_lower = float(cert.details["p_lower"][0])
    c_hat = int(cert.details["c_hat"][0])
    n_a = int(cert.details["n_a"][0])
    r_max = max_certifiable_radius(p["n"], p["alpha"], p["sigma"])
    summary.append({"name": name, "radius": float(cert.radius[0]), "max_radius": r_max, "p_lower": p_lower,
                    "abstain": pred < 0})
    with col:
        st.subheader(name)
        show_verdict(pv.certificate(pred, names[pred] if pred >= 0 else "", names[c_hat], clean_top.names[0], n_a,
                                    p["n"], p_lower, float(cert.radius[0])))
        m1, m2, m3 = st.columns(3)
        m1.metric("p̲A", f"{p_lower:.3f}", help="One-sided (1−α) Clopper–Pearson lower bound on the top class's vote share.")
        m2.metric("Radius R", "abstain" if pred < 0 else f"{float(cert.radius[0]):.3f}")
        m3.metric("R_max", f"{r_max:.3f}", help="σ·Φ⁻¹(α^(1/n)): the radius of a unanimous vote.")
        pc = int(diag["predict_class"][0])
        st.caption(f"PREDICT (binomial test of the top two counts at α): "
                   f"{'abstain' if pc < 0 else names[pc]}, p = {float(diag['predict_pvalue'][0]):.2g}. "
                   f"Time {out.elapsed_s:.1f} s.")
        st.plotly_chart(class_counts_figure(diag["counts"][0], names, highlight=c_hat,
                                            title=f"Votes of the n = {p['n']} noisy copies"),
                        key=f"cert_counts_{name}", width="stretch")
        if diag.get("noisy_samples") is not None:
            noisy = diag["noisy_samples"][0]
            st.image([to_numpy_image(im) for im in noisy], width=110,
                     caption=[f"noisy copy {j + 1}" for j in range(noisy.shape[0])])
            st.caption(f"{noisy.shape[0]} of the noisy copies (σ = {p['sigma']:g}; clipped to [0, 1] for display, "
                       "the model sees them unclipped).")
        if "patch_grid" in diag:
            ens = sr.ensemble() if sr is not None else None
            if ens is not None and ens.resize == diag["resize"]:
                big, pl = ens.patch_view(x)
                labels = [f"{names[int(q.argmax())][:18]} {float(q.max()):.0%}" for q in pl]
                st.plotly_chart(patch_grid_figure(big, diag["patch_grid"], diag["patch_size"], labels,
                                                  title="Patches (clean image) and each patch's top class"),
                                key="cert_patches", width="stretch")

st.plotly_chart(certificate_figure(summary), key="cert_compare", width="stretch")
marks = {s["name"]: (used[s["name"]]["n"], s["radius"]) for s in summary}
st.plotly_chart(rmax_curve_figure(sigma, alpha, marks), key="cert_rmax", width="stretch")
st.caption("The curve is the largest radius n samples can ever certify at this σ and α; the markers are the "
           "radii obtained here. More samples raise the ceiling slowly (like √(log n)); a larger σ raises it "
           "proportionally but makes the noisy copies harder to recognise.")

with st.expander("How to read this"):
    st.markdown(
        "- The **certificate** is a statement about the *smoothed* classifier (the vote), not about the "
        "model on the clean image. It holds for every perturbation with L2 norm below R, with probability "
        "at least 1 − α over the noise draws.\n"
        "- **CERTIFY** picks the candidate class on n0 copies and bounds its share on n fresh copies, so the "
        "selection does not bias the bound. **PREDICT** only tests whether the top class beats the runner-up.\n"
        "- An L2 radius of 0.5 in [0, 1] pixel units at 224×224 corresponds to an average change of only "
        f"about {0.5 / (3 * 224 * 224) ** 0.5 * 255:.2f}/255 per pixel channel, far below typical L∞ attacks.\n"
        f"- The papers use n = 100,000 samples; here n is limited to {limits.MAX_SMOOTHING_SAMPLES:,} and the "
        "defaults are small so the page answers in seconds on a CPU.")
