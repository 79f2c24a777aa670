"""The one small architecture every zoo model shares, and its [0, 1]-input wrapper.

``ZooNet``: four 3×3 conv blocks (conv → batch norm → activation) with 16, 32, 64 and 128
channels and strides 2, 1, 2, 1, then global average pooling and a linear layer to the 10
Fashion-MNIST classes: 98,682 parameters; maps 28 → 14 → 14 → 7 → 7. The first block has
stride 2 because the 28×28 layer dominates the CPU cost (measured: 0.38 ms instead of 0.59 ms
per image and forward+backward pass on one core).

Variants, all with the same parameter shapes (so the comparison stays fair):

* ``strides`` — the feature-map-size recipe uses (2, 1, 1, 1): the last map is 14×14 instead of
  7×7 (Xu et al., ``MTandHJ/rcm``: strides "1222" → "1122"); about 4× the cost per pass.
* ``activation`` — "relu" (default) or the smooth "silu"/"softplus" of the FGSM bag of tricks.
* ``cifs`` — CIFS modules (probe + importance-mask generator) after blocks 3 and 4, see
  :mod:`core.train.cifs`; they add two small probes (2,410 + 1,290 parameters).

Input: the wrapper :class:`ZooClassifier` takes float images in [0, 1] of shape (N, 1, 28, 28)
**or** (N, 3, 28, 28). Three channels are averaged to one grey channel first. Because the mean
of three channel perturbations in [−ε, ε] is again any value in [−ε, ε] (and the box is the
same), an L∞ attack on the 3-channel input has exactly the power of one on the grey image, so
the app's (N, 3, H, W) convention and the 1-channel training data describe the same threat
model. Normalisation (Fashion-MNIST training-set mean 0.2860, std 0.3530) happens inside.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.data.fashion_mnist import FMNIST_CLASSES  # noqa: F401  (the zoo's class names, re-exported)
from core.models.wrappers import ImageClassifier

FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530
CHANNELS = (16, 32, 64, 128)
STRIDES = (2, 1, 2, 1)
Activation = Literal["relu", "silu", "softplus"]
PROBE_HIDDEN = 32
SOFTPLUS_BETA = 5.0


def _act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "silu":
        return nn.SiLU()
    if name == "softplus":
        return nn.Softplus(beta=SOFTPLUS_BETA)
    raise ValueError(f"unknown activation {name!r}")


class CIFSModule(nn.Module):
    """Probe + importance-mask generator (IMGF) of CIFS (Yan et al., ICML 2021), after one block.

    The probe sees the GAP of the block output z (C channels): linear ``Linear(C, 10)`` or
    non-linear ``Linear(C, 32) → Softplus(β = 5) → Linear(32, 10)`` (the paper's hidden width
    is 128 for 512 channels; 32 here for 64). Relevance g_c = Σ_hw ∂s/∂z_chw, s the sum of the
    probe logits of two classes, computed on a *detached* copy of z so that the mask passes
    gradient only to the probe parameters. Because the probe acts on ā = mean_hw z,
    Σ_hw ∂s/∂z_chw = ∂s/∂ā_c, which this module evaluates in closed form (linear probe: the
    sum of two weight rows; non-linear: (w2_k1 + w2_k2) ⊙ sigmoid(β·h) · W1) instead of calling
    autograd with ``create_graph=True`` — the same numbers (checked in the tests), differentiable
    in the probe parameters, and usable under ``torch.no_grad``/``inference_mode``.

    Classes: training (labels given) the true class and the highest-scoring other class;
    test time the probe's top-2. Mask: m = C·softmax_c(g) (the paper: softmax(g); the factor C,
    as in CIFS-lite, keeps the mean multiplier at 1 so that the final GAP + linear head does not
    have to absorb a 1/C scale — a deviation). Output z ⊙ m.
    """

    def __init__(self, channels: int, num_classes: int = 10, hidden: int | None = None) -> None:
        super().__init__()
        self.hidden = hidden
        if hidden is None:
            self.fc1 = nn.Linear(channels, num_classes)
            self.fc2 = None
        else:
            self.fc1 = nn.Linear(channels, hidden)
            self.fc2 = nn.Linear(hidden, num_classes)

    def probe(self, a: torch.Tensor) -> torch.Tensor:
        """Probe logits from pooled features a (N, C)."""
        if self.fc2 is None:
            return self.fc1(a)
        return self.fc2(F.softplus(self.fc1(a), beta=SOFTPLUS_BETA))

    def relevance(self, a: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """g = ∂(Σ_k p_k)/∂a for the classes (N, K), closed form, shape (N, C)."""
        if self.fc2 is None:
            return self.fc1.weight[classes].sum(1)
        h = self.fc1(a)
        w2 = self.fc2.weight[classes].sum(1)  # (N, hidden)
        return (w2 * torch.sigmoid(SOFTPLUS_BETA * h)) @ self.fc1.weight

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z ⊙ mask, probe logits on z (for the probe's loss), mask (N, C))."""
        a = z.mean(dim=(2, 3))
        p = self.probe(a)
        a_det = a.detach()
        p_det = self.probe(a_det)
        if y is not None:
            other = p_det.detach().scatter(1, y[:, None], float("-inf")).argmax(1)
            classes = torch.stack([y, other], 1)
        else:
            classes = p_det.detach().topk(2, dim=1).indices
        g = self.relevance(a_det, classes)
        mask = z.shape[1] * torch.softmax(g, dim=1)
        return z * mask[:, :, None, None], p, mask


