"""The Segmentation page's result views: the person mask (attack, equivariance defense, its
details after the result), the multi-class label map (Garment U-Net: attack, equivariance
defense, per-class IoU) and the denoiser (ObsAtk, HAT, purification before a classifier). Drawn
from the results that :mod:`core.defenses.seg_equivariance`, :mod:`core.evaluation.dense.page` and
:mod:`core.evaluation.dense.denoise` compute; the page (views/segmentation.py) only picks the settings."""
from __future__ import annotations

import streamlit as st
import torch
from torch import nn

from core.judging import pages as pv
from core.defenses.seg_equivariance import SegEquivariancePurification, SegExperiment, add_details
from core.data.safe_text import md
from core.viz.common import amplified_perturbation
from core.viz.dense.denoise import grey_panel, psnr_curve_figure
from core.viz.dense.segmentation import (attack_trajectory_figure, comparison_figure, dense_trajectory_figure,
                                   error_heatmaps, flipped_figure, image_grid, iou_change_figure, label_grid,
                                   label_image, label_overlay, moved_figure, purification_figure, target_preview,
                                   views_figure)
from core.evaluation.dense.denoise import DenoiseExperiment
from core.evaluation.dense.page import DenseExperiment, present_classes
from ui.long_work import work_slot
from ui.tables import show_table
from ui.verdicts import show_verdict


def show_denoise_result(ex: DenoiseExperiment) -> None:
    """A finished denoiser run (:class:`core.evaluation.dense.denoise.DenoiseExperiment`)."""
    p = ex.psnr
    fooled = ex.predictions["denoised, attacked"][0] != ex.predictions["clean"][0]
    drop = p["denoised"] - p["denoised, attacked"]
    drop_r = p["denoised"] - p["denoised, random noise"]
    show_verdict(
        f"{md(ex.denoiser)} under **{ex.attack}** (ε = {ex.eps_rms * 255:.0f}/255 RMS): PSNR "
        f"{p['denoised']:.1f} → **{p['denoised, attacked']:.1f} dB** (random zero-mean noise of the same norm: "
        f"{p['denoised, random noise']:.1f} dB). The classifier reads the purified image as "
        f"**{ex.predictions['denoised, attacked'][0]}**"
        + (" — the purification **failed**." if fooled else " — still the clean prediction."), pv.BAD if fooled else pv.GOOD)
    cols = st.columns(4)
    cols[0].metric("PSNR denoised", f"{p['denoised']:.1f} dB")
    cols[1].metric("PSNR attacked", f"{p['denoised, attacked']:.1f} dB", delta=f"{-drop:+.1f} dB")
    cols[2].metric("PSNR random noise", f"{p['denoised, random noise']:.1f} dB", delta=f"{-drop_r:+.1f} dB")
    cols[3].metric("Classifier on attacked", ex.predictions["denoised, attacked"][0],
                   help="fmnist-standard on the denoised attacked observation.")
    panels = [(f"{k}<br>{c} {pr:.0%}", grey_panel(img)) for k, img, (c, pr) in
              [("clean", ex.x, ex.predictions["clean"]), ("noisy y", ex.y, ex.predictions["noisy"]),
               ("f(y)", ex.denoised, ex.predictions["denoised"]),
               ("f(y + δ)", ex.denoised_attacked, ex.predictions["denoised, attacked"]),
               ("f(y + random)", ex.denoised_random, ex.predictions["denoised, random noise"])]]
    panels.append(("δ (amplified)", grey_panel(ex.delta, amplify=True)))
    st.plotly_chart(image_grid(panels, height=260), key="seg_den_panels")
    st.caption(f"δ: mean {ex.extra['delta_mean']:+.1e} (zero-mean), ‖δ‖₂ = {ex.extra['delta_l2']:.3f} of the budget "
               f"{ex.extra['budget_l2']:.3f}; {ex.elapsed_s:.1f} s in all. Classifier labels above each panel.")
    if ex.curve is not None:
        st.plotly_chart(psnr_curve_figure(ex.curve, highlight=ex.denoiser), key="seg_den_curve")
        acc = ex.curve["classifier"]["accuracy"]
        rows = [{"denoiser": k, "noisy, no denoiser": v["noisy_no_denoiser"], "denoised": v["denoised"],
                 "denoised, ObsAtk": v["denoised_obsatk"], "denoised, end-to-end attack": v["denoised_end_to_end"]}
                for k, v in acc.items() if k != "clean"]
        st.markdown(f"**Classifier accuracy on the purified images** ({ex.curve['images']} images, ε = "
                    f"{ex.curve['classifier']['eps_rms_255']:g}/255 RMS; clean accuracy {acc['clean']:.0%})")
        show_table(rows, percent=["noisy, no denoiser", "denoised", "denoised, ObsAtk", "denoised, end-to-end attack"])
        st.caption("The classical denoisers receive the ObsAtk perturbation computed on the plain DnCNN (they have no "
                   "gradient): a transfer attack. The end-to-end attack ascends the classifier's loss through the "
                   "denoiser under the same zero-mean L2 budget.")


