"""The numbers of a zoo model card: clean accuracy and robust accuracy under FGSM, PGD-20 and
APGD-CE at ε = 0.1, and accuracy-versus-ε curves.

ε = 0.1 (L∞, [0, 1] pixels) is the budget usually quoted for Fashion-MNIST (e.g. in the
TRADES and feature-map papers' MNIST-family experiments it is 0.1–0.3; 0.1 is the common
Fashion-MNIST choice). Attacks (all from :mod:`core.attacks`, untargeted CE):

* FGSM: one step of ε, no random start;
* PGD-20: 20 steps of 2.5·ε/20, uniform random start, 1 restart;
* APGD-CE: 20 iterations (the paper's default is 100; 20 is the app's CPU default), ρ = 0.75,
  random start, 1 restart.
* Curves: PGD-10 (steps of 2.5·ε/10, random start) at each ε of :data:`CURVE_EPS`.

**Robust accuracy** counts an image as robust when it is classified correctly both clean and
attacked (AutoAttack's convention); only the clean-correct images are attacked, in order, in
batches of ``batch_size``. Deterministic: batch b of card attack a (its index in
:data:`METRICS`) uses seed 1000·a + b, batch b of a curve point seed ``curve_seed(0, ε)`` + b,
so the same model, data, batch size and thread count give the same counts.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from core.attacks.apgd import APGDCE
from core.attacks.base import Attack, ThreatModel
from core.attacks.fgsm import FGSM
from core.attacks.pgd import PGD
from core.runtime.progress import ProgressFn, report

EVAL_EPS = 0.1
CURVE_EPS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2)
CURVE_STEPS = 10
METRICS = ("clean", "fgsm", "pgd20", "apgd_ce")
METRIC_LABELS = {"clean": "clean", "fgsm": "FGSM", "pgd20": "PGD-20", "apgd_ce": "APGD-CE (20 it.)"}
NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.3)  # Gaussian-noise accuracy (the ODE and ZeroSNet papers argue from it)
NOISE_SEED = 77


def card_attacks(eps: float = EVAL_EPS) -> dict[str, Attack]:
    """The attacks of the model card at ``eps``."""
    return {
        "fgsm": FGSM(ThreatModel(norm="linf", eps=eps, step=eps, steps=1, random_start=False)),
        "pgd20": PGD(ThreatModel(norm="linf", eps=eps, step=2.5 * eps / 20, steps=20, random_start=True)),
        "apgd_ce": APGDCE(ThreatModel(norm="linf", eps=eps, step=eps, steps=20, random_start=True)),
    }


def curve_attack(eps: float, steps: int = CURVE_STEPS) -> Attack:
    """PGD-``steps`` at ``eps`` (step 2.5·ε/steps, random start) for the accuracy curves."""
    return PGD(ThreatModel(norm="linf", eps=eps, step=2.5 * eps / steps, steps=steps, random_start=True))


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes of float images in [0, 1]."""
    dev = next(model.parameters()).device
    return torch.cat([model(x[s].to(dev)).argmax(1).cpu() for s in _batches(x.shape[0], batch_size)])


