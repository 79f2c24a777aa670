"""DIAL — domain-invariant adversarial learning (Levi, Attias, Kontorovich, "Domain Invariant
Adversarial Learning", TMLR 2022, arXiv 2104.00322; code ``matanle51/DIAL``: ``dial.py``,
``models/*DANN.py``).

The natural images and their adversarial examples are treated as two *domains*. Besides the
label classifier, a domain head sees the penultimate (pooled) features through a
gradient-reversal layer (Ganin & Lempitsky, ICML 2015) and is trained to tell natural (0) from
adversarial (1); the reversed gradient pushes the feature extractor to make the two
indistinguishable. The DIAL-KL loss (``distance='linf_kl'`` in ``dial.py``):

    L = CE(f(x), y) + r·CE(d(R_λ(h(x))), 0) + β·KL(p(x) ‖ p(x')) + r·CE(d(R_λ(h(x'))), 1),

x' the TRADES KL attack (start x + 0.001·N(0, I), signed steps, projection; model in eval mode),
h the pooled features, d the domain head, R_λ the reversal layer (identity forward, −λ·gradient
backward), λ = 2/(1 + e^(−10p)) − 1 over training progress p ∈ [0, 1] (step / total steps; the
repository's ``alpha``), r the domain-loss weight. The KL is summed over classes and averaged
over the batch, with the clean prediction *not* detached, as in ``dial.py``.

Domain head (``SmallCNNDANN``): Linear(features, 100) → BatchNorm1d → ReLU → Linear(100, 2); here
on the CNN's 128 pooled features. **It is removed at test time**: it lives in this recipe, not in
the model, so the shipped state dict is the plain zoo CNN (family "cnn", loaded with
``strict=True``), exactly the deployed classifier of the paper's ``forward(x, alpha=None)``.

Paper defaults (MNIST script): β = 6, r = 0.1, ε = 0.3, 40 steps of 0.01, SGD lr 0.01, 100 epochs;
CIFAR-10: ε = 8/255, 10 steps of 2/255. Published CIFAR-10 (WRN-34-10) natural / PGD-20 /
AutoAttack: DIAL-KL 85.25 / 58.43 / 53.75 against TRADES 84.92 / 56.60 / 53.08.

Zoo defaults and deviations: the shared budget (:class:`core.train.common.TrainConfig`), β = 6,
r = 0.1, ε = 0.1, **5 steps** of 2.5·ε/5 = 0.05 (as the zoo's TRADES, for the CPU budget); no AWP
(the repository's optional adversarial weight perturbation). The domain head has its own SGD
with the CNN's settings and learning-rate schedule (:func:`core.train.common.one_cycle`); because
the shared loop's optimiser only holds the CNN's parameters, the head's update for a step's
gradients is applied at the start of the next step, before any forward pass — the same result
as applying it right after the backward pass (the last step's head update is dropped: the head
is discarded). Cost: about 7 passes per step (5 attack passes, clean and adversarial passes; the
head is negligible).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.trades import TradesKL
from core.models.zoo.net import ZooClassifier
from core.runtime.progress import ProgressFn
from core.train.common import EPS, Recipe, TrainConfig, eval_mode, one_cycle


class _Reverse(torch.autograd.Function):
    """Identity forward; the gradient times −λ backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: D102
        ctx.lam = float(lam)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """The gradient-reversal layer R_λ (Ganin & Lempitsky 2015)."""
    return _Reverse.apply(x, lam)


def reversal_weight(progress: float) -> float:
    """λ(p) = 2/(1 + e^(−10p)) − 1: 0 at the start, → 1 at the end of training."""
    return 2.0 / (1.0 + math.exp(-10.0 * float(progress))) - 1.0


def domain_head(features: int, hidden: int = 100) -> nn.Sequential:
    """Linear → BatchNorm1d → ReLU → Linear(2) (natural vs adversarial)."""
    return nn.Sequential(nn.Linear(features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 2))