def show_dense_result(ex: DenseExperiment, names: list[str], colours: list[str], disp: tuple[int, int]) -> None:
    """A finished label-map run (:func:`core.evaluation.dense.page.run_dense_experiment`): verdict, metrics, the
    maps, per-class IoU and what moved where."""
    m_clean, m_adv = ex.miou(ex.clean_pred)[0], ex.miou(ex.adv_pred)[0]
    m_def = ex.miou(ex.defended_pred)[0] if ex.defended_pred is not None else None
    counts = torch.bincount(ex.clean_pred.flatten(), minlength=len(names))
    top = int(counts.argmax())
    v = pv.label_map_attack(m_clean, m_adv, ex.ref_is_truth, float(counts[top]) / max(int(counts.sum()), 1),
                            names[top] if top < len(names) else str(top))
    sentence = v.sentence + (f" {md(ex.attack)}" + (f"; the lowest was reached by {md(ex.found_by)}." if ex.found_by
                                                    else "."))
    tone = v.tone
    if m_def is not None:
        d = pv.defense_change(pv.kept_share(m_clean, m_adv), pv.kept_share(m_clean, m_def), what="share kept",
                              ignored_defense=ex.adaptive == "none")
        sentence += f" {d.sentence} (defended mIoU {m_def:.2f}" + (
            ", against the equivariance-aware attacker)." if ex.adaptive != "none" else ").")
        tone = v.tone if not v.judged else (d.tone if d.word != pv.NO_DIFFERENCE else v.tone)
    show_verdict(sentence, tone)
    metrics = [("mIoU, clean", f"{m_clean:.3f}", {"help": "Against the ground truth" if ex.ref_is_truth
                                                  else "Against the clean prediction (no ground truth)"}),
               ("mIoU, attacked", f"{m_adv:.3f}", {"delta": f"{m_adv - m_clean:+.3f}"}),
               ("Pixel acc., attacked", f"{ex.pixel_accuracy(ex.adv_pred):.1%}", {})]
    if ex.target is not None:
        metrics.append(("Target reached", f"{ex.target_reached(ex.adv_pred):.1%}",
                        {"help": "Share of pixels equal to the target map."}))
    if m_def is not None:
        metrics.append(("mIoU, defended", f"{m_def:.3f}", {"delta": f"{m_def - m_adv:+.3f}"}))
        if ex.clean_defended_pred is not None:
            metrics.append(("Clean mIoU, defended", f"{ex.miou(ex.clean_defended_pred)[0]:.3f}",
                            {"help": "The defense applied to the clean image: its cost."}))
    for col, (label, value, extra) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, value, **extra)
    st.caption(f"{md(ex.attack)}, L∞ ε = {ex.threat.eps * 255:.0f}/255, {ex.threat.steps} steps; attacker: "
               f"{ex.adaptive}; reference: {'ground truth' if ex.ref_is_truth else 'the clean prediction'}; "
               f"{ex.elapsed_s:.1f} s in all.")
    photos = [("clean image", ex.x, ex.clean_pred), ("attacked image", ex.x_adv, ex.adv_pred)]
    if ex.defended_pred is not None:
        photos.append(("defended image", ex.x_defended, ex.defended_pred))
    panels = [(t, label_overlay(img, p, colours, alpha=0.0, size_hw=disp)) for t, img, p in photos]
    panels.append(("ground truth" if ex.ref_is_truth else "reference", label_image(ex.ref, colours, disp)))
    panels += [(t.replace("image", "prediction"), label_image(p, colours, disp)) for t, _, p in photos]
    panels.append(("target map" if ex.target is not None else "perturbation δ (amplified)",
                   label_image(ex.target, colours, disp) if ex.target is not None else amplified_perturbation(ex.x_adv - ex.x)))
    st.plotly_chart(label_grid(panels, names, colours,
                               present_classes(ex.ref, ex.clean_pred, ex.adv_pred, ex.defended_pred, ex.target),
                               rows=2, height=300), key="seg_dense_maps")
    rows = ex.rows()  # per-class IoUs, for the chart and the table
    c1, c2 = st.columns(2)
    c1.plotly_chart(iou_change_figure(rows), key="seg_dense_iou")
    c2.plotly_chart(moved_figure(ex.moved(ex.adv_pred), names), key="seg_dense_moved")
    st.subheader("Per class")
    show_table(rows, decimals={k: 3 for k in ("IoU clean", "IoU attacked", "IoU defended", "change")})
    if ex.defended_pred is not None:
        c3, c4 = st.columns(2)
        c3.plotly_chart(moved_figure(ex.moved(ex.defended_pred), names, title="Clean → defended",
                                     to_label="defended prediction"), key="seg_dense_moved_def")
        if ex.purification is not None:
            c4.plotly_chart(purification_figure(ex.purification.trajectory, ex.purification.loss_min),
                            key="seg_dense_pur")
    if ex.trajectory:
        st.plotly_chart(dense_trajectory_figure(ex.trajectory), key="seg_dense_traj")


