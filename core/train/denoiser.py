"""Training the Fashion-MNIST denoisers: plain (Gaussian noise) and HAT (hybrid adversarial).

* Plain DnCNN (Zhang et al., IEEE TIP 2017): minimise ‖f(x + n) − x‖² (mean over pixels),
  n ~ N(0, σ²), σ = 25/255, on the Fashion-MNIST training split.
* HAT, hybrid adversarial training (Yan et al., *Towards Adversarially Robust Deep Image
  Denoising*, IJCAI 2022): each batch is half Gaussian-noisy observations y = x + n and half
  adversarial observations y + δ with δ from ObsAtk (:mod:`core.attacks.dense.obsatk`, zero-mean,
  ‖δ‖₂ ≤ ε) against the current model; loss = mean of the two MSEs. Defaults: ε = 6/255 per-pixel
  RMS (‖δ‖₂ ≤ 6/255 · 28), ObsAtk with 2 steps during training (the paper uses 5), δ generated in
  eval mode. Deviation: HAT here *fine-tunes* the plain model (same data order) for
  ``hat_steps`` instead of training from scratch, to fit the CPU budget; the card says so.

Adam, learning rate 1e-3 (cosine to 0; half of it for the HAT fine-tuning), batch 32, one thread; deterministic for a seed.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from core.attacks.dense.obsatk import ObsAtk
from core.models.dense.dncnn import DnCNN
from core.train.common import eval_mode

SIGMA = 25 / 255


@dataclass(frozen=True)
class DenoiserTrainConfig:
    steps: int = 800
    hat_steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    sigma: float = SIGMA
    hat_eps_rms: float = 6 / 255
    hat_attack_steps: int = 2
    seed: int = 0
    threads: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def _loop(model: DnCNN, x: torch.Tensor, cfg: DenoiserTrainConfig, steps: int, hat: bool, lr: float,
          seed: int) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    attack = ObsAtk(cfg.hat_eps_rms, steps=cfg.hat_attack_steps)
    log, t0 = [], time.perf_counter()
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=gen)
        xb = x[idx]
        yb = xb + cfg.sigma * torch.randn(xb.shape, generator=gen)
        if hat:
            with eval_mode(model):
                delta = attack.perturb(model, yb, xb, seed=step)
            loss_g = F.mse_loss(model(yb), xb)
            loss_a = F.mse_loss(model(yb + delta), xb)
            loss = 0.5 * (loss_g + loss_a)
        else:
            loss = F.mse_loss(model(yb), xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            psnr = float(-10 * torch.log10(loss.detach()))
            log.append({"step": step, "mse": round(float(loss.detach()), 6), "psnr_db": round(psnr, 2),
                        "seconds": round(time.perf_counter() - t0, 1)})
            print(("HAT " if hat else "plain ") + str(log[-1]), flush=True)
    model.eval()
    return log


def train_denoisers(x: torch.Tensor, cfg: DenoiserTrainConfig = DenoiserTrainConfig()
                    ) -> tuple[DnCNN, DnCNN, dict]:
    """(plain model, HAT model, log) from float training images ``x`` (N, 1, 28, 28) in [0, 1]."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    plain = DnCNN(name="DnCNN")
    t0 = time.perf_counter()
    log_plain = _loop(plain, x, cfg, cfg.steps, hat=False, lr=cfg.lr, seed=cfg.seed)
    s_plain = time.perf_counter() - t0
    hat = copy.deepcopy(plain)
    hat.name = "DnCNN-HAT"
    t0 = time.perf_counter()
    log_hat = _loop(hat, x, cfg, cfg.hat_steps, hat=True, lr=cfg.lr / 2, seed=cfg.seed + 1)
    return plain, hat, {"plain": {"log": log_plain, "seconds": round(s_plain, 1)},
                        "hat": {"log": log_hat, "seconds": round(time.perf_counter() - t0, 1),
                                "initialised_from": "the plain model"}}
