"""The shared training budget and loop of the zoo, and the recipe interface.

Every zoo model is trained by :func:`fit` with the same :class:`TrainConfig` — the same data
(a fixed, class-balanced subset of the 60k training images), epochs, batch size, optimiser and
learning-rate schedule — so that the comparison between recipes is fair; only the recipe's loss
(and, where the method says so, the architecture variant) differs.

Defaults (chosen for a 2-core shared CPU, not from any paper): 16,000 training images (1,600
per class, seed 0), 3 epochs, batch 128, SGD with Nesterov momentum 0.9, weight decay 5e-4, a
one-cycle learning rate rising linearly from 0 to 0.1 over the first 30 % of the steps and
falling linearly to 0 (the cyclic schedule of fast adversarial training, Wong et al. 2020, and
N-FGSM), ε = 0.1 for every adversarial recipe. The papers train for 30–120 epochs on the full
datasets; these models are demonstrations, far from converged.

Adversarial examples during training are generated with the model in eval mode (batch norm
uses its running statistics, as in the TRADES code), with the attacks of :mod:`core.attacks`,
then the model goes back to train mode for the update.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar
from collections.abc import Iterator

import torch
from torch import nn

from core.runtime.progress import ProgressFn, report
from core.models.zoo.net import ZooClassifier

EPS = 0.1  # the usual L∞ budget on Fashion-MNIST (in [0, 1] pixels; ≈ 25.5/255)


@dataclass(frozen=True)
class TrainConfig:
    """The budget every zoo model shares."""

    train_images: int = 16_000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.3  # fraction of steps with a rising learning rate
    seed: int = 0
    threads: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


class Recipe:
    """One training method. Subclasses set ``key`` (the name :mod:`core.models.zoo.catalogue` entries use
    for it; the title, paper and architecture variant of each model are in that catalogue) and
    implement :meth:`loss`."""

    key: ClassVar[str] = ""

    def params(self) -> dict:
        """The recipe's hyperparameters, for the model card."""
        return {}

    def passes_per_step(self) -> float:
        """Approximate cost of one training step in forward+backward passes."""
        return 1.0

    def prepare(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn = None) -> None:
        """Called once before training with the whole training set (float [0, 1])."""

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch (model in train mode) and numbers to log."""
        raise NotImplementedError


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Switch to eval mode for generating attacks, back to the previous mode afterwards."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


def one_cycle(step: int, total: int, peak: float, warmup: float) -> float:
    """Learning rate at ``step`` of ``total``: linear 0 → peak over ``warmup``·total, then → 0."""
    up = max(1, int(round(warmup * total)))
    if step < up:
        return peak * (step + 1) / up
    return peak * max(0.0, (total - step) / max(1, total - up))


@dataclass
class TrainLog:
    """What :func:`fit` measured."""

    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # per step
    epoch_loss: list[float] = field(default_factory=list)
    epoch_train_acc: list[float] = field(default_factory=list)  # on the batch the loss saw (clean or adv)


def fit(model: ZooClassifier, recipe: Recipe, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig = TrainConfig(),
        progress: ProgressFn = None, max_steps: int | None = None) -> TrainLog:
    """Train ``model`` in place on float images ``x`` in [0, 1] (N, 1, 28, 28) and labels ``y``.

    Deterministic for a given ``cfg.seed`` and thread count: the shuffling, the attacks' random
    starts and the recipes' noise all come from one generator. ``max_steps`` stops early
    (tests)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = next(model.parameters()).device
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    n = x.shape[0]
    per_epoch = math.ceil(n / cfg.batch_size)
    total = per_epoch * cfg.epochs if max_steps is None else min(max_steps, per_epoch * cfg.epochs)
    log = TrainLog()
    t0 = time.perf_counter()
    recipe.prepare(model, x, y, progress)
    model.train()
    step = 0
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        run_loss, run_correct, seen = 0.0, 0, 0
        for b in range(per_epoch):
            if step >= total:
                break
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = x[idx].to(dev), y[idx].to(dev)
            for g in opt.param_groups:
                g["lr"] = one_cycle(step, total, cfg.lr, cfg.warmup)
            loss, stats = recipe.loss(model, xb, yb, idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            log.losses.append(float(loss.detach()))
            run_loss += float(loss.detach()) * len(idx)
            run_correct += int(stats.get("correct", 0))
            seen += len(idx)
            step += 1
            report(progress, step, total, f"epoch {epoch + 1}/{cfg.epochs} loss {run_loss / seen:.3f}")
        if seen:
            log.epoch_loss.append(run_loss / seen)
            log.epoch_train_acc.append(run_correct / seen)
    model.eval()
    log.seconds = time.perf_counter() - t0
    return log