def pooled_and_logits(model: ZooClassifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled penultimate features (N, C), logits) of the zoo CNN in one pass."""
    _, _, feats = model.forward_train(x)
    fmap = feats["head"]
    return fmap.mean(dim=(2, 3)), model.forward_head(fmap)


def dial_kl_loss(logits: torch.Tensor, logits_adv: torch.Tensor, dom: torch.Tensor, dom_adv: torch.Tensor,
                 y: torch.Tensor, beta: float, domain_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The DIAL-KL objective from the four heads' outputs (domain logits already behind R_λ)."""
    n = len(y)
    ce = F.cross_entropy(logits, y)
    kl = F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits, 1), reduction="sum") / n
    d_nat = F.cross_entropy(dom, torch.zeros(n, dtype=torch.long, device=dom.device))
    d_adv = F.cross_entropy(dom_adv, torch.ones(n, dtype=torch.long, device=dom.device))
    loss = ce + domain_weight * d_nat + beta * kl + domain_weight * d_adv
    return loss, {"ce": float(ce.detach()), "kl": float(kl.detach()), "domain": float((d_nat + d_adv).detach()) / 2}


class DIAL(Recipe):
    key = "dial"

    def __init__(self, eps: float = EPS, steps: int = 5, beta: float = 6.0, domain_weight: float = 0.1,
                 step: float | None = None, hidden: int = 100, cfg: TrainConfig = TrainConfig()) -> None:
        self.eps, self.steps, self.beta, self.domain_weight = float(eps), int(steps), float(beta), float(domain_weight)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.steps
        self.hidden, self.cfg = int(hidden), cfg
        self.head: nn.Sequential | None = None
        self.head_opt: torch.optim.Optimizer | None = None
        self.total, self.done = 1, 0
        self.last_domain_acc = float("nan")

    def params(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "step": self.step, "beta": self.beta,
                "domain_weight": self.domain_weight, "init_std": 0.001, "variant": "DIAL-KL",
                "domain_head": f"Linear(128, {self.hidden}) → BatchNorm1d → ReLU → Linear({self.hidden}, 2), "
                               "through gradient reversal; removed at test time",
                "reversal_schedule": "2/(1 + exp(−10p)) − 1, p = step/total"}

    def passes_per_step(self) -> float:
        return self.steps + 2.0

    def prepare(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn = None) -> None:
        dev = next(model.parameters()).device
        features = model.classifier_weight.shape[1]
        self.head = domain_head(features, self.hidden).to(dev)
        self.head_opt = torch.optim.SGD(self.head.parameters(), lr=self.cfg.lr, momentum=self.cfg.momentum,
                                        weight_decay=self.cfg.weight_decay, nesterov=True)
        self.total = math.ceil(x.shape[0] / self.cfg.batch_size) * self.cfg.epochs
        self.done = 0

    def _ensure_head(self, model: ZooClassifier) -> None:
        if self.head is None:  # loss() called without prepare() (tests): a head with the default schedule
            self.head = domain_head(model.classifier_weight.shape[1], self.hidden).to(next(model.parameters()).device)
            self.head_opt = torch.optim.SGD(self.head.parameters(), lr=self.cfg.lr, momentum=self.cfg.momentum,
                                            weight_decay=self.cfg.weight_decay, nesterov=True)

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        self._ensure_head(model)
        if self.done > 0 and any(p.grad is not None for p in self.head.parameters()):
            for g in self.head_opt.param_groups:  # the previous step's update of the head (see the docstring)
                g["lr"] = one_cycle(self.done - 1, self.total, self.cfg.lr, self.cfg.warmup)
            self.head_opt.step()
        self.head_opt.zero_grad(set_to_none=True)
        lam = reversal_weight(min(1.0, self.done / max(1, self.total)))
        threat = ThreatModel(norm="linf", eps=self.eps, step=self.step, steps=self.steps)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with eval_mode(model):
            x_adv, _ = TradesKL(threat).perturb(model, x, y, seed=seed)
        self.head.train()
        h, logits = pooled_and_logits(model, x)
        h_adv, logits_adv = pooled_and_logits(model, x_adv.detach())
        dom, dom_adv = self.head(grad_reverse(h, lam)), self.head(grad_reverse(h_adv, lam))
        loss, stats = dial_kl_loss(logits, logits_adv, dom, dom_adv, y, self.beta, self.domain_weight)
        self.done += 1
        dom_acc = float(((dom.argmax(1) == 0).float().mean() + (dom_adv.argmax(1) == 1).float().mean()) / 2)
        return loss, {"correct": float((logits.argmax(1) == y).sum()), "reversal": lam, "domain_accuracy": dom_acc,
                      **stats}
