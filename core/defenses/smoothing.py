"""Randomized smoothing (Cohen, Rosenfeld, Kolter, *Certified Adversarial Robustness via
Randomized Smoothing*, ICML 2019; ``locuslab/smoothing``: ``code/core.py``) and Smooth-Reduce
(Joshi, Pham, Cho, Boytsov, Condessa, Kolter, Hegde, *Smooth-Reduce: Leveraging Patches for
Improved Certified Robustness*, 2022; ``NYU-DICE-Lab/SmoothReduce``: ``PatchModel``).
Summary with the other methods: docs/ALGORITHMS.md.

Smoothed classifier g(x) = argmax_c P_{n~N(0,σ²I)}[f(x + n) = c], noise in [0, 1] pixel space
(normalisation is inside the model), not clipped.

* SAMPLE(x, m): argmax counts of f over m noisy copies, in batches.
* CERTIFY(x; n0, n, α): ĉ_A = argmax SAMPLE(x, n0); n_A = count of ĉ_A in a fresh SAMPLE(x, n);
  p̲_A = one-sided (1−α) Clopper–Pearson lower bound = Beta(α; n_A, n − n_A + 1) quantile;
  abstain if p̲_A < ½, else ĉ_A with L2 radius R = σ·Φ⁻¹(p̲_A).
* PREDICT(x; n, α): top-2 counts n₁, n₂; the top class if the two-sided binomial test of n₁ of
  n₁ + n₂ at p = ½ has p-value ≤ α, else abstain (scipy.stats.binomtest).
* The largest radius n samples can certify (all n correct): R_max = σ·Φ⁻¹(α^{1/n}).

Smooth-Reduce replaces f by a patch ensemble F(x) = reduce_i f(patch_i(resize(x))) (mean of
logits by default, or the element-wise max) and smooths F exactly as above. The noise is added
to the whole input before resizing and patching, so overlapping patches share it, and the
certificate holds for the input as given (the resize is part of F).

Defaults (the CPU defaults of docs/ALGORITHMS.md): smoothing σ = 0.25, n0 = 16, n = 128,
α = 0.001, batch 32 (R_max ≈ 1.6σ: the ceiling is low at this n); Smooth-Reduce σ = 0.25,
n0 = 8, n = 64, resize to input size + 32 (256 for 224 px), patches of the input size, stride
32 (2×2 = 4 patches), mean of logits. The papers use n0 = 100, n = 100,000.

As a ``Defense``: ``defend`` runs CERTIFY per image; the logits it returns are log empirical
frequencies of the n-sample counts; the certificate carries the certified class (−1 =
abstain) and radius; diagnostics hold the counts, p̲_A, PREDICT's answer on the same counts, a
few noisy samples (clipped to [0, 1] for display) and R_max. Adaptive route "eot": the logits
are log E_n[softmax f(x + n)] over ``eot_samples`` draws, the attack of Salman et al. 2019 on
smoothed classifiers. The naive module is the base model on one noise draw (the gradient a
single pass through the randomised defense shows).

The base models are not trained with Gaussian noise, so on ImageNet photos at σ = 0.25 the
smoothed classifier often abstains: the app says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from scipy.stats import beta, binomtest, norm
from torch import nn

from core.runtime import limits
from core.defenses.base import Certificate, Defense, DefenseOutput
from core.defenses.common import fast
from core.runtime.progress import ProgressFn, report, stage

Reduction = Literal["mean", "max"]


# --- statistics ----------------------------------------------------------------------------

def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided (1 − α) Clopper–Pearson lower confidence bound on a binomial proportion:
    the α-quantile of Beta(k, n − k + 1) (0 when k = 0)."""
    if not (0 <= k <= n) or n <= 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if k == 0:
        return 0.0
    return float(beta.ppf(alpha, k, n - k + 1))


def certified_radius(p_lower: float, sigma: float) -> float:
    """σ·Φ⁻¹(p̲_A), or 0 when p̲_A ≤ ½ (abstain)."""
    if p_lower <= 0.5:
        return 0.0
    return float(sigma * norm.ppf(p_lower))


def max_certifiable_radius(n: int, alpha: float, sigma: float) -> float:
    """The ceiling R_max = σ·Φ⁻¹(α^{1/n}): the radius when all n samples vote for one class."""
    return certified_radius(alpha ** (1.0 / n), sigma)


