"""ZeroSNet (a zero-stable three-step discretisation of a residual ODE) and, with the very same
blocks, its ResNet counterpart (the forward-Euler step), for the Fashion-MNIST zoo.

Paper: L. Chen, L. Jin, M. Shang, "Zero Stability Well Predicts Performance of Convolutional
Neural Networks", AAAI 2022 (code: github.com/LongJin-lab/ZeroSNet, ``CIFAR/models/ZeroSNet.py``).
A residual network is read as a discretisation of dx/dt = F(x); ResNet is forward Euler,
x_{n+1} = x_n + F_n(x_n). ZeroSNet uses the linear three-step method

    x_{n+1} = a0·x_n + a1·x_{n−1} + a2·x_{n−2} + b0·F_n(x_n),

with the "Opt" coefficients a = (1/3, 5/9, 1/9), b0 = 16/9 (the paper's ``given_coe``
[1/3, 5/9, 1/9, 16/9]). Consistency: a0 + a1 + a2 = 1; the characteristic polynomial
ρ(z) = z³ − a0 z² − a1 z − a2 = (z − 1)(z + 1/3)² has the roots 1, −1/3, −1/3, all in the
closed unit disc and the one on the circle simple: the scheme is zero-stable.

As in the public code (``ZeroSNet_Opt.forward``):

* **Starting the recursion.** The three-step rule needs x_{n−1} and x_{n−2}; the first two blocks
  are forward-Euler (ResNet) steps, x1 = x0 + F_0(x0), x2 = x1 + F_1(x1), and blocks 3, 4, …
  use the three-step rule (x3 = a0·x2 + a1·x1 + a2·x0 + b0·F_2(x2), …).
* **Scaling F.** F_n's output is multiplied by b0 times a step size fixed at 1 (``stepsize = 1``),
  no learned scale.
* **The block F**: pre-activation BN → ReLU → conv3×3 → BN → ReLU → conv3×3 (no bias); the network
  ends with BN → ReLU → global average pooling → linear.

Defaults here (sized for the zoo's CPU budget, not from the paper): a stem conv3×3(1→16, stride 2)
→ BN → ReLU (28 → 14) and conv3×3(16→32, stride 2) (14 → 7) gives x0 (32 channels, 7×7); then
``blocks`` = 6 blocks of width 32 (four of them three-step for ZeroSNet), head BN → ReLU → GAP →
linear(32 → 10). 116,538 parameters for both networks (the CNN of :mod:`core.models.zoo.net`:
98,682), about the CNN's cost per pass. Deviations from the paper's CIFAR networks (3 stages
of 16/32/64 channels with 3–18 blocks each, stride changes inside the recursion with learned
1×1 convolutions of the history terms): **one stage only**, so no history term changes
resolution and the two networks differ in nothing but the update rule; a two-conv stem instead
of one conv on 32×32 colour images.

Both networks are ``MultistepNet`` with ``scheme`` "zerosnet" or "euler"; the families
``zerosnet`` and ``resnet`` of :mod:`core.models.zoo.families` build them. Input to the wrapper
(:class:`core.models.zoo.net.ZooClassifier`): [0, 1] images (N, 1 or 3, 28, 28), normalised
inside; stages ``stem``, ``block1`` … ``block6`` and ``head`` (the pre-pool map after the
final BN → ReLU) for the zoo's channel and saliency views.
"""
from __future__ import annotations

from typing import Literal
from collections.abc import Callable, Sequence

import torch
from torch import nn

from core.models.zoo.net import ZooClassifier

ZEROS_OPT = (1.0 / 3.0, 5.0 / 9.0, 1.0 / 9.0, 16.0 / 9.0)  # a0, a1, a2, b0 ("Opt", the paper's given_coe)
WIDTH = 32
BLOCKS = 6
STEM = 16
Scheme = Literal["zerosnet", "euler"]