def attacked_pred(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, *, seed: int = 0,
                  batch_size: int = 500, progress: ProgressFn = None, clean_correct: torch.Tensor | None = None,
                  craft_on: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean_correct, final_pred): per image, the class ``model`` predicts after ``attack`` for the
    clean-correct images and its clean prediction for the others (they are not attacked).

    Only the clean-correct images are attacked, in batches of ``batch_size`` taken in order; batch b
    uses seed ``seed + b`` (the cards' convention, so that counts reproduce the cards'). ``craft_on``: a
    surrogate the examples are crafted on (a transfer attack); default ``model`` itself."""
    dev = next(model.parameters()).device
    if clean_correct is None:
        final = predict(model, x, batch_size)
        clean_correct = final == y
    else:  # only the images that are not attacked need their clean prediction
        final = torch.full_like(y, -1)
        wrong = torch.nonzero(~clean_correct).flatten()
        if len(wrong):
            final[wrong] = predict(model, x[wrong], batch_size)
    source = model if craft_on is None else craft_on
    idx = torch.nonzero(clean_correct).flatten()
    batches = _batches(len(idx), batch_size)
    for b, s in enumerate(batches):
        sel = idx[s]
        x_adv, _ = attack.perturb(source, x[sel].to(dev), y[sel].to(dev), seed=seed + b)
        with torch.no_grad():
            final[sel] = model(x_adv.to(dev)).argmax(1).cpu()
        report(progress, b + 1, len(batches), f"{attack.name} batch {b + 1}/{len(batches)}")
    return clean_correct, final


def robust_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack | None, *,
                   seed: int = 0, batch_size: int = 500, progress: ProgressFn = None,
                   clean_correct: torch.Tensor | None = None) -> torch.Tensor:
    """Per image: correct on the clean image and on the attacked one (``attack`` None: clean only),
    by :func:`attacked_pred`."""
    if attack is None:
        return predict(model, x, batch_size) == y if clean_correct is None else clean_correct
    cc, final = attacked_pred(model, x, y, attack, seed=seed, batch_size=batch_size, progress=progress,
                              clean_correct=clean_correct)
    return cc & (final == y)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = EVAL_EPS, *,
             batch_size: int = 500, metrics: tuple[str, ...] = METRICS,
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, dict]:
    """{metric: {"accuracy", "correct", "n"}} for the card's metrics on float images ``x``."""
    if model.training:
        raise RuntimeError("evaluate needs a model in eval mode")
    clean = predict(model, x, batch_size) == y
    attacks = card_attacks(eps)
    out: dict[str, dict] = {}
    for m in metrics:
        a_idx = METRICS.index(m)  # the seed depends on the metric, not on which others were asked for
        if m == "clean":
            ok = clean
        else:
            cb = (lambda d, t, msg, m=m: progress(m, d, t)) if progress else None
            ok = robust_correct(model, x, y, attacks[m], seed=1000 * a_idx, batch_size=batch_size,
                                progress=cb, clean_correct=clean)
        out[m] = {"accuracy": int(ok.sum()) / ok.numel(), "correct": int(ok.sum()), "n": int(ok.numel())}
    return out


def curve_seed(seed: int, eps: float) -> int:
    """The attack seed of one curve point: depends on ε itself, so any subset of the ε grid
    reproduces the same points."""
    return int(seed) + int(round(float(eps) * 10_000))


def accuracy_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_list: tuple[float, ...] = CURVE_EPS, *,
                   steps: int = CURVE_STEPS, batch_size: int = 500, seed: int = 0,
                   progress: ProgressFn = None) -> list[dict]:
    """[{"eps", "accuracy", "correct", "n"}] under PGD-``steps`` at each ε (ε = 0: clean)."""
    clean = predict(model, x, batch_size) == y
    out = []
    for i, eps in enumerate(eps_list):
        if eps <= 0:
            ok = clean
        else:
            ok = robust_correct(model, x, y, curve_attack(eps, steps), seed=curve_seed(seed, eps), batch_size=batch_size,
                                clean_correct=clean)
        out.append({"eps": float(eps), "accuracy": int(ok.sum()) / ok.numel(), "correct": int(ok.sum()),
                    "n": int(ok.numel())})
        report(progress, i + 1, len(eps_list), f"ε = {eps:g}")
    return out


@torch.no_grad()
def noise_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float, *, batch_size: int = 500,
                  seed: int = NOISE_SEED) -> torch.Tensor:
    """Per image: correct on x + N(0, σ²) clipped to [0, 1], one fixed noise draw per image (generator
    seeded with ``seed`` + round(1000·σ): the same draw for every model, so two models compare paired)."""
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed) + int(round(1000 * float(sigma))))
    noise = torch.randn(x.shape, generator=gen) * float(sigma)
    ok = []
    for s in _batches(x.shape[0], batch_size):
        xn = (x[s] + noise[s]).clamp(0, 1)
        ok.append(model(xn.to(dev)).argmax(1).cpu() == y[s])
    return torch.cat(ok)


