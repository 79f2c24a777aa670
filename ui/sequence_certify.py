"""The Certify page's sequence mode: pick a shipped frame sequence, certify it with Smooth-Reduce's
sequence variants and plain smoothing, and read the certificate audit (core/evaluation/audit/certificates.py)."""
from __future__ import annotations

import streamlit as st
import torch

from core.evaluation.audit.certificates import audit_point, load_audit
from core.data.sequences import load_test_sequences
from core.defenses.smooth_reduce_sequences import (ALPHA, LENGTH, PAPER, SIGMA, STRIDE, all_variants,
                                                   certify_variants, subsequence_view)
from core.models.sequence_net import load_card, load_sequence_net
from core.viz.defenses import class_counts_figure
from core.viz.sequences import audit_figure, frames_figure, radius_figure, subsequence_figure
from ui.common import action_bar, device_caption
from ui.run import run_and_show

INTRO = (
    "**Smooth-Reduce on video** (Joshi et al. 2022) cuts a clip into overlapping **sub-sequences**, "
    "adds **independent** Gaussian noise to each, classifies each (here: the mean of a small network's "
    "logits over 2-frame chunks), reduces the sub-sequences' softmax scores by **max** or **mean**, and "
    "certifies the vote like Cohen et al.: R = σ·Φ⁻¹(p̲A). But a frame that lies in m sub-sequences gets m "
    "independent noises, and a change of that frame moves all m copies: Cohen's theorem then only gives "
    "**R/√m**. The **one-draw** variant adds one noise to the whole sequence and splits it afterwards; for "
    "it the usual guarantee plainly holds. **Plain smoothing** of the whole sequence is the baseline. The "
    "**audit** below attacks each smoothed classifier inside its own radius and counts the certificates "
    "that break.")


@st.cache_resource(show_spinner="Loading the sequence network…")
def _net() -> torch.nn.Module:
    return load_sequence_net()


@st.cache_data(show_spinner=False)
def _sequences() -> tuple[torch.Tensor, torch.Tensor]:
    return load_test_sequences()


def _sidebar(labels: torch.Tensor, names: list[str], variants: list[str]) -> dict:
    with st.sidebar:
        st.header("Sequence")
        idx = st.selectbox("Shipped test sequence", list(range(len(labels))), key="certseq_idx",
                           format_func=lambda i: f"#{i}: {names[int(labels[i])]}")
        st.header("Smoothing")
        sigma = st.select_slider("Noise σ", [0.12, 0.25, 0.5], SIGMA, key="certseq_sigma",
                                 help=f"The network was trained with σ = {SIGMA:g}. The paper's σ: {PAPER['sigma']:g}.")
        alpha = st.select_slider("Failure probability α", [0.01, 0.001], ALPHA, key="certseq_alpha")
        n0 = st.slider("Selection samples n0", 8, 128, 16, 8, key="certseq_n0")
        n = st.slider("Estimation samples n", 50, 2000, 200, 50, key="certseq_n",
                      help=f"The paper: n0 = {PAPER['n0']}, n = {PAPER['n']:,}, α = {PAPER['alpha']:g}.")
        length = st.select_slider("Sub-sequence length (frames)", [4, 8, 16], LENGTH, key="certseq_len")
        stride = st.select_slider("Sub-sequence stride (frames)", [2, 4, 8], STRIDE, key="certseq_stride")
        chosen = st.multiselect("Variants", variants, variants, key="certseq_variants")
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="certseq_seed"))
        device_caption()
    return dict(idx=idx, sigma=sigma, alpha=alpha, n0=n0, n=n, length=length, stride=stride, chosen=chosen, seed=seed)


def _results(res: dict, names: list[str], label: int) -> None:
    cols = st.columns(len(res))
    rows = []
    for col, (nm, c) in zip(cols, res.items()):
        r = c.result
        rows.append({"name": nm, "radius": c.radius, "sound_radius": c.sound_radius, "abstain": c.predicted < 0,
                     "max_radius": c.max_radius})
        with col:
            st.markdown(f"**{nm}**")
            verdict = "abstains" if c.predicted < 0 else f"“{names[c.predicted]}”, R = {c.radius:.3f}"
            st.caption(f"{verdict}; p̲A = {r.p_lower:.3f}; sound R = {c.sound_radius:.3f}"
                       + ("" if c.predicted < 0 or c.predicted == label else " — not the true class"))
            st.plotly_chart(class_counts_figure(r.counts, names, top=4, highlight=r.c_hat, height=200,
                                                title=f"votes of n = {int(r.counts.sum())}"),
                            key=f"certseq_votes_{nm}", width="stretch")
    st.plotly_chart(radius_figure(rows), key="certseq_radius", width="stretch")