def show_mask_result(exp: SegExperiment, model: nn.Module, x: torch.Tensor,
                     defense: SegEquivariancePurification | None, *, seed: int, disp: tuple[int, int],
                     stale: bool) -> None:
    """A finished person-mask run (:func:`core.defenses.seg_equivariance.run_experiment`, called
    without its details): the verdict, the numbers and the images first; then the details —
    the defense on the clean photo (its number fills the column kept for it) and the views'
    diagnostics — computed once per result (:func:`core.defenses.seg_equivariance.add_details`)
    and drawn below. ``stale``: the settings changed since the result (its details are not computed
    with the new ones)."""
    res = exp.attack
    m = res.metrics()
    iou_att = m["IoU with clean mask"]
    flipped = int((res.clean_mask[0] != res.adv_mask[0]).sum())
    v = pv.mask_attack(iou_att, pixels_flipped=flipped, pixel_accuracy=m["pixel accuracy"],
                       person_share=m["person share (clean)"])
    sentence, tone = v.sentence, v.tone
    if exp.defended_prob is not None and v.judged:
        d = pv.defense_change(iou_att, float(exp.iou_defended[0]), ignored_defense=exp.adaptive == "none")
        sentence += " " + d.sentence
        tone = d.tone if d.word != pv.NO_DIFFERENCE else v.tone
    show_verdict(sentence, tone)
    # Only the metrics that apply, with labels short enough for a quarter of the page in presenter mode.
    metrics = [("IoU, attacked", f"{m['IoU with clean mask']:.3f}", {}),
               ("Pixel acc., attacked", f"{m['pixel accuracy']:.1%}",
                {"help": "Share of pixels where the attacked mask equals the clean mask."})]
    if res.target is not None:
        metrics.append(("Target reached", f"{m['target pixels reached']:.1%}",
                        {"help": "Share of pixels where the attacked mask equals the target mask."}))
    if exp.defended_prob is not None:
        metrics.append(("IoU, defended", f"{float(exp.iou_defended[0]):.3f}",
                        {"delta": f"{float(exp.iou_defended[0]) - m['IoU with clean mask']:+.3f}"}))
    # With a defense, a last column is kept for its cost on the clean photo: filled in with the details.
    cols = st.columns(len(metrics) + int(exp.defended_prob is not None))
    for col, (label, value, extra) in zip(cols, metrics):
        col.metric(label, value, **extra)
    clean_defended_slot = cols[-1].empty() if exp.defended_prob is not None else None
    after = ("" if exp.target_reached_defended is None else
             f" After the defense {float(exp.target_reached_defended[0]):.1%} of the pixels still equal the target.")
    st.caption(f"{res.attack}, L∞ ε = {res.threat.eps * 255:.0f}/255, {res.threat.steps} steps of "
               f"{res.threat.step * 255:g}/255; attacker: {exp.adaptive}; {exp.elapsed_s:.1f} s in all.{after}")

    photos, probs, titles = [res.x_clean, res.x_adv], [res.clean_prob, res.adv_prob], ["clean", "attacked"]
    if exp.defended_prob is not None:
        photos.append(exp.purification.x_purified.cpu())
        probs.append(exp.defended_prob)
        titles.append("defended")
    st.plotly_chart(comparison_figure(photos, probs, titles, size_hw=disp, height=300), key="seg_compare")

    st.subheader("Which pixels flipped")
    st.caption("Green: became person; red: stopped being person; grey: unchanged (compared with the clean mask).")
    st.plotly_chart(flipped_figure(res.clean_prob, probs[1:], [f"{t} vs clean" for t in titles[1:]]), key="seg_flips")

    c1, c2 = st.columns(2)
    c1.plotly_chart(attack_trajectory_figure(res.trajectory), key="seg_attack_traj")
    if exp.purification is not None:
        c2.plotly_chart(purification_figure(exp.purification.trajectory, exp.purification.loss_min), key="seg_pur_traj")
    panels = [("perturbation δ (amplified)", amplified_perturbation(res.delta))]
    if exp.purification is not None:
        panels.append(("reversal v (amplified)", amplified_perturbation(exp.purification.v.cpu())))
    if res.target is not None:
        panels.append(("target", target_preview(res.x_clean, res.target, size_hw=disp)))
    st.plotly_chart(image_grid(panels, height=280), key="seg_deltas")

    # ------------------------------------------------------------------ details (after the result)
    if not exp.diagnostics and not stale:  # once per result: filled in place, so reruns find them
        note = st.empty()
        with work_slot(note):  # one of the server's computation slots, like the click's own work
            note.caption("Computing the details: " + ("the defense on the clean photo and " if defense else "")
                         + "the views of each image…")
            add_details(exp, model, x, defense, seed=seed)
        note.empty()
    if clean_defended_slot is not None and exp.iou_clean_defended is not None:
        clean_defended_slot.metric(
            "Clean IoU, defended", f"{float(exp.iou_clean_defended[0]):.3f}",
            help="IoU of the defended clean photo's mask with the clean mask: the defense also changes "
                 "clean photos a little, and this is its cost.")

    if exp.diagnostics:
        st.subheader("Equivariance: do the views agree?")
        st.caption("Each view transforms the photo; its mask is warped back onto the original. The heatmap shows, per "
                   "pixel, how much the original mask and the warped-back masks disagree.")
        names = list(exp.diagnostics)
        st.plotly_chart(error_heatmaps([exp.diagnostics[k].error for k in names],
                                       [f"{k}: L_equi {float(exp.diagnostics[k].loss[0]):.2f}" for k in names]),
                        key="seg_errors")
        which = st.radio("Views of", names, index=min(1, len(names) - 1), horizontal=True, key="seg_views_of")
        st.plotly_chart(views_figure(exp.diagnostics[which], size_hw=disp), key="seg_views_fig")