class ZooNet(nn.Module):
    """Four conv blocks, GAP, linear (see the module docstring). Input: normalised (N, 1, 28, 28)."""

    def __init__(self, strides: tuple[int, ...] = STRIDES, activation: Activation = "relu",
                 cifs: bool = False, channels: tuple[int, ...] = CHANNELS, num_classes: int = 10) -> None:
        super().__init__()
        self.config = {"strides": list(strides), "activation": activation, "cifs": cifs,
                       "channels": list(channels)}
        blocks, cin = [], 1
        for cout, s in zip(channels, strides):
            blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout),
                                        _act(activation)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(cin, num_classes)
        self.cifs = nn.ModuleDict({
            "conv3": CIFSModule(channels[2], num_classes, hidden=PROBE_HIDDEN),
            "conv4": CIFSModule(channels[3], num_classes, hidden=None),
        }) if cifs else None

    @property
    def stage_names(self) -> list[str]:
        if self.cifs is None:
            return ["conv1", "conv2", "conv3", "head"]
        return ["conv1", "conv2", "conv3", "conv3_cifs", "conv4", "head"]

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """(logits, probe logits (CIFS only), every stage output and the CIFS masks)."""
        feats: dict[str, torch.Tensor] = {}
        probes: list[torch.Tensor] = []
        h = x
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            name = f"conv{i + 1}"
            if self.cifs is not None and name in self.cifs:
                feats[name] = h
                h, p, mask = self.cifs[name](h, y)
                probes.append(p)
                feats[f"{name}_mask"] = mask
                feats[f"{name}_cifs"] = h
            else:
                feats[name] = h
        feats["head"] = h
        return self.forward_head(h), probes, feats

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, _, feats = self.forward_train(x)
        for k in keep:
            if k not in self.stage_names:
                raise ValueError(f"unknown stage {k!r}; stages: {', '.join(self.stage_names)}")
        return feats["head"], {k: feats[k] for k in keep}

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_train(x)[0]


class ZooClassifier(ImageClassifier):
    """A zoo network on [0, 1] input of shape (N, 1, 28, 28) or (N, 3, 28, 28) (channels averaged).

    Same interface as :class:`core.models.wrappers.ImageClassifier` (``forward_features``,
    ``forward_head``, ``stage_names``, ``classifier_weight``, ``class_names``, ``input_size``),
    so the saliency and channel code runs on it unchanged. No fused fast view (``fused_copy`` is
    None): the network is small and its CIFS modules are not plain conv/BN pairs.
    """

    fused_copy = None  # core.models.fast.fast_view returns the model itself

    def __init__(self, net: ZooNet, name: str = "") -> None:
        super().__init__(net, (FMNIST_MEAN,), (FMNIST_STD,), 28, list(FMNIST_CLASSES), name=name)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"zoo models take (N, 1 or 3, H, W) input, got {tuple(x.shape)}")
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        return (x - self.mean) / self.std

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """The network's (logits, probe logits, features) from [0, 1] input (training recipes)."""
        return self.net.forward_train(self.normalize(x), y)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.net.fc.weight


def build_model(strides: tuple[int, ...] | list[int] = STRIDES, activation: Activation = "relu",
                cifs: bool = False, name: str = "", channels: tuple[int, ...] | list[int] = CHANNELS
                ) -> ZooClassifier:
    """A freshly initialised zoo model (use ``torch.manual_seed`` before for a fixed init)."""
    return ZooClassifier(ZooNet(tuple(strides), activation, cifs, tuple(channels)), name=name)
