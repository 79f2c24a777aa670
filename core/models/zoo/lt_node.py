"""LT-NODE: a neural ODE whose end time T is random, drawn from a learned Gamma distribution.

Paper: Srinivas Anumasa, P. K. Srijith, "Latent Time Neural Ordinary Differential Equations",
AAAI 2022. The end time of the ODE block is a latent variable with a Gamma prior; training
maximises an evidence lower bound with a variational Gamma posterior q(T) = Gamma(α, β) learned
by the reparameterisation trick; a prediction averages the class probabilities over several
draws of T. The paper reports better uncertainty estimates and robustness to noise than a
fixed-T neural ODE. (ALT-NODE, the paper's second model, makes q depend on the input; not built.)

Here:

* the network is :class:`core.models.zoo.ode_net.ODENetwork`'s ODENet (same stem, ODE function with
  t as an input channel, head; C = 16 channels), but the ODE block is solved on [0, T] with
  T ~ q drawn **per image and per forward pass** (``torch.distributions.Gamma.rsample``, from
  torch's global generator: ``torch.manual_seed`` makes it repeatable), by 10 fixed Euler steps
  of h = T/10 (:func:`core.models.zoo.ode_net.euler`), so the cost does not depend on the draw and
  the gradient reaches α and β through h;
* q's concentration and rate are ``softplus`` of two learned scalars, initialised at the prior;
  prior Gamma(4, 4) (mean 1, the fixed T of ODENet; standard deviation 0.5) — our choice, the
  paper's prior values are not reproduced here;
* training: one draw per image, loss = cross-entropy + KL(q ‖ prior) / (training-set size)
  (the negative ELBO per image, :mod:`core.train.ode.ltnode`);
* prediction (eval mode): ``draws`` = 2 draws per image, the output is log of the mean softmax
  over the draws (a log-probability vector, usable as logits by every attack); the model is
  **randomized**: two calls on the same image give different outputs. Attacks on it therefore
  need EOT gradients and repeated verdicts (the zoo's "rand" worst case and the audit's
  randomness check).

Simplifications (stated on the card): a global, input-independent q (the paper's LT-NODE, not
ALT-NODE); the prior's parameters are ours; fixed-step Euler with 10 steps of T/10 instead of
an adaptive solver; prediction from 2 draws (3 or more would cost proportionally more in every
attack and the evaluation would not have fitted the project's CPU time).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.models.zoo.ode_net import CHANNELS, ODEFunc, euler, stem
from core.models.zoo.net import ZooClassifier

PRIOR = (4.0, 4.0)  # Gamma(concentration, rate) of T: mean 1, sd 0.5
STEPS = 10
DRAWS = 2


def _inv_softplus(v: float) -> float:
    return math.log(math.expm1(v))


class LTNODENetwork(nn.Module):
    """ODENet with a random end time T ~ Gamma(α, β) (module docstring). Input: normalised
    (N, 1, 28, 28)."""

    def __init__(self, channels: int = CHANNELS, steps: int = STEPS, draws: int = DRAWS,
                 prior: tuple[float, float] = PRIOR, num_classes: int = 10) -> None:
        super().__init__()
        self.steps, self.draws, self.prior = int(steps), int(draws), (float(prior[0]), float(prior[1]))
        self.config = {"variant": "lt-node", "solver": "euler", "channels": channels, "euler_steps": self.steps,
                       "end_time": "T ~ Gamma(α, β), learned (q); per image and forward pass",
                       "prior": {"concentration": self.prior[0], "rate": self.prior[1]},
                       "draws_per_prediction": self.draws}
        self.stem = stem(channels)
        self.func = ODEFunc(channels, time_invariant=False)
        self.fc = nn.Linear(channels, num_classes)
        self.q_raw = nn.Parameter(torch.tensor([_inv_softplus(self.prior[0]), _inv_softplus(self.prior[1])]))

    stage_names = ["stem", "ode"]

    def posterior(self) -> torch.distributions.Gamma:
        """q(T) = Gamma(concentration α, rate β), α, β = softplus of the learned scalars."""
        a, b = F.softplus(self.q_raw).unbind()
        return torch.distributions.Gamma(a, b)

    def prior_dist(self, device: torch.device | None = None) -> torch.distributions.Gamma:
        return torch.distributions.Gamma(torch.tensor(self.prior[0], device=device),
                                         torch.tensor(self.prior[1], device=device))

    def kl(self) -> torch.Tensor:
        """KL(q ‖ prior) of the end time."""
        return torch.distributions.kl_divergence(self.posterior(), self.prior_dist(self.q_raw.device))

    def draw_times(self, n: int) -> torch.Tensor:
        """n end times from q (reparameterised), shape (n,)."""
        return self.posterior().rsample((n,))

    def solve(self, z0: torch.Tensor, t_end: torch.Tensor) -> torch.Tensor:
        """z(T_i) for each image i: 10 Euler steps of h_i = T_i / 10."""
        h = (t_end / self.steps).to(z0.dtype)[:, None, None, None]
        return euler(self.func, z0, torch.zeros_like(h), h, self.steps)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The pre-pool map of **one** draw of T per image, and the named stages."""
        for k in keep:
            if k not in self.stage_names:
                raise ValueError(f"unknown stage {k!r}; stages: {', '.join(self.stage_names)}")
        z0 = self.stem(x)
        zt = self.solve(z0, self.draw_times(x.shape[0]))
        feats = {"stem": z0, "ode": zt}
        return zt, {k: feats[k] for k in keep}

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training: logits of one draw. Eval: log of the mean softmax over ``draws`` draws."""
        z0 = self.stem(x)
        if self.training:
            return self.forward_head(self.solve(z0, self.draw_times(x.shape[0])))
        n = x.shape[0]
        z = z0.repeat(self.draws, 1, 1, 1)  # all draws in one batch
        logp = F.log_softmax(self.forward_head(self.solve(z, self.draw_times(z.shape[0]))), 1)
        return torch.logsumexp(logp.view(self.draws, n, -1), 0) - math.log(self.draws)


def build_ltnode(name: str = "", channels: int = CHANNELS, draws: int = DRAWS) -> ZooClassifier:
    """A freshly initialised LT-NODE zoo model on [0, 1] input."""
    return ZooClassifier(LTNODENetwork(channels, draws=draws), name=name)


__all__ = ["DRAWS", "LTNODENetwork", "PRIOR", "STEPS", "build_ltnode"]
