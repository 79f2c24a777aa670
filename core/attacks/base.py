"""The shared shape of every attack: a threat model, a goal, a result with a trajectory.

After torchattacks' design (a base class owns device, eval-mode checks and bookkeeping, so each
attack writes only its loop), without its printing setters or string-eval dispatch.

Conventions
-----------
* Images are float tensors in [0, 1], shape (N, 3, H, W); ``eps`` and ``step`` are in that
  scale (8/255 ~= 0.031).
* Every attack *ascends* an attack objective: for an untargeted goal the loss of the true
  label, for a targeted goal the negative loss of the target class.
* ``perturb`` returns the adversarial images and the per-step :class:`StepRecord` list; ``run``
  adds clean and adversarial logits, success flags and timing in an :class:`AttackResult`.
* The engine runs on ``core.models.fast.fast_view(model)``: for the registered classifiers a
  batch-norm-folded, channels_last copy (the same function to float rounding); the logits in
  ``AttackResult`` come from the model as given.
* Randomness comes from one ``torch.Generator`` seeded by ``seed``: the same call gives the
  same result on the same device.
* Per-example budgets (for robustness curves): attacks with ``per_example_eps = True`` (FGSM,
  PGD, APGD) accept ``eps_per_example`` (and optionally ``step_per_example``), shape (N,), in
  ``perturb``/``run``; row i then behaves as if ``threat.eps``/``threat.step`` were those values
  (``threat.eps``/``threat.step`` are ignored). With ``shared_start=True`` every row draws the
  *same* random start (the unit noise of one image, scaled by its own ε), so that row i of a
  batch equals a single-image run at ε_i with the same seed. Without these arguments nothing
  changes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar, Literal
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.models.fast import fast_view
from core.runtime.progress import ProgressFn, report

Norm = Literal["linf", "l2"]
GoalMode = Literal["untargeted", "targeted", "least_likely"]
StepWatch = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]
"""Called after every step with (step index, the iterate evaluated, its logits, its objective), all
detached: how a page shows an attack while it runs (core.evaluation.lab.LiveAttack)."""


@dataclass(frozen=True)
class ThreatModel:
    """Where the attacker may move: an L∞ or L2 ball of radius ``eps`` around the image,
    intersected with the [0, 1] box; ``steps`` steps of size ``step``."""

    norm: Norm = "linf"
    eps: float = 4 / 255
    step: float = 1 / 255
    steps: int = 10
    random_start: bool = True
    restarts: int = 1

    def __post_init__(self) -> None:
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', not {self.norm!r}")
        for name in ("eps", "step"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {v!r}")
        if self.norm == "linf" and self.eps > 1:
            raise ValueError("an L∞ eps above 1 covers the whole [0, 1] box")
        if not (isinstance(self.steps, int) and 1 <= self.steps <= limits.MAX_ATTACK_STEPS):
            raise ValueError(f"steps must be an integer in 1..{limits.MAX_ATTACK_STEPS}, not {self.steps!r}")
        if not (isinstance(self.restarts, int) and 1 <= self.restarts <= limits.MAX_RESTARTS):
            raise ValueError(f"restarts must be an integer in 1..{limits.MAX_RESTARTS}, not {self.restarts!r}")


@dataclass(frozen=True)
class Goal:
    """What the attacker wants: any wrong class, a chosen class, or the least likely class."""

    mode: GoalMode = "untargeted"
    target_class: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("untargeted", "targeted", "least_likely"):
            raise ValueError(f"unknown goal mode {self.mode!r}")
        if self.mode == "targeted" and self.target_class is None:
            raise ValueError("a targeted goal needs target_class")

    @property
    def is_targeted(self) -> bool:
        return self.mode != "untargeted"


@dataclass
class StepRecord:
    """One step of an attack, for replay: the objective and the top-k classes of the iterate
    that was evaluated at that step (before its update)."""

    step: int
    loss: torch.Tensor  # (N,) attack objective (higher = better for the attacker)
    topk_probs: torch.Tensor  # (N, k)
    topk_classes: torch.Tensor  # (N, k)
    image: torch.Tensor | None = None  # (N, 3, H, W) uint8, when images are recorded


@dataclass
class AttackResult:
    """Everything an attack produced, on the CPU."""

    attack: str
    threat: ThreatModel
    goal: Goal
    x_clean: torch.Tensor
    x_adv: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor | None
    clean_logits: torch.Tensor
    adv_logits: torch.Tensor
    trajectory: list[StepRecord]
    elapsed_s: float
    params: dict = field(default_factory=dict)

    @property
    def clean_pred(self) -> torch.Tensor:
        return self.clean_logits.argmax(1)

    @property
    def adv_pred(self) -> torch.Tensor:
        return self.adv_logits.argmax(1)

    @property
    def success(self) -> torch.Tensor:
        """Per image: the target was reached (targeted) or the label changed (untargeted)."""
        if self.targets is not None:
            return self.adv_pred == self.targets
        return self.adv_pred != self.labels

    @property
    def delta(self) -> torch.Tensor:
        return self.x_adv - self.x_clean

    @property
    def linf(self) -> torch.Tensor:
        return self.delta.flatten(1).abs().amax(1)

    @property
    def l2(self) -> torch.Tensor:
        return self.delta.flatten(1).norm(dim=1)


def resolve_targets(clean_logits: torch.Tensor, goal: Goal) -> torch.Tensor | None:
    """Target class per image for a goal, or None when untargeted."""
    if goal.mode == "untargeted":
        return None
    if goal.mode == "least_likely":
        return clean_logits.argmin(1)
    n, c = clean_logits.shape
    if not 0 <= int(goal.target_class) < c:
        raise ValueError(f"target class {goal.target_class} is outside 0..{c - 1}")
    return torch.full((n,), int(goal.target_class), dtype=torch.long, device=clean_logits.device)


def attack_objective(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Per-example cross-entropy objective the attacker ascends."""
    if targets is None:
        return F.cross_entropy(logits, labels, reduction="none")
    return -F.cross_entropy(logits, targets, reduction="none")