def _audit_section(seq: torch.Tensor, names: list[str]) -> None:
    audit = load_audit()
    st.subheader("Certificate audit")
    if not audit:
        st.info("No stored audit: run `tools/audit_certificates.py`.")
        return
    for part, what in (("sequences", "the shipped sequence network"),
                       ("sequences_hard", "the network on its least lopsided votes"),
                       ("toy_linear", "a linear toy sequence model")):
        block = audit.get(part)
        if not block:
            continue
        st.plotly_chart(audit_figure(block["variants"], f"Broken certificates: {what} (n per variant in the bars)"),
                        key=f"certseq_audit_{part}", width="stretch")
        st.caption(f"σ = {block['certify']['sigma']:g}, n0 = {block['certify']['n0']}, n = {block['certify']['n']}, "
                   f"α = {block['certify']['alpha']:g}; attack: PGD-L2 with {block['audit']['eot']} noise draws per "
                   f"step, {block['audit']['steps']} steps, budget {block['audit']['shrink']:.0%} of each radius; a flip "
                   f"counts when {block['audit']['confirm_n']:,} fresh votes put the class's share below ½. "
                   f"Bars: exact 95 % intervals. `{block['command']}` ({block['seconds']:.0f} s).")
        _broken_example(part, block, seq, names)
    img = audit.get("images")
    if img:
        parts = [f"{nm}: {m['flips']} of {m['certified']} certified photos flipped" for nm, m in img["methods"].items()]
        st.caption(f"Photos ({img['model']}, {', '.join(img['photos'])}): " + "; ".join(parts) + ".")


def _broken_example(part: str, block: dict, seq: torch.Tensor, names: list[str]) -> None:
    for vi, (vn, v) in enumerate(block["variants"].items()):
        broken = [i for i, row in enumerate(v["per_input"]) if row["flipped"]]
        if not broken:
            continue
        i = broken[0]
        row, x_adv = v["per_input"][i], audit_point(part, vi, i)
        if x_adv is None:
            continue
        real = part.startswith("sequences")
        cls = names[row["certified_class"]] if real else f"class {row['certified_class']}"
        st.error(f"**Broken: {vn}**, {'sequence' if real else 'toy input'} #{block['index'][i]}: certified “{cls}” "
                 f"within R = {row['radius']:.3f}; at distance {row['distance']:.3f} its vote share is at most "
                 f"{row['p_upper']:.3f} (sound radius {row['sound_radius']:.3f}).")
        if real:  # the toy's 2×2 frames say nothing as pictures
            clean = seq[block["index"][i]]
            st.plotly_chart(frames_figure(clean, "the certified sequence"), key=f"certseq_b0_{part}", width="stretch")
            st.plotly_chart(frames_figure(x_adv, f"the sequence that breaks it, {row['distance']:.3f} away "
                                                 f"(amplified change below)"), key=f"certseq_b1_{part}", width="stretch")
            st.plotly_chart(frames_figure(0.5 + (x_adv - clean) / (2 * float((x_adv - clean).abs().max())),
                                          "the change, amplified (grey = none)"), key=f"certseq_b2_{part}", width="stretch")
        return


def sequence_mode() -> None:
    """The whole sequence mode of the Certify page."""
    with st.expander("What does the sequence mode show?", expanded=False):
        st.markdown(INTRO)
    seq, labels = _sequences()
    net = _net()
    names = net.class_names
    s = _sidebar(labels, names, list(all_variants(net)))
    run = action_bar().button("Certify the sequence", type="primary", key="certseq_run")
    x, label = seq[s["idx"]:s["idx"] + 1], int(labels[s["idx"]])
    card = load_card()
    if card:
        acc = card["clean"]
        st.caption(f"Sequence network: clean accuracy {acc['accuracy']:.1%} (95 % interval "
                   f"{acc['ci95'][0]:.1%}–{acc['ci95'][1]:.1%}, n = {acc['n']}) on the shipped sequences.")
    st.plotly_chart(frames_figure(x[0], f"Sequence #{s['idx']}: {names[label]} ({x.shape[1]} frames)"),
                    key="certseq_frames", width="stretch")
    starts, probs = subsequence_view(net, x, s["length"], s["stride"])
    st.plotly_chart(subsequence_figure(starts, s["length"], x.shape[1], probs, names, label),
                    key="certseq_subs", width="stretch")
    settings = tuple(sorted((k, str(v)) for k, v in s.items()))
    shown = run_and_show("certseq", run=run, inputs=(x,), settings=settings, button="Certify the sequence",
                         label="Certifying…", compute=lambda progress: certify_variants(
                             net, x, s["chosen"], sigma=s["sigma"], length=s["length"], stride=s["stride"],
                             n0=s["n0"], n=s["n"], alpha=s["alpha"], seed=s["seed"], progress=progress))
    if shown is None:
        st.info("Press **Certify the sequence** above.")
    elif shown.value:
        _results(shown.value, names, label)
    _audit_section(seq, names)


__all__ = ["sequence_mode"]