def predict_from_counts(counts: torch.Tensor, alpha: float) -> tuple[int, float]:
    """Cohen's PREDICT on one count vector: (class or −1, p-value of the binomial test)."""
    top2 = counts.topk(2)
    n1, n2 = int(top2.values[0]), int(top2.values[1])
    if n1 + n2 == 0:
        return -1, 1.0
    p = float(binomtest(n1, n1 + n2, 0.5).pvalue)
    return (int(top2.indices[0]) if p <= alpha else -1), p


# --- sampling ------------------------------------------------------------------------------

@torch.inference_mode()
def sample_counts(model: nn.Module, x: torch.Tensor, sigma: float, num: int, *, batch_size: int = 32,
                  gen: torch.Generator | None = None, num_classes: int | None = None, keep: int = 0,
                  progress: ProgressFn = None, done: int = 0, total: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """SAMPLE: argmax counts (classes,) of ``model`` on ``num`` noisy copies of one image
    ``x`` (1, 3, H, W) or (3, H, W), noise N(0, σ²) in pixel space, in batches; also the first
    ``keep`` noisy copies (unclipped) or None."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.shape[0] != 1:
        raise ValueError("sample_counts takes one image")
    if not 0 < num <= limits.MAX_SMOOTHING_SAMPLES:
        raise ValueError(f"num must be in 1..{limits.MAX_SMOOTHING_SAMPLES}")
    if not 0 < batch_size <= limits.MAX_SMOOTHING_BATCH:
        raise ValueError(f"batch_size must be in 1..{limits.MAX_SMOOTHING_BATCH}")
    if not 0 <= keep <= limits.MAX_SMOOTHING_KEEP:
        raise ValueError(f"keep must be in 0..{limits.MAX_SMOOTHING_KEEP}")
    counts = None
    kept = []
    remaining = num
    total = num if total is None else total
    while remaining > 0:
        b = min(batch_size, remaining)
        noisy = torch.randn((b, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype)
        noisy.mul_(sigma).add_(x)
        if keep and sum(k.shape[0] for k in kept) < keep:
            kept.append(noisy[: keep - sum(k.shape[0] for k in kept)].clone())
        logits = model(noisy)
        pred = logits.argmax(1)
        c = torch.bincount(pred, minlength=num_classes or logits.shape[1])
        counts = c if counts is None else counts + c
        remaining -= b
        done += b
        report(progress, done, total, f"{done}/{total} noisy samples")
    return counts.cpu(), (torch.cat(kept).cpu() if kept else None)


@dataclass
class CertifyResult:
    """CERTIFY for one image (and PREDICT on the same n counts, for display)."""

    predicted: int  # −1 = abstain
    radius: float
    c_hat: int  # the class selected on the n0 counts
    n_a: int
    p_lower: float
    counts0: torch.Tensor  # (classes,)
    counts: torch.Tensor  # (classes,)
    predict_class: int
    predict_pvalue: float
    noisy: torch.Tensor | None


def certify(model: nn.Module, x: torch.Tensor, *, sigma: float, n0: int, n: int, alpha: float,
            batch_size: int = 32, seed: int = 0, keep: int = 0, progress: ProgressFn = None) -> CertifyResult:
    """Cohen et al.'s CERTIFY for one image (1, 3, H, W) in [0, 1]."""
    if sigma <= 0:
        raise ValueError("sigma must be > 0")
    for nm, v in (("n0", n0), ("n", n)):  # both before any sampling
        if not 0 < v <= limits.MAX_SMOOTHING_SAMPLES:
            raise ValueError(f"{nm} must be in 1..{limits.MAX_SMOOTHING_SAMPLES}")
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    counts0, noisy = sample_counts(model, x, sigma, n0, batch_size=batch_size, gen=gen, keep=keep,
                                   progress=progress, done=0, total=n0 + n)
    c_hat = int(counts0.argmax())
    counts, _ = sample_counts(model, x, sigma, n, batch_size=batch_size, gen=gen, num_classes=counts0.numel(),
                              progress=progress, done=n0, total=n0 + n)
    n_a = int(counts[c_hat])
    p_lower = clopper_pearson_lower(n_a, n, alpha)
    radius = certified_radius(p_lower, sigma)
    predicted = c_hat if p_lower > 0.5 else -1
    pc, pv = predict_from_counts(counts, alpha)
    return CertifyResult(predicted=predicted, radius=radius, c_hat=c_hat, n_a=n_a, p_lower=p_lower,
                         counts0=counts0, counts=counts, predict_class=pc, predict_pvalue=pv, noisy=noisy)


# --- Smooth-Reduce's patch ensemble ---------------------------------------------------------

class PatchEnsemble(nn.Module):
    """F(x) = reduce over patches of f(patch(resize(x))): P×P patches with stride s taken with
    ``unfold`` (Smooth-Reduce's ``PatchModel``), logits reduced by mean or max."""

    def __init__(self, model: nn.Module, *, patch: int | None = None, stride: int = 32, resize: int | None = 256,
                 reduction: Reduction = "mean", max_patches: int | None = None) -> None:
        super().__init__()
        if reduction not in ("mean", "max"):
            raise ValueError(f"reduction must be 'mean' or 'max', not {reduction!r}")
        self.model = model
        self.patch = int(patch or getattr(model, "input_size", 224))
        self.stride = int(stride)
        self.resize = resize
        self.reduction = reduction
        self.max_patches = max_patches
        if self.stride < 1:
            raise ValueError("stride must be >= 1")
        if resize is not None and resize < self.patch:
            raise ValueError(f"resize ({resize}) must be at least the patch size ({self.patch})")

    def train(self, mode: bool = True):  # noqa: D102 - wraps a shared model
        if mode:
            raise RuntimeError("evaluation-only")
        return super().train(False)

    def grid(self, hw: tuple[int, int]) -> list[tuple[int, int]]:
        """(top, left) of every patch used, in the resized image."""
        h, w = (self.resize, self.resize) if self.resize else hw
        if h < self.patch or w < self.patch:
            raise ValueError(f"image {h}x{w} is smaller than the patch size {self.patch}")
        tops = range(0, h - self.patch + 1, self.stride)
        lefts = range(0, w - self.patch + 1, self.stride)
        boxes = [(t, l) for t in tops for l in lefts]
        idx = self._selected(len(boxes))
        return [boxes[i] for i in idx]

    def _selected(self, k: int) -> list[int]:
        cap = min(self.max_patches or limits.MAX_SMOOTHING_PATCHES, limits.MAX_SMOOTHING_PATCHES)
        if k <= cap:
            return list(range(k))
        return sorted({round(i * (k - 1) / (cap - 1)) for i in range(cap)}) if cap > 1 else [k // 2]

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, 3, P, P) patches of the resized batch."""
        if self.resize and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        p, s = self.patch, self.stride
        u = x.unfold(2, p, s).unfold(3, p, s)  # (N, C, nh, nw, P, P)
        n, c, nh, nw = u.shape[:4]
        u = u.permute(0, 2, 3, 1, 4, 5).reshape(n, nh * nw, c, p, p)
        idx = self._selected(nh * nw)
        if len(idx) != nh * nw:
            u = u[:, idx]
        return u

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, classes) logits of every patch."""
        u = self.patches(x)
        n, k = u.shape[:2]
        out = self.model(u.reshape(n * k, *u.shape[2:]))
        return out.view(n, k, -1)

    def patch_view(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For display: image 0 resized as the ensemble sees it (3, R, R) and each patch's class
        probabilities (K, classes), without gradients, on the CPU."""
        dev = next((p.device for p in self.model.parameters()), x.device)
        with torch.no_grad():
            x = x[:1].to(dev)
            big = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False) \
                if self.resize else x
            probs = self.patch_logits(x).float().softmax(-1)[0]
        return big[0].cpu(), probs.cpu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        z = self.patch_logits(x)
        return z.mean(1) if self.reduction == "mean" else z.amax(1)


# --- the defenses --------------------------------------------------------------------------

class RandomizedSmoothing(Defense):
    """Cohen et al. 2019 CERTIFY as a defense; see the module docstring."""

    name = "Randomized smoothing"
    paper = "Cohen, Rosenfeld, Kolter: Certified Adversarial Robustness via Randomized Smoothing, ICML 2019"
    summary = ("Classifies many copies of the image with Gaussian noise added and takes the majority vote. "
               "If the vote is lopsided enough, a statistical test certifies that no perturbation smaller "
               "than the reported L2 radius can change the answer; otherwise it abstains. The models here "
               "were not trained with noise, so expect abstentions.")
    adaptive_route = "eot"

    def __init__(self, model: nn.Module, *, sigma: float = 0.25, n0: int = 16, n: int = 128, alpha: float = 0.001,
                 batch_size: int = 32, eot_samples: int = 8, keep_samples: int = 4) -> None:
        super().__init__(model)
        if not sigma > 0:
            raise ValueError("sigma must be > 0")
        if not 0 < alpha < 0.5:
            raise ValueError("alpha must be in (0, 0.5)")
        for nm, v in (("n0", n0), ("n", n)):
            if not 0 < int(v) <= limits.MAX_SMOOTHING_SAMPLES:
                raise ValueError(f"{nm} must be in 1..{limits.MAX_SMOOTHING_SAMPLES}")
        if not 0 < eot_samples <= limits.MAX_EOT_SAMPLES:
            raise ValueError(f"eot_samples must be in 1..{limits.MAX_EOT_SAMPLES}")
        if not 0 < batch_size <= limits.MAX_SMOOTHING_BATCH:
            raise ValueError(f"batch_size must be in 1..{limits.MAX_SMOOTHING_BATCH}")
        if not 0 <= keep_samples <= limits.MAX_SMOOTHING_KEEP:
            raise ValueError(f"keep_samples must be in 0..{limits.MAX_SMOOTHING_KEEP}")
        self.sigma = float(sigma)
        self.n0, self.n = int(n0), int(n)
        self.alpha = float(alpha)
        self.batch_size = int(batch_size)
        self.eot_samples = int(eot_samples)
        self.keep_samples = int(keep_samples)

    def base_classifier(self) -> nn.Module:
        """The classifier f that is smoothed (a fused copy of the model where one exists)."""
        return fast(self.model)

    def forward_cost(self) -> int:
        """Base-model forward passes (at the model's input size) per noisy sample."""
        return 1

    def params(self) -> dict:
        return {"sigma": self.sigma, "n0": self.n0, "n": self.n, "alpha": self.alpha,
                "batch_size": self.batch_size, "eot_samples": self.eot_samples}

    def max_radius(self) -> float:
        return max_certifiable_radius(self.n, self.alpha, self.sigma)

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        f = self.base_classifier()
        results: list[CertifyResult] = []
        total = x.shape[0] * (self.n0 + self.n)

        for i in range(x.shape[0]):
            off = i * (self.n0 + self.n)
            sub = None if progress is None else (lambda d, t, m, off=off: progress(off + d, total, m))
            results.append(certify(f, x[i:i + 1], sigma=self.sigma, n0=self.n0, n=self.n, alpha=self.alpha,
                                   batch_size=self.batch_size, seed=seed + i, keep=self.keep_samples,
                                   progress=sub))
        counts = torch.stack([r.counts for r in results])
        freq = counts.float() / self.n
        logits = torch.log(freq.clamp_min(1e-6)).to(x.device)
        noisy = [r.noisy for r in results]
        first = torch.stack([nz[0] for nz in noisy]).clamp(0, 1).to(x.device) if noisy[0] is not None else x
        cert = Certificate(
            predicted=torch.tensor([r.predicted for r in results]),
            radius=torch.tensor([r.radius for r in results]),
            details={"p_lower": torch.tensor([r.p_lower for r in results]),
                     "n_a": torch.tensor([r.n_a for r in results]),
                     "c_hat": torch.tensor([r.c_hat for r in results]),
                     "sigma": self.sigma, "n0": self.n0, "n": self.n, "alpha": self.alpha,
                     "max_radius": self.max_radius()})
        return DefenseOutput(
            logits=logits, x_classified=first, certificate=cert,
            diagnostics={"counts": counts, "counts0": torch.stack([r.counts0 for r in results]),
                         "predict_class": torch.tensor([r.predict_class for r in results]),
                         "predict_pvalue": torch.tensor([r.predict_pvalue for r in results]),
                         "noisy_samples": None if noisy[0] is None else torch.stack(noisy).clamp(0, 1),
                         "params": self.params()})

    def _noise(self, x: torch.Tensor, m: int, seed: int) -> torch.Tensor:
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        return torch.randn((m, *x.shape), generator=gen, device=x.device, dtype=x.dtype) * self.sigma

    def _in_chunks(self, noisy: torch.Tensor) -> torch.Tensor:
        """The base classifier's logits of a batch of noisy images, in chunks that keep each pass
        within the per-pass pixel limit (an attack on many images × EOT draws × patches would
        exceed it). The noise is drawn before, so the result does not depend on the chunking."""
        f = self.base_classifier()
        grad = torch.is_grad_enabled() and noisy.requires_grad
        cap = limits.MAX_GRAD_PIXELS if grad else limits.MAX_FORWARD_PIXELS
        c = max(1, cap // (self.forward_cost() * noisy.shape[-2] * noisy.shape[-1]))
        return torch.cat([f(noisy[i:i + c]) for i in range(0, noisy.shape[0], c)])

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """EOT: log of the softmax averaged over ``eot_samples`` noise draws."""
        m = self.eot_samples
        noisy = (x.unsqueeze(0) + self._noise(x, m, seed)).reshape(m * x.shape[0], *x.shape[1:])
        p = self._in_chunks(noisy).softmax(1).view(m, x.shape[0], -1).mean(0)
        return torch.log(p.clamp_min(1e-12))

    def _naive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """The base model on one noise draw."""
        return self._in_chunks(x + self._noise(x, 1, seed)[0])


class SmoothReduce(RandomizedSmoothing):
    """Smooth-Reduce (Joshi et al. 2022): randomized smoothing of a patch ensemble."""

    name = "Smooth-Reduce"
    paper = ("Joshi, Pham, Cho, Boytsov, Condessa, Kolter, Hegde: Smooth-Reduce: Leveraging Patches for "
             "Improved Certified Robustness, 2022")
    summary = ("Randomized smoothing of a patch ensemble: the noisy image is enlarged a little, cut into "
               "overlapping crops, each crop is classified and the logits are averaged (or max-ed) before "
               "the vote. The ensemble is steadier under noise, so it abstains less and certifies larger "
               "radii, at the cost of one forward pass per patch.")
    adaptive_options: ClassVar[tuple[str, ...]] = ("eot",)

    def __init__(self, model: nn.Module, *, sigma: float = 0.25, n0: int = 8, n: int = 64, alpha: float = 0.001,
                 batch_size: int = 8, eot_samples: int = 4, keep_samples: int = 4, patch: int | None = None,
                 stride: int = 32, resize: int | None = None, reduction: Reduction = "mean",
                 max_patches: int | None = None) -> None:
        super().__init__(model, sigma=sigma, n0=n0, n=n, alpha=alpha, batch_size=batch_size,
                         eot_samples=eot_samples, keep_samples=keep_samples)
        size = int(getattr(model, "input_size", 224))
        self.patch = int(patch or size)
        self.stride = int(stride)
        self.resize = int(resize) if resize else self.patch + 32
        self.reduction = reduction
        self.max_patches = max_patches
        self._ensemble = PatchEnsemble(model, patch=self.patch, stride=self.stride, resize=self.resize,
                                       reduction=reduction, max_patches=max_patches)

    def base_classifier(self) -> nn.Module:
        ens = self._ensemble
        ens.model = fast(self.model)
        return ens

    def ensemble(self) -> PatchEnsemble:
        return self.base_classifier()

    def num_patches(self) -> int:
        return len(self._ensemble.grid((self.resize, self.resize)))

    def forward_cost(self) -> int:
        return self.num_patches()

    def params(self) -> dict:
        return {**super().params(), "patch": self.patch, "stride": self.stride, "resize": self.resize,
                "reduction": self.reduction, "patches": self.num_patches()}

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        out = super()._defend(x, seed=seed, progress=progress)
        out.diagnostics["patch_grid"] = self._ensemble.grid((self.resize, self.resize))
        out.diagnostics["patch_size"] = self.patch
        out.diagnostics["resize"] = self.resize
        return out


def smoothing_cost_note(defense: RandomizedSmoothing) -> str:
    """A sentence on the cost of one certificate, for the UI."""
    k = defense.forward_cost()
    passes = (defense.n0 + defense.n) * k
    return (f"{defense.n0} + {defense.n} noisy samples × {k} forward pass{'es' if k > 1 else ''} = "
            f"{passes} forward passes per image.")


def certify_each(methods: dict[str, RandomizedSmoothing], x: torch.Tensor, *, seed: int = 0,
                 progress: ProgressFn = None) -> tuple[dict[str, DefenseOutput], dict[str, dict]]:
    """Certify image ``x`` with each smoothing defense (one progress stage per method): their
    outputs and the settings they used, by name."""
    outputs = {name: d.defend(x, seed=seed, progress=stage(progress, i, len(methods), name))
               for i, (name, d) in enumerate(methods.items())}
    return outputs, {name: d.params() for name, d in methods.items()}


__all__ = ["CertifyResult", "PatchEnsemble", "RandomizedSmoothing", "SmoothReduce", "certified_radius", "certify", "certify_each",
           "clopper_pearson_lower", "max_certifiable_radius", "predict_from_counts", "sample_counts",
           "smoothing_cost_note"]
