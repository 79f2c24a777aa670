"""A kernel-distilled robust dataset (Tsilivis, Su, Kempe, "Can we achieve robustness from data
alone?", arXiv 2207.11727, 2022): a small support set learned so that *kernel regression with
the neural tangent kernel* on it resists PGD — the KIP dataset-distillation method (Nguyen, Chen,
Lee, "Dataset Meta-Learning from Kernel Ridge-Regression", ICLR 2021) with an inner adversary.

Two recipes, two zoo models:

* :class:`KernelDistill` (``fmnist-ntk-kernel``, family "ntk", :mod:`core.models.zoo.kernel`):
  the support images X_s are learned by

      min_{X_s}  E_{(x, y) ~ train} ‖ K(x', X_s)·(K(X_s, X_s) + λI)⁻¹·Y_s − y ‖²,   x' = PGD(x) against that predictor,

  i.e. each step draws a batch of real training images, attacks it with PGD against the current
  kernel predictor (coefficients held fixed during the attack), and takes an Adam step on the
  support images through the closed-form predictor (the solve is differentiated); the images
  are clipped to [0, 1] after each step. The model *is* the kernel predictor over the learned
  support set, so it can be attacked like any zoo model.
* :class:`KernelDistilledCNN` (``fmnist-ntk-cnn``, the zoo CNN): standard cross-entropy training
  of the zoo CNN on the distilled support set only (its teacher, the kernel model, provides the
  images and labels) — the paper's question whether the distilled data carry robustness to a
  neural network.

The paper finds the kernel's robustness largely illusory: transfer attacks from a surrogate
fool it (the audit's transfer check measures exactly that; the card quotes its numbers).

Paper setting: MNIST / CIFAR-10, fully connected and convolutional NTKs (``neural_tangents``, JAX),
support sets of 10–500 images, learned labels optional, Adam, PGD inner maximisation.
Zoo defaults (ours, for the CPU): the fully connected ReLU NTK with 2 hidden layers (σ_w² = 2,
σ_b² = 0.1), **300 support images** (30 per class, initialised with random training images of that
class, seed of the shared config), labels fixed (one-hot − 1/10, not learned), ridge λ = 1e-3 of the
mean diagonal, **400 Adam steps** (lr 0.01) with target batches of 256 of the shared 16,000 training
images, inner PGD-5 at ε = 0.1 (step 0.05, random start) — the zoo's PGD-AT attack. This recipe
has its own loop (:meth:`KernelDistill.train_model`), not the shared SGD budget: there are no
network weights to train, only images; the card says so. The CNN recipe keeps the shared budget
(3 epochs' worth of steps of batch 128, the same optimiser and schedule), each batch drawn from the
300 support images (so about 160 passes over them). Cost: the kernel recipe's PGD and loss use
(B × S) kernels — cheap; the CNN recipe 1 pass per step.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from core.attacks.base import ThreatModel
from core.attacks.pgd import PGD
from core.models.zoo.kernel import NTKRegressor, one_hot_targets, ridge_coefficients
from core.models.zoo.net import ZooClassifier
from core.runtime.progress import ProgressFn, report
from core.train.common import EPS, Recipe, TrainConfig, TrainLog, eval_mode
from core.data.fashion_mnist import stratified_indices


def kernel_predict(model: NTKRegressor, x: torch.Tensor) -> torch.Tensor:
    """The predictor with α recomputed from the current support set, differentiable in it."""
    net = model.net
    alpha = ridge_coefficients(net.kernel(net.support, net.support), net.targets, net.ridge)
    return net.kernel(model.grey(x), net.support) @ alpha


class KernelDistill(Recipe):
    key = "kernel_distill"

    def __init__(self, eps: float = EPS, attack_steps: int = 5, step: float | None = None, steps: int = 400,
                 lr: float = 0.01, target_batch: int = 256, per_class: int = 30) -> None:
        self.eps, self.attack_steps = float(eps), int(attack_steps)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.attack_steps
        self.steps, self.lr, self.target_batch, self.per_class = int(steps), float(lr), int(target_batch), int(per_class)

    def params(self) -> dict:
        return {"eps": self.eps, "attack_steps": self.attack_steps, "step": self.step, "random_start": True,
                "distill_steps": self.steps, "optimizer": f"Adam, lr {self.lr}", "target_batch": self.target_batch,
                "support": f"{10 * self.per_class} images ({self.per_class} per class), initialised with random "
                           "training images, labels fixed (one-hot − 1/10)",
                "loss": "MSE of kernel ridge regression on PGD examples of real training images",
                "budget": "own loop (no network weights: only the support images are learned); "
                          "not the shared SGD schedule"}

    def passes_per_step(self) -> float:
        return self.attack_steps + 1.0

    def attack(self, model: NTKRegressor, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """PGD examples against the current kernel predictor (α refreshed, then held fixed)."""
        model.net.fit_coefficients()
        threat = ThreatModel(norm="linf", eps=self.eps, step=self.step, steps=self.attack_steps, random_start=True)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with eval_mode(model):
            x_adv, _ = PGD(threat).perturb(model, x, y, seed=seed)
        return x_adv.detach()

    def loss(self, model: NTKRegressor, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x_adv = self.attack(model, x, y, gen)
        out = kernel_predict(model, x_adv)
        loss = F.mse_loss(out, one_hot_targets(y, out.shape[1]).to(out.device), reduction="sum") / len(y)
        return loss, {"correct": float((out.argmax(1) == y).sum())}

    def init_support(self, model: NTKRegressor, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        """Random training images of each class as the starting support set, labels fixed."""
        sel = stratified_indices(y, self.per_class, seed=seed)
        net = model.net
        if len(sel) != net.support.shape[0]:
            raise ValueError(f"the model has {net.support.shape[0]} support slots, the recipe makes {len(sel)}")
        with torch.no_grad():
            net.support.copy_(x[sel].to(net.support.device))
            net.targets.copy_(one_hot_targets(y[sel].to(net.targets.device), net.targets.shape[1]))

    def train_model(self, model: NTKRegressor, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig = TrainConfig(),
                    progress: ProgressFn = None, max_steps: int | None = None) -> TrainLog:
        """Distil the support set (the recipe's own loop); returns the log like :func:`core.train.common.fit`
        (``epoch_loss``: the mean loss of each quarter of the steps)."""
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        t0 = time.perf_counter()
        self.init_support(model, x, y, cfg.seed)
        support = model.net.support
        opt = torch.optim.Adam([support], lr=self.lr)
        total = self.steps if max_steps is None else min(self.steps, max_steps)
        log = TrainLog()
        correct, seen = [], []
        for step in range(total):
            idx = torch.randint(0, x.shape[0], (self.target_batch,), generator=gen)
            xb, yb = x[idx].to(support.device), y[idx].to(support.device)
            loss, stats = self.loss(model, xb, yb, idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                support.clamp_(0.0, 1.0)
            log.losses.append(float(loss.detach()))
            correct.append(stats["correct"])
            seen.append(len(idx))
            report(progress, step + 1, total, f"distil loss {log.losses[-1]:.3f}")
        model.net.fit_coefficients()
        quarter = max(1, total // 4)
        for s in range(0, total, quarter):
            log.epoch_loss.append(sum(log.losses[s:s + quarter]) / len(log.losses[s:s + quarter]))
            log.epoch_train_acc.append(sum(correct[s:s + quarter]) / sum(seen[s:s + quarter]))
        model.eval()
        log.seconds = time.perf_counter() - t0
        return log


class KernelDistilledCNN(Recipe):
    key = "kernel_distilled_cnn"

    def __init__(self, teacher: NTKRegressor | None = None, batch: int = 128) -> None:
        if teacher is None:
            raise ValueError("the kernel-distilled CNN needs the kernel model (its support set) as teacher")
        net = teacher.net
        self.images = net.support.detach().clone().cpu()
        self.labels = net.targets.argmax(1).cpu()
        self.batch = int(batch)

    def params(self) -> dict:
        return {"data": f"the {len(self.labels)} distilled support images of fmnist-ntk-kernel (its labels), "
                        "not the 16,000 training images", "batch": self.batch, "loss": "cross-entropy (standard training)"}

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        # The shared loop's batch of real images is ignored: this model sees only the support set.
        sel = torch.randint(0, len(self.labels), (self.batch,), generator=gen)
        dev = next(model.parameters()).device
        xs, ys = self.images[sel].to(dev), self.labels[sel].to(dev)
        logits = model(xs)
        return F.cross_entropy(logits, ys), {"correct": float((logits.argmax(1) == ys).sum()) * len(y) / self.batch}