def multistep(x0: torch.Tensor, fs: Sequence[Callable[[torch.Tensor], torch.Tensor]], scheme: Scheme = "zerosnet",
              coeffs: tuple[float, float, float, float] = ZEROS_OPT, step: float = 1.0) -> list[torch.Tensor]:
    """The states x0, x1, …, x_len(fs) of the recursion with the residual functions ``fs``.

    "euler": x_{n+1} = x_n + step·F_n(x_n). "zerosnet": the first two updates are Euler steps,
    then x_{n+1} = a0·x_n + a1·x_{n−1} + a2·x_{n−2} + b0·step·F_n(x_n) (see the module docstring)."""
    a0, a1, a2, b0 = coeffs
    xs = [x0]
    for n, f in enumerate(fs):
        x = xs[-1]
        if scheme == "euler" or n < 2:
            xs.append(x + step * f(x))
        elif scheme == "zerosnet":
            xs.append(a0 * x + a1 * xs[-2] + a2 * xs[-3] + (b0 * step) * f(x))
        else:
            raise ValueError(f"unknown scheme {scheme!r}")
    return xs


class PreActBlock(nn.Module):
    """F(x) = conv(ReLU(BN(conv(ReLU(BN(x)))))), 3×3, no bias, same width (the paper's ZeroSBlock body)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(x))))))


class MultistepNet(nn.Module):
    """Stem, ``blocks`` residual blocks combined by ``scheme``, BN → ReLU → GAP → linear.
    Input: normalised (N, 1, 28, 28)."""

    def __init__(self, scheme: Scheme = "zerosnet", width: int = WIDTH, blocks: int = BLOCKS, stem: int = STEM,
                 num_classes: int = 10, coeffs: tuple[float, float, float, float] = ZEROS_OPT) -> None:
        super().__init__()
        if scheme not in ("zerosnet", "euler"):
            raise ValueError(f"unknown scheme {scheme!r}")
        self.scheme = scheme
        self.coeffs = tuple(float(c) for c in coeffs)
        self.config = {"scheme": scheme, "width": width, "blocks": blocks, "stem": stem,
                       **({"coefficients_a0_a1_a2_b0": list(self.coeffs), "start": "two Euler steps"}
                          if scheme == "zerosnet" else {})}
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(),
                                  nn.Conv2d(stem, width, 3, 2, 1, bias=False))
        self.blocks = nn.ModuleList(PreActBlock(width) for _ in range(blocks))
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)

    @property
    def stage_names(self) -> list[str]:
        return ["stem", *[f"block{i + 1}" for i in range(len(self.blocks))], "head"]

    def _states(self, x: torch.Tensor) -> list[torch.Tensor]:
        return multistep(self.stem(x), list(self.blocks), self.scheme, self.coeffs)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """(logits, no probe logits, every stage output) — the recipes' interface."""
        xs = self._states(x)
        feats = {"stem": xs[0], **{f"block{i}": xs[i] for i in range(1, len(xs))}}
        feats["head"] = torch.relu(self.bn(xs[-1]))
        return self.forward_head(feats["head"]), [], feats

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        for k in keep:
            if k not in self.stage_names:
                raise ValueError(f"unknown stage {k!r}; stages: {', '.join(self.stage_names)}")
        _, _, feats = self.forward_train(x)
        return feats["head"], {k: feats[k] for k in keep}

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_head(torch.relu(self.bn(self._states(x)[-1])))


def build_zerosnet(name: str = "", width: int = WIDTH, blocks: int = BLOCKS) -> ZooClassifier:
    """A freshly initialised ZeroSNet ("Opt" coefficients) on [0, 1] input."""
    return ZooClassifier(MultistepNet("zerosnet", width, blocks), name=name)


def build_resnet(name: str = "", width: int = WIDTH, blocks: int = BLOCKS) -> ZooClassifier:
    """The same network with forward-Euler (ResNet) updates."""
    return ZooClassifier(MultistepNet("euler", width, blocks), name=name)