def lp_norm(t: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-example norm of a batch, shape (N,)."""
    flat = t.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def project(delta: torch.Tensor, x: torch.Tensor, norm: Norm, eps: float | torch.Tensor) -> torch.Tensor:
    """Project ``delta`` onto the eps-ball, then so that ``x + delta`` lies in [0, 1].

    ``eps`` is a number or a per-example tensor of shape (N, 1, 1, 1)."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        # A number divided by a tensor is computed as reciprocal(n) * eps (torch's __rtruediv__);
        # a tensor eps uses the same operations, so both give the same bits.
        delta = delta * ((eps / n) if not torch.is_tensor(eps) else (n.reciprocal() * eps)).clamp(max=1.0)
    return (x + delta).clamp(0, 1) - x


def random_start(x: torch.Tensor, norm: Norm, eps: float | torch.Tensor, gen: torch.Generator,
                 shared: bool = False) -> torch.Tensor:
    """A random point of the eps-ball (L∞: uniform; L2: uniform direction, radius r·eps with
    r ~ U(0, 1), as in Madry et al.'s L2 PGD), clipped to the box.

    ``eps`` is a number or a per-example (N, 1, 1, 1) tensor. ``shared=True`` draws the noise of
    one image and uses it for every row (each scaled by its own eps): the same draws, in the same
    order, as a single-image call."""
    shape = (1, *x.shape[1:]) if shared else x.shape
    if norm == "linf":
        d = (torch.rand(shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        d = torch.randn(shape, generator=gen, device=x.device, dtype=x.dtype)
        d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        r = torch.rand((shape[0], 1, 1, 1), generator=gen, device=x.device, dtype=x.dtype)
        d = d * r * eps
    if d.shape[0] != x.shape[0]:
        d = d.expand_as(x)
    return (x + d).clamp(0, 1) - x


def ascent_direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Steepest-ascent direction of unit norm: sign for L∞, normalised gradient for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] float images to uint8 on the CPU (round half to even, like PIL)."""
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


class Recorder:
    """Collects the trajectory and reports progress; attacks call ``log`` once per step."""

    def __init__(self, total: int, progress: ProgressFn, record_images: bool, topk: int = 5,
                 watch: StepWatch | None = None) -> None:
        self.total = total
        self.progress = progress
        self.record_images = record_images
        self.topk = topk
        self.watch = watch
        self.steps: list[StepRecord] = []

    def log(self, logits: torch.Tensor, objective: torch.Tensor, x_iter: torch.Tensor | None = None) -> None:
        with torch.no_grad():
            p = logits.detach().float().softmax(1)
            k = min(self.topk, p.shape[1])
            v, i = p.topk(k, dim=1)
            self.steps.append(StepRecord(
                step=len(self.steps),
                loss=objective.detach().float().cpu(),
                topk_probs=v.cpu(),
                topk_classes=i.cpu(),
                image=to_uint8(x_iter) if (self.record_images and x_iter is not None) else None,
            ))
            if self.watch is not None and x_iter is not None:
                self.watch(len(self.steps) - 1, x_iter.detach(), logits.detach(), objective.detach())
        report(self.progress, len(self.steps), self.total, f"step {len(self.steps)}/{self.total}")


def _check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    if model.training:
        raise RuntimeError("attacks need a model in eval mode (shared models are never switched)")
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must be finite and in [0, 1]")


class Attack:
    """Base class. Subclasses set ``name``, ``paper``, ``summary`` (a short description for
    newcomers), ``norms`` and implement ``_perturb``."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    norms: ClassVar[tuple[Norm, ...]] = ("linf", "l2")
    # Whether ``perturb``/``run`` accept ``eps_per_example`` (see the module docstring).
    per_example_eps: ClassVar[bool] = False
    _row_eps: torch.Tensor | None = None
    _row_step: torch.Tensor | None = None
    _shared_start: bool = False

    def __init__(self, threat: ThreatModel | None = None) -> None:
        self.threat = threat or ThreatModel()
        if self.threat.norm not in self.norms:
            raise ValueError(f"{self.name} supports {', '.join(self.norms)}, not {self.threat.norm}")

    # The budget an attack's loop uses: ``threat.eps``/``threat.step``, or during a call with
    # ``eps_per_example`` the per-row values as (N, 1, 1, 1) tensors.
    @property
    def eps(self) -> float | torch.Tensor:
        return self.threat.eps if self._row_eps is None else self._row_eps

    @property
    def step(self) -> float | torch.Tensor:
        return self.threat.step if self._row_step is None else self._row_step

    def _row_values(self, values: torch.Tensor | None, n: int, what: str, dev: torch.device,
                    dtype: torch.dtype) -> torch.Tensor | None:
        if values is None:
            return None
        v = torch.as_tensor(values, dtype=torch.float64).detach().cpu().reshape(-1)
        if v.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), got {tuple(v.shape)}")
        if not (torch.isfinite(v).all() and (v >= 0).all()):
            raise ValueError(f"{what} must be finite numbers >= 0")
        if what == "eps_per_example" and self.threat.norm == "linf" and (v > 1).any():
            raise ValueError("an L∞ eps above 1 covers the whole [0, 1] box")
        return v.to(device=dev, dtype=dtype).view(n, 1, 1, 1)

    # Number of steps the progress bar should expect.
    def total_steps(self) -> int:
        return self.threat.steps * self.threat.restarts

    def params(self) -> dict:
        """Attack-specific parameters, for reports."""
        return {}

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, goal: Goal = Goal(), *,
                seed: int = 0, progress: ProgressFn = None, record_images: bool = False,
                targets: torch.Tensor | None = None, eps_per_example: torch.Tensor | None = None,
                step_per_example: torch.Tensor | None = None,
                shared_start: bool = False, watch: StepWatch | None = None) -> tuple[torch.Tensor, list[StepRecord]]:
        """Adversarial images (same device as ``x``) and the trajectory.

        ``targets`` may be given directly; otherwise they are resolved from ``goal`` with one
        clean forward pass. ``eps_per_example``/``step_per_example`` (shape (N,)) and
        ``shared_start``: see the module docstring (only where ``per_example_eps`` is True).
        ``watch``: called after every step (:data:`StepWatch`).
        """
        if (eps_per_example is not None or step_per_example is not None or shared_start) \
                and not self.per_example_eps:
            raise ValueError(f"{self.name} does not support per-example budgets")
        if step_per_example is not None and eps_per_example is None:
            raise ValueError("step_per_example needs eps_per_example")
        _check_inputs(model, x, y)
        # A fused (BN folded, channels_last) copy where the model offers one: same function,
        # 1.5-2x faster passes on the CPU (core/models/fast.py).
        model = fast_view(model)
        dev = next((p.device for p in model.parameters()), x.device)
        x, y = x.detach().to(dev), y.to(dev)
        if targets is None and goal.is_targeted:
            with torch.no_grad():
                targets = resolve_targets(model(x), goal)
        gen = torch.Generator(device=dev).manual_seed(int(seed))
        rec = Recorder(self.total_steps(), progress, record_images, watch=watch)
        self._row_eps = self._row_values(eps_per_example, x.shape[0], "eps_per_example", dev, x.dtype)
        self._row_step = self._row_values(step_per_example, x.shape[0], "step_per_example", dev, x.dtype)
        self._shared_start = bool(shared_start)
        try:
            with torch.enable_grad():
                x_adv = self._perturb(model, x, y, targets, gen, rec)
        finally:
            self._row_eps, self._row_step, self._shared_start = None, None, False
        return x_adv.detach(), rec.steps

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, goal: Goal = Goal(), *,
            seed: int = 0, progress: ProgressFn = None, record_images: bool = False,
            eps_per_example: torch.Tensor | None = None, step_per_example: torch.Tensor | None = None,
            shared_start: bool = False, watch: StepWatch | None = None) -> AttackResult:
        """Attack a batch and evaluate the model on the clean and adversarial images.

        With ``eps_per_example`` the result's ``params`` hold the per-row ``eps`` (and ``step``)."""
        t0 = time.perf_counter()
        _check_inputs(model, x, y)
        dev = next((p.device for p in model.parameters()), x.device)
        xd, yd = x.detach().to(dev), y.to(dev)
        with torch.no_grad():
            clean_logits = model(xd)
        targets = resolve_targets(clean_logits, goal)
        x_adv, traj = self.perturb(model, xd, yd, goal, seed=seed, progress=progress,
                                   record_images=record_images, targets=targets,
                                   eps_per_example=eps_per_example, step_per_example=step_per_example,
                                   shared_start=shared_start, watch=watch)
        with torch.no_grad():
            adv_logits = model(x_adv)
        return AttackResult(
            attack=self.name, threat=self.threat, goal=goal,
            x_clean=xd.cpu(), x_adv=x_adv.cpu(), labels=yd.cpu(),
            targets=None if targets is None else targets.cpu(),
            clean_logits=clean_logits.float().cpu(), adv_logits=adv_logits.float().cpu(),
            trajectory=traj, elapsed_s=time.perf_counter() - t0, params=self._run_params(eps_per_example,
                                                                                          step_per_example),
        )

    def _run_params(self, eps_rows: torch.Tensor | None, step_rows: torch.Tensor | None) -> dict:
        p = self.params()
        if eps_rows is not None:
            p = {**p, "eps_per_example": [float(v) for v in torch.as_tensor(eps_rows).reshape(-1)]}
        if step_rows is not None:
            p = {**p, "step_per_example": [float(v) for v in torch.as_tensor(step_rows).reshape(-1)]}
        return p

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        raise NotImplementedError
