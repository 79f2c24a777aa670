"""Mean intersection over union (mIoU) and pixel accuracy for multi-class label maps.

Definition (the usual one of PASCAL VOC / Cityscapes, Everingham et al. 2010): from the
confusion matrix M (M[t, p] = pixels of true class t predicted as p), per class
IoU_c = TP_c / (TP_c + FP_c + FN_c) with TP_c = M[c, c], FP_c = Σ_t≠c M[t, c],
FN_c = Σ_p≠c M[c, p]; mIoU = the mean of IoU_c over the classes.

* Data-set mIoU (:func:`dataset_miou`): M accumulated over all pixels of all images first, then
  IoU per class; a class that occurs nowhere (neither in the reference nor in any prediction,
  TP + FP + FN = 0) has no IoU (NaN) and is left out of the mean.
* Per-image mIoU (:func:`per_image_miou`, what the dense worst case minimises): the same on one
  image's own matrix; classes absent from both the image's reference and its prediction are left
  out (they cannot be got wrong); a class only predicted (a false alarm) or only in the reference
  (missed) counts with IoU 0. An image whose reference and prediction are both one same class
  has mIoU 1.

The reference is the ground truth where there is one (the scene test set), otherwise the
model's clean prediction (IoU "with the clean mask", as the person page does).
"""
from __future__ import annotations

import torch


def confusion(ref: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-image confusion matrices (N, C, C) int64 of label maps (N, H, W); M[n, t, p]."""
    if ref.shape != pred.shape:
        raise ValueError(f"reference {tuple(ref.shape)} and prediction {tuple(pred.shape)} differ in shape")
    n = ref.shape[0]
    idx = ref.reshape(n, -1).long() * num_classes + pred.reshape(n, -1).long()
    out = torch.zeros(n, num_classes * num_classes, dtype=torch.int64, device=ref.device)
    out.scatter_add_(1, idx, torch.ones_like(idx))
    return out.view(n, num_classes, num_classes)


def iou_from_confusion(m: torch.Tensor) -> torch.Tensor:
    """IoU per class (…, C) from confusion matrices (…, C, C); NaN where TP + FP + FN = 0."""
    m = m.double()
    tp = torch.diagonal(m, dim1=-2, dim2=-1)
    denom = m.sum(-1) + m.sum(-2) - tp
    return torch.where(denom > 0, tp / denom.clamp_min(1), torch.full_like(tp, float("nan")))


def nanmean(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Mean over ``dim`` ignoring NaN (NaN when every entry is NaN)."""
    ok = ~torch.isnan(t)
    s = torch.where(ok, t, torch.zeros_like(t)).sum(dim)
    c = ok.sum(dim)
    return torch.where(c > 0, s / c.clamp_min(1), torch.full_like(s, float("nan")))


def per_image_miou(ref: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """mIoU of each image (N,) float (see the module docstring for absent classes)."""
    return nanmean(iou_from_confusion(confusion(ref, pred, num_classes))).float()


def per_image_pixel_accuracy(ref: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Share of pixels with the reference label, per image (N,)."""
    return (ref == pred).flatten(1).double().mean(1).float()


def dataset_miou(ref: torch.Tensor, pred: torch.Tensor, num_classes: int) -> tuple[float, torch.Tensor]:
    """(mIoU over the data set, IoU per class (C,), NaN for classes absent everywhere)."""
    m = confusion(ref, pred, num_classes).sum(0)
    iou = iou_from_confusion(m)
    return float(nanmean(iou)), iou.float()