def noise_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigmas: tuple[float, ...] = NOISE_SIGMAS, *,
                   batch_size: int = 500, seed: int = NOISE_SEED) -> list[dict]:
    """[{"sigma", "accuracy", "correct", "n"}]: accuracy on x + N(0, σ²) clipped to [0, 1] (:func:`noise_correct`).
    This is robustness to *random* noise, not to an adversary: a model can gain one without the other."""
    out = []
    for sigma in sigmas:
        ok_t = noise_correct(model, x, y, sigma, batch_size=batch_size, seed=seed)
        out.append({"sigma": float(sigma), "accuracy": int(ok_t.sum()) / ok_t.numel(), "correct": int(ok_t.sum()),
                    "n": int(ok_t.numel())})
    return out


def card_evaluation(model: nn.Module, full: tuple[torch.Tensor, torch.Tensor] | None,
                    subset: tuple[torch.Tensor, torch.Tensor] | None, *, batch_size: int = 500,
                    progress: Callable[[str, int, int], None] | None = None,
                    full_metrics: tuple[str, ...] = METRICS, curve: bool = True,
                    subset_metrics: tuple[str, ...] = METRICS) -> dict:
    """The "evaluation" block of a model card: :func:`evaluate` on the full test set (the metrics
    ``full_metrics``: all by default; fewer for slow architectures) and/or the shipped subset
    (float images, labels; every metric), and the PGD-10 curve on the subset (``curve`` False:
    left out, the card says so — for the slowest architectures; ``subset_metrics``: fewer subset
    attacks for them too)."""
    ev: dict = {"eps": EVAL_EPS, "norm": "linf",
                "robust_accuracy": "correct on the clean and the attacked image",
                "attacks": {"fgsm": "FGSM, one step of ε", "pgd20": "PGD-20, step 2.5ε/20, random start",
                            "apgd_ce": "APGD-CE, 20 iterations, ρ = 0.75, random start"},
                "batch_size": batch_size, "threads": torch.get_num_threads(), "torch": torch.__version__}
    if full is not None:
        t0 = time.perf_counter()
        ev["full_test"] = evaluate(model, *full, batch_size=batch_size, metrics=full_metrics,
                                   progress=(lambda m, d, t: progress(f"full {m}", d, t)) if progress else None)
        ev["full_test_seconds"] = round(time.perf_counter() - t0, 1)
    if subset is not None:
        ev["subset"] = evaluate(model, *subset, batch_size=batch_size, metrics=subset_metrics,
                                progress=(lambda m, d, t: progress(f"subset {m}", d, t)) if progress else None)
        if curve:
            ev["curve_subset"] = {
                "attack": f"PGD-{CURVE_STEPS}, step 2.5ε/{CURVE_STEPS}, random start",
                "points": accuracy_curve(model, *subset, CURVE_EPS, batch_size=batch_size,
                                         progress=(lambda d, t, msg: progress(f"curve {msg}", d, t)) if progress else None)}
        else:
            ev["curve_subset_skipped"] = "not run (--no-curve): too slow for this model on the project's CPU"
        ev["gaussian_noise_subset"] = noise_block(model, *subset, batch_size=batch_size)
    return ev


def noise_block(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> dict:
    """The card's ``gaussian_noise_subset`` block: :func:`noise_accuracy` on the shipped subset."""
    return {"noise": "x + N(0, σ²), clipped to [0, 1], one fixed draw per image (seed "
                     f"{NOISE_SEED} + 1000σ)", "points": noise_accuracy(model, x, y, batch_size=batch_size)}


def cost_per_image(metrics: tuple[str, ...] = METRICS) -> int:
    """Forward+backward passes per image of :func:`evaluate` (for progress estimates)."""
    return sum({"clean": 0, "fgsm": 1, "pgd20": 20, "apgd_ce": 21}[m] for m in metrics) + math.ceil(len(metrics) / 2)
