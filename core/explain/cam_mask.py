"""Approximate object masks from an ImageNet classifier's class activation maps (CAM / Grad-CAM).

Zhou, Khosla, Lapedriza, Oliva, Torralba, "Learning Deep Features for Discriminative
Localization" (CVPR 2016): for a network that ends in global average pooling and a linear
layer, the class activation map of class k is CAM_k = Σ_c W_kc · A_c on the last feature map A.
Selvaraju et al., "Grad-CAM" (ICCV 2017) generalise this with channel weights
α_kc = mean_hw ∂z_k/∂A_c; for a GAP + linear head α_kc = W_kc / (h·w), so Grad-CAM is CAM up to
a positive factor followed by a ReLU. This file computes α by autograd (Grad-CAM), so any
classifier with ``forward_features`` / ``forward_head`` works, and gets exactly CAM on the
project's EfficientNet-Lite models.

The mask (a project choice, not from the papers; labelled **approximate** in the app):

1. run the classifier on the photo stretched to its input size (no centre crop, so the map
   covers the whole photo);
2. take the top-k classes of the clean photo (default k = 3) and their softmax probabilities
   p_k; the channel weights are w_c = Σ_k p_k α_kc, computed once on the clean photo and then
   **kept fixed** (so that an attack changes the map, not the definition of the mask);
3. map(x) = ReLU(Σ_c w_c A_c(x)), normalised by its per-image maximum, bilinearly upsampled
   from the feature grid (7×7 at 224 px for EfficientNet-Lite0) to the classifier's input size;
4. person-style "logits" = sharpness · (map − threshold) with threshold 0.5 of the maximum and
   sharpness 12, so that sigmoid(logits) is a soft mask and logits > 0 the binary mask.

:class:`CamMaskModel` wraps steps 3–4 as a module with the same interface as
:class:`core.models.dense.selfie_segmentation.SelfieSegmenter` (``forward`` = probability,
``forward_logits``, ``forward_features``, ``input_size``), so the segmentation attacks and the
dense equivariance defense run on it unchanged. It never modifies the shared classifier.
Deviations: the 7×7 grid makes the mask blobby; a class that is not an object (e.g. "web site")
gives a meaningless mask; the threshold is relative, so *some* region is always "in".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TOP_K = 3
THRESHOLD = 0.5
SHARPNESS = 12.0


@dataclass
class CamClasses:
    """The classes a CAM mask is built from, with their weights."""

    classes: torch.Tensor  # (N, k) long
    probs: torch.Tensor  # (N, k)
    names: list[list[str]]


def _stretch(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    size = model.input_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def channel_weights(classifier: nn.Module, x: torch.Tensor, top_k: int = TOP_K
                    ) -> tuple[torch.Tensor, CamClasses]:
    """Grad-CAM channel weights w_c = Σ_k p_k α_kc over the top-k classes of ``x`` (N, C)."""
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    xs = _stretch(classifier, x.detach())
    with torch.enable_grad():
        fmap, _ = classifier.forward_features(xs)
        fmap = fmap.detach().requires_grad_(True)
        logits = classifier.forward_head(fmap)
        probs = logits.detach().float().softmax(1)
        p, k = probs.topk(min(top_k, probs.shape[1]), dim=1)
        alphas = []
        for j in range(k.shape[1]):
            score = logits.gather(1, k[:, j: j + 1]).sum()
            (g,) = torch.autograd.grad(score, fmap, retain_graph=j + 1 < k.shape[1])
            alphas.append(g.mean(dim=(2, 3)))  # (N, C)
    alpha = torch.stack(alphas, 1)  # (N, k, C)
    w = (p.unsqueeze(-1) * alpha).sum(1)
    names = getattr(classifier, "class_names", None)
    labels = [[names[int(c)] if names else str(int(c)) for c in row] for row in k.cpu()]
    return w.detach(), CamClasses(classes=k.cpu(), probs=p.cpu(), names=labels)


class CamMaskModel(nn.Module):
    """A classifier's fixed-weight class activation map, seen as a one-class segmenter.

    Build it with :func:`cam_mask_model` (which picks the top classes of the clean photo).
    """

    task = "segmentation"
    approximate = True

    def __init__(self, classifier: nn.Module, weights: torch.Tensor, classes: CamClasses,
                 threshold: float = THRESHOLD, sharpness: float = SHARPNESS) -> None:
        super().__init__()
        if not 0 < threshold < 1:
            raise ValueError("threshold must lie in (0, 1)")
        self.classifier = classifier  # shared and read-only: only forward_features is called
        self.register_buffer("weights", weights, persistent=False)
        self.classes = classes
        self.threshold = float(threshold)
        self.sharpness = float(sharpness)
        size = classifier.input_size
        self.input_size = (size, size) if isinstance(size, int) else tuple(size)
        top = classes.names[0][0] if classes.names and classes.names[0] else "?"
        self.name = f"CAM of {getattr(classifier, 'name', 'classifier')} ({top}…, approximate)"
        self.class_names = ["background", "object"]
        self.training = False

    def train(self, mode: bool = True):  # noqa: D102 - never switch the shared classifier
        if mode:
            raise RuntimeError("a CAM mask model is evaluation-only")
        return self

    @property
    def stage_names(self) -> list[str]:
        return ["cam", "logits"]

    def cam(self, x: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """The normalised map in [0, 1] on the feature grid, (N, 1, h, w)."""
        xs = _stretch(self.classifier, x) if resize else x
        fmap, _ = self.classifier.forward_features(xs)
        w = self.weights.to(fmap.dtype)
        if w.shape[0] != fmap.shape[0]:
            if w.shape[0] != 1:
                raise ValueError(f"weights for {w.shape[0]} images, batch of {fmap.shape[0]}")
            w = w.expand(fmap.shape[0], -1)
        m = F.relu(torch.einsum("nc,nchw->nhw", w, fmap)).unsqueeze(1)
        return m / m.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = (), *,
                         resize: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits at the classifier's input size (or the input's own size when ``resize`` is
        False) and, in ``keep``, ``cam`` (the normalised map on the feature grid)."""
        m = self.cam(x, resize=resize)
        size = self.input_size if resize else tuple(x.shape[-2:])
        up = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        logits = self.sharpness * (up - self.threshold)
        feats = {}
        if "cam" in keep:
            feats["cam"] = m
        if "logits" in keep:
            feats["logits"] = logits
        return logits, feats

    def forward_logits(self, x: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        return self.forward_features(x, resize=resize)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.sigmoid(self.forward_logits(x))


def cam_mask_model(classifier: nn.Module, x_clean: torch.Tensor, *, top_k: int = TOP_K,
                   threshold: float = THRESHOLD, sharpness: float = SHARPNESS) -> CamMaskModel:
    """A :class:`CamMaskModel` whose class weights come from the clean photo(s) ``x_clean``."""
    dev = next((p.device for p in classifier.parameters()), x_clean.device)
    w, classes = channel_weights(classifier, x_clean.to(dev), top_k)
    return CamMaskModel(classifier, w, classes, threshold, sharpness)


def cam_mask(classifier: nn.Module, x: torch.Tensor, *, top_k: int = TOP_K,
             threshold: float = THRESHOLD) -> tuple[torch.Tensor, torch.Tensor, CamClasses]:
    """Convenience: (soft map in [0, 1], binary mask) at the image size of ``x``, and the
    classes used. Both (N, 1, H, W)."""
    model = cam_mask_model(classifier, x, top_k=top_k, threshold=threshold)
    dev = model.weights.device
    with torch.no_grad():
        m = model.cam(x.to(dev))
    m = F.interpolate(m, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return m.cpu(), (m > threshold).float().cpu(), model.classes
