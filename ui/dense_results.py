"""The Segmentation page's result views for its two heavier tasks: the multi-class label map
(Garment U-Net: attack, equivariance defense, per-class IoU) and the denoiser (ObsAtk, HAT,
purification before a classifier). Drawn from the results that :mod:`core.dense.page` and
:mod:`core.dense.denoise` compute; the page (views/segmentation.py) only picks the settings."""
from __future__ import annotations

import streamlit as st

from core.safe_text import md
from core.viz.common import amplified_perturbation
from core.viz.denoise import grey_panel, psnr_curve_figure
from core.viz.segmentation import (dense_trajectory_figure, image_grid, iou_change_figure, label_grid, label_image,
                                   label_overlay, moved_figure, purification_figure)
from core.dense.denoise import DenoiseExperiment
from core.dense.page import DenseExperiment, present_classes
from ui.tables import show_table


def show_denoise_result(ex: DenoiseExperiment) -> None:
    """A finished denoiser run (:class:`core.dense.denoise.DenoiseExperiment`)."""
    p = ex.psnr
    fooled = ex.predictions["denoised, attacked"][0] != ex.predictions["clean"][0]
    drop = p["denoised"] - p["denoised, attacked"]
    drop_r = p["denoised"] - p["denoised, random noise"]
    (st.error if fooled else st.success)(
        f"{md(ex.denoiser)} under **{ex.attack}** (ε = {ex.eps_rms * 255:.0f}/255 RMS): PSNR "
        f"{p['denoised']:.1f} → **{p['denoised, attacked']:.1f} dB** (random zero-mean noise of the same norm: "
        f"{p['denoised, random noise']:.1f} dB). The classifier reads the purified image as "
        f"**{ex.predictions['denoised, attacked'][0]}**"
        + (" — the purification **failed**." if fooled else f" — still the clean prediction."))
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
    """A finished label-map run (:func:`core.dense.page.run_dense_experiment`): verdict, metrics, the
    maps, per-class IoU and what moved where."""
    m_clean, m_adv = ex.miou(ex.clean_pred)[0], ex.miou(ex.adv_pred)[0]
    m_def = ex.miou(ex.defended_pred)[0] if ex.defended_pred is not None else None
    verdict = f"mIoU {m_clean:.2f} → **{m_adv:.2f}** under {md(ex.attack)}"
    if ex.found_by:
        verdict += f" (the lowest was reached by {md(ex.found_by)})"
    if m_def is not None:
        verdict += (f"; the defense brings it to **{m_def:.2f}**"
                    + (" — against an attacker who ignored the defense" if ex.adaptive == "none"
                       else " against the equivariance-aware attacker"))
    (st.error if m_adv < m_clean - 0.1 and (m_def is None or m_def < m_clean - 0.1) else st.success)(verdict + ".")
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
    c1, c2 = st.columns(2)
    c1.plotly_chart(iou_change_figure(ex.rows()), key="seg_dense_iou")
    c2.plotly_chart(moved_figure(ex.moved(ex.adv_pred), names), key="seg_dense_moved")
    st.subheader("Per class")
    show_table(ex.rows(), decimals={k: 3 for k in ("IoU clean", "IoU attacked", "IoU defended", "change")})
    if ex.defended_pred is not None:
        c3, c4 = st.columns(2)
        c3.plotly_chart(moved_figure(ex.moved(ex.defended_pred), names, title="Clean → defended",
                                     to_label="defended prediction"), key="seg_dense_moved_def")
        if ex.purification is not None:
            c4.plotly_chart(purification_figure(ex.purification.trajectory, ex.purification.loss_min),
                            key="seg_dense_pur")
    if ex.trajectory:
        st.plotly_chart(dense_trajectory_figure(ex.trajectory), key="seg_dense_traj")
