"""The shared shape of every defense.

A defense wraps a classifier (a module on [0, 1] input) and

* ``defend(x)`` returns a :class:`DefenseOutput`: the logits, the image it finally classified
  (purified or transformed), per-step diagnostics, and a certificate where there is one;
* ``as_model(adaptive=...)`` returns an ``nn.Module`` with ``forward(x) -> logits`` that the
  attacks of :mod:`core.attacks` use unchanged. With ``adaptive=False`` the module's backward
  is whatever autograd gives (which, for a non-differentiable or randomised defense, is the
  obfuscated gradient a naive attacker sees). With ``adaptive=True`` the module uses the
  defense's declared way through: ``"plain"`` (it is differentiable: ordinary gradients),
  ``"bpda"`` (Athalye et al. 2018: the defense's forward, an identity or differentiable
  approximation on the backward pass) or ``"eot"`` (an average of logits over the defense's
  randomness).

A *non-adaptive* attacker in the app attacks the undefended model and the defense then
classifies the result; an *adaptive* attacker attacks ``as_model(adaptive=True)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from core.runtime.progress import ProgressFn

AdaptiveRoute = Literal["plain", "bpda", "eot"]


@dataclass
class Certificate:
    """A certified prediction: class (or -1 for abstain) and L2 radius per image."""

    predicted: torch.Tensor  # (N,) long, -1 = abstain
    radius: torch.Tensor  # (N,) float, 0 where abstained
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DefenseOutput:
    """What a defense did to a batch."""

    logits: torch.Tensor  # (N, C)
    x_classified: torch.Tensor  # (N, 3, H, W) the images the model finally classified
    diagnostics: dict[str, Any] = field(default_factory=dict)  # e.g. per-step trajectories
    certificate: Certificate | None = None
    elapsed_s: float = 0.0


class Defense:
    """Base class; subclasses implement ``_defend`` and, where needed, ``_adaptive_forward``."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # two or three sentences for a newcomer
    adaptive_route: ClassVar[AdaptiveRoute] = "plain"
    needs_training: ClassVar[bool] = False

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def defend(self, x: torch.Tensor, *, seed: int = 0, progress: ProgressFn = None) -> DefenseOutput:
        """Run the defense on a batch in [0, 1] and say what it did."""
        t0 = time.perf_counter()
        dev = next((p.device for p in self.model.parameters()), x.device)
        out = self._defend(x.detach().to(dev), seed=seed, progress=progress)
        out.elapsed_s = time.perf_counter() - t0
        return out

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        raise NotImplementedError

    def as_model(self, adaptive: bool = True, seed: int = 0) -> nn.Module:
        """An ``nn.Module`` giving the defended logits, for attacks (see module docstring)."""
        return DefendedModel(self, adaptive=adaptive, seed=seed)

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Logits whose gradient follows ``adaptive_route``. The default suits a defense that
        is differentiable end to end (route ``"plain"``)."""
        return self._defend(x, seed=seed, progress=None).logits

    def _naive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Logits with whatever gradient autograd gives through the defense as run."""
        return self._defend(x, seed=seed, progress=None).logits

    def params(self) -> dict:
        """The defense's settings, for reports."""
        return {}


class DefendedModel(nn.Module):
    """A defense seen as a classifier module, so that attacks run against it unchanged."""

    def __init__(self, defense: Defense, adaptive: bool, seed: int = 0) -> None:
        super().__init__()
        self.defense = defense
        self.base = defense.model  # registered as a submodule so .parameters() gives the device
        self.adaptive = adaptive
        self.seed = seed
        self.calls = 0
        self.training = False

    def train(self, mode: bool = True):  # noqa: D102 - never switch the shared base model
        if mode:
            raise RuntimeError("a defended model is evaluation-only")
        self.training = False
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # A fresh but reproducible seed per call, so randomised defenses vary between steps.
        seed = self.seed * 100_003 + self.calls
        self.calls += 1
        if self.adaptive:
            return self.defense._adaptive_forward(x, seed)
        return self.defense._naive_forward(x, seed)


def bpda_identity(x: torch.Tensor, transformed: torch.Tensor) -> torch.Tensor:
    """BPDA with the identity: the forward value of ``transformed``, the gradient of ``x``."""
    return x + (transformed - x).detach()
