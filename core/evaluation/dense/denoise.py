"""The denoiser experiment: ObsAtk against deep denoisers, HAT, a classical denoiser, and what a
zoo classifier makes of the denoised (purified) images.

Models: the plain DnCNN and its HAT twin (:mod:`core.models.dense.dncnn`, trained by
``tools/train_denoiser.py`` at σ = 25/255), and two classical denoisers from scikit-image (a
well-kept library): non-local means (Buades, Coll, Morel, CVPR 2005;
``skimage.restoration.denoise_nl_means`` with h = 0.8σ, the known σ, 5×5 patches within
13×13, fast mode) and a Gaussian filter (``skimage.filters.gaussian``, σ = 1 px).

Per image x (28×28 grey, the shipped Fashion-MNIST test subset), observation y = x + n,
n ~ N(0, σ²) (seeded), and three observations at each budget ε (a per-pixel RMS, ‖δ‖₂ = ε·28):

* ObsAtk δ (:mod:`core.attacks.dense.obsatk`: zero mean, ‖δ‖₂ ≤ ε, maximising ‖f(y + δ) − x‖²)
  against that denoiser; the classical denoisers have no gradient, so they receive the ObsAtk δ
  computed against the plain DnCNN (a transfer attack — a lower bound on their weakness);
* random zero-mean Gaussian noise of the same L2 norm (the baseline ObsAtk must beat);
* PSNR(f(·), x) = 10 log10(1 / MSE) in dB, averaged over the images.

Purification: the zoo classifier ``fmnist-standard`` classifies x, f(y), f(y + δ_ObsAtk) and
f(y + δ_CE), where δ_CE is the same zero-mean L2-bounded attack but ascending the classifier's
cross-entropy through the denoiser (end to end; what an attacker who knows the purifier does).
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from skimage.filters import gaussian
from skimage.restoration import denoise_nl_means
from torch import nn

from core.attacks.dense.obsatk import ObsAtk, l2_budget, random_zero_mean
from core.models.dense.denoise_builtin import DENOISERS, load_denoiser
from core.models.zoo.catalogue import load_zoo_model
from core.models.zoo.net import FMNIST_CLASSES
from core.data.fashion_mnist import spread_subset, subset_image

SIGMA = 25 / 255
NLM = "Non-local means (scikit-image)"
GAUSS = "Gaussian filter (scikit-image)"
NETS = tuple(DENOISERS)  # "DnCNN", "DnCNN-HAT"
ALL_DENOISERS = NETS + (NLM, GAUSS)
EPS_LIST = (0.0, 2 / 255, 4 / 255, 6 / 255, 8 / 255, 12 / 255)
CLASSIFIER = "fmnist-standard"


def _classical(name: str, y: torch.Tensor, sigma: float) -> torch.Tensor:
    out = []
    for img in y[:, 0].detach().cpu().numpy().astype(np.float64):
        if name == NLM:
            d = denoise_nl_means(img, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)
        else:
            d = gaussian(img, sigma=1.0, preserve_range=True)
        out.append(np.clip(d, 0, 1))
    return torch.from_numpy(np.stack(out)).float()[:, None]


def denoise(name: str, y: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """Denoise observations (N, 1, 28, 28) with ``name`` (one of :data:`ALL_DENOISERS`)."""
    if name in NETS:
        with torch.no_grad():
            return load_denoiser(name)(y)
    if name in (NLM, GAUSS):
        return _classical(name, y, sigma)
    raise KeyError(f"unknown denoiser {name!r}; known: {', '.join(ALL_DENOISERS)}")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image for [0, 1] images (N, …)."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


@functools.lru_cache(maxsize=1)
def classifier() -> nn.Module:
    """The zoo classifier used on the denoised images (shared, frozen)."""
    m = load_zoo_model(CLASSIFIER)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def ce_objective(labels: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The classifier's cross-entropy on the denoised image (ascended by the end-to-end attack)."""
    clf = classifier()

    def fn(out: torch.Tensor, _x: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(clf(out), labels, reduction="none")

    return fn


def observations(x: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """y = x + n, n ~ N(0, σ²) drawn with ``seed`` (not clipped, as in the paper)."""
    gen = torch.Generator().manual_seed(int(seed))
    return x + sigma * torch.randn(x.shape, generator=gen)


def obsatk_delta(name: str, y: torch.Tensor, x: torch.Tensor, eps_rms: float, steps: int, seed: int,
                 objective=None) -> torch.Tensor:
    """ObsAtk δ against ``name`` (the plain DnCNN's for the classical denoisers: transfer)."""
    target = name if name in NETS else "DnCNN"
    kw = {} if objective is None else {"objective": objective}
    return ObsAtk(eps_rms, steps=steps, **kw).perturb(load_denoiser(target), y, x, seed=seed)


def psnr_curves(n_images: int = 200, eps_list: Sequence[float] = EPS_LIST, *, steps: int = 10,
                sigma: float = SIGMA, denoisers: Sequence[str] = ALL_DENOISERS, seed: int = 0) -> dict:
    """PSNR against ε (ObsAtk and random zero-mean noise) for each denoiser, and the zoo
    classifier's accuracy on the denoised images, on the first ``n_images`` of an even spread of
    the shipped test subset (the card's numbers and the page's curve)."""
    t0 = time.perf_counter()
    x, labels = spread_subset(n_images)
    y = observations(x, sigma, seed)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    out: dict = {"images": int(len(x)), "sigma_255": round(sigma * 255, 2), "obsatk_steps": steps,
                 "eps_rms_255": [round(e * 255, 2) for e in eps_list],
                 "eps_l2": [round(l2_budget(e, tuple(x.shape)), 4) for e in eps_list], "psnr_db": {},
                 "noisy_psnr_db": round(float(psnr(y.clamp(0, 1), x).mean()), 2)}
    rand = {e: random_zero_mean(tuple(x.shape), l2_budget(e, tuple(x.shape)), gen) for e in eps_list}
    deltas = {e: obsatk_delta("DnCNN", y, x, e, steps, seed) for e in eps_list}
    for name in denoisers:
        rows = {"obsatk": [], "random": []}
        for e in eps_list:
            d = deltas[e] if name not in NETS or name == "DnCNN" else obsatk_delta(name, y, x, e, steps, seed)
            rows["obsatk"].append(round(float(psnr(denoise(name, y + d, sigma), x).mean()), 2))
            rows["random"].append(round(float(psnr(denoise(name, y + rand[e], sigma), x).mean()), 2))
        rows["attack"] = "ObsAtk against this model" if name in NETS else "ObsAtk transferred from DnCNN"
        out["psnr_db"][name] = rows
    clf = classifier()
    e_clf = eps_list[len(eps_list) // 2] if len(eps_list) > 1 else eps_list[0]
    with torch.no_grad():
        acc = {"clean": float((clf(x).argmax(1) == labels).float().mean())}
    for name in NETS:
        d_obs = obsatk_delta(name, y, x, e_clf, steps, seed)
        d_ce = obsatk_delta(name, y, x, e_clf, steps, seed, objective=ce_objective(labels))
        with torch.no_grad():
            acc[name] = {"denoised": float((clf(denoise(name, y)).argmax(1) == labels).float().mean()),
                         "denoised_obsatk": float((clf(denoise(name, y + d_obs)).argmax(1) == labels).float().mean()),
                         "denoised_end_to_end": float((clf(denoise(name, y + d_ce)).argmax(1) == labels).float().mean()),
                         "noisy_no_denoiser": float((clf(y.clamp(0, 1)).argmax(1) == labels).float().mean())}
    out["classifier"] = {"model": CLASSIFIER, "eps_rms_255": round(e_clf * 255, 2), "accuracy": acc}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


@dataclass
class DenoiseExperiment:
    """One image through one denoiser: clean, noisy, attacked and denoised versions, with numbers."""

    denoiser: str
    label: int
    eps_rms: float
    x: torch.Tensor
    y: torch.Tensor
    delta: torch.Tensor
    delta_random: torch.Tensor
    denoised: torch.Tensor  # f(y)
    denoised_attacked: torch.Tensor  # f(y + δ)
    denoised_random: torch.Tensor  # f(y + random)
    psnr: dict[str, float]
    predictions: dict[str, tuple[str, float]]  # panel -> (class, probability)
    attack: str
    curve: dict | None = None
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)


def run_denoise_experiment(position: int, denoiser: str, eps_rms: float, *, steps: int = 10, sigma: float = SIGMA,
                           objective: str = "mse", seed: int = 0, curve_images: int = 16,
                           curve_denoisers: Sequence[str] = ALL_DENOISERS, progress=None) -> DenoiseExperiment:
    """The page's run: image ``position`` of the shipped test subset; ``objective`` "mse" (ObsAtk)
    or "ce" (the classifier's loss through the denoiser); a PSNR-vs-ε curve on ``curve_images``
    images (0 = none)."""
    if denoiser not in ALL_DENOISERS:
        raise ValueError(f"unknown denoiser {denoiser!r}")
    if objective not in ("mse", "ce"):
        raise ValueError("objective must be 'mse' or 'ce'")
    t0 = time.perf_counter()
    x, label, _ = subset_image(int(position))
    y = observations(x, sigma, seed + int(position))
    obj = ce_objective(torch.tensor([label])) if objective == "ce" else None
    d = obsatk_delta(denoiser, y, x, eps_rms, steps, seed, objective=obj)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    r = random_zero_mean(tuple(x.shape), l2_budget(eps_rms, tuple(x.shape)), gen)
    fy, fa, fr = denoise(denoiser, y, sigma), denoise(denoiser, y + d, sigma), denoise(denoiser, y + r, sigma)
    clf = classifier()
    panels = {"clean": x, "noisy": y.clamp(0, 1), "denoised": fy, "denoised, attacked": fa,
              "denoised, random noise": fr}
    preds = {}
    with torch.no_grad():
        for k, img in panels.items():
            p = torch.softmax(clf(img), 1)[0]
            preds[k] = (FMNIST_CLASSES[int(p.argmax())], float(p.max()))
    ps = {"noisy": float(psnr(y.clamp(0, 1), x)[0]), "denoised": float(psnr(fy, x)[0]),
          "denoised, attacked": float(psnr(fa, x)[0]), "denoised, random noise": float(psnr(fr, x)[0])}
    if progress is not None:
        progress(1, 2, "curve")
    curve = (psnr_curves(curve_images, steps=steps, sigma=sigma, denoisers=curve_denoisers, seed=seed)
             if curve_images else None)
    attack = ("ObsAtk" if objective == "mse" else "zero-mean L2 attack on the classifier through the denoiser") + (
        "" if denoiser in NETS else " (transferred from DnCNN)")
    return DenoiseExperiment(denoiser=denoiser, label=label, eps_rms=eps_rms, x=x, y=y, delta=d, delta_random=r,
                             denoised=fy, denoised_attacked=fa, denoised_random=fr, psnr=ps, predictions=preds,
                             attack=attack, curve=curve, elapsed_s=time.perf_counter() - t0,
                             extra={"delta_mean": float(d.mean()), "delta_l2": float(d.norm()),
                                    "budget_l2": l2_budget(eps_rms, tuple(x.shape)),
                                    "sqrt_pixels": math.sqrt(x[0].numel())})
