"""CIFS-lite: a training-free, exploratory take on channel-wise importance-based feature
selection.

Paper: H. Yan, J. Zhang, G. Niu, J. Feng, V. Tan, M. Sugiyama, *CIFS: Improving Adversarial
Robustness of CNNs via Channel-wise Importance-based Feature Selection*, ICML 2021
(``HanshuYAN/CIFS``, ``models/nets/resnet_CIFS.py``). Summary: docs/ALGORITHMS.md.

CIFS trains probes that score each channel's relevance to the top predicted classes and
reweights the channels by a softmax mask. This file is **not** CIFS: it is the training-free
proposal of this project (not from the paper), labelled "CIFS-lite (untrained,
exploratory)" in the app:

* the probe is the pretrained classifier's own final linear layer on the head map A (C×H×W,
  after ReLU6, before global average pooling); for GAP + linear, the relevance of channel c to
  class y is exactly r_c(y) = ∂z_y/∂ā_c = W_{y,c} (:func:`channel_relevance`);
* g_c = W_{k1,c} + W_{k2,c} for the top-2 predicted classes k1, k2 (closed form, no backward
  pass);
* mask m = C·softmax(g/T) (mean 1; T → ∞ gives the identity), A ← A ⊙ m, and only the head is
  run again.

Defaults: k = 2, T = 1 (the paper's mask temperature; the app's slider spans 0.1–10 and ∞).
Cost: one forward pass plus one head evaluation. The mask depends on the input only through
the (piecewise constant) top-2 classes, so autograd's gradient is the true gradient almost
everywhere: adaptive route "plain". Expect some clean-accuracy loss; no robustness claim is
made for the untrained variant.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from core.defenses.base import Defense, DefenseOutput
from core.defenses.common import fast
from core.runtime.progress import ProgressFn


def channel_relevance(model: nn.Module, classes: torch.Tensor | int | list[int]) -> torch.Tensor:
    """r_c(y) = W_{y,c} for GAP + linear heads: (len(classes), C), or (C,) for one int class."""
    w = model.classifier_weight
    if isinstance(classes, int):
        return w[classes].detach()
    idx = torch.as_tensor(classes, device=w.device, dtype=torch.long)
    return w[idx].detach()


def cifs_lite_mask(model: nn.Module, logits: torch.Tensor, temperature: float = 1.0, k: int = 2) -> torch.Tensor:
    """(N, C) mask C·softmax(g/T), g = Σ of the classifier rows of the top-k predicted classes.
    ``temperature = inf`` gives ones."""
    w = model.classifier_weight.detach()
    c = w.shape[1]
    if math.isinf(temperature):
        return torch.ones(logits.shape[0], c, device=logits.device, dtype=w.dtype)
    if not temperature > 0:
        raise ValueError("temperature must be > 0")
    top = logits.detach().topk(k, dim=1).indices  # (N, k)
    g = w[top].sum(1)  # (N, C)
    return c * torch.softmax(g / temperature, dim=1)


def cifs_lite_forward(model: nn.Module, x: torch.Tensor, temperature: float = 1.0, k: int = 2
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reweighted logits, plain logits, mask) for a batch in [0, 1]."""
    fmap, _ = model.forward_features(x)
    plain = model.forward_head(fmap)
    mask = cifs_lite_mask(model, plain, temperature, k)
    logits = model.forward_head(fmap * mask[:, :, None, None].to(fmap.dtype))
    return logits, plain, mask


class CIFSLite(Defense):
    """CIFS-lite (untrained, exploratory); see the module docstring."""

    name = "CIFS-lite (untrained, exploratory)"
    paper = "After Yan et al., CIFS, ICML 2021 (training-free variant, not from the paper)"
    summary = ("Reweights the channels of the last feature map by how relevant each is to the two classes the "
               "model currently favours, using the classifier's own weights as the relevance probe, then "
               "re-runs the head. The real CIFS trains its probes; this untrained variant is an exploration, "
               "not a defense with a robustness claim.")
    adaptive_route = "plain"

    def __init__(self, model: nn.Module, *, temperature: float = 1.0, k: int = 2) -> None:
        super().__init__(model)
        self.temperature = float(temperature)
        self.k = int(k)

    def params(self) -> dict:
        return {"temperature": self.temperature, "k": self.k}

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        logits, plain, mask = cifs_lite_forward(fast(self.model), x, self.temperature, self.k)
        return DefenseOutput(logits=logits, x_classified=x,
                             diagnostics={"mask": mask.detach().cpu(), "plain_logits": plain.detach().cpu(),
                                          "params": self.params()})

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        return cifs_lite_forward(fast(self.model), x, self.temperature, self.k)[0]

    _naive_forward = _adaptive_forward
