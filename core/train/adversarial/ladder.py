"""LADDER — latent boundary-guided adversarial training (Zhou, Liang, Chen, et al., "LADDER:
Latent boundary-guided adversarial training", Machine Learning 112, 2023, arXiv 2206.03717).

Adversarial examples are made in a *latent* space instead of the pixel space: a generator's
latent features are moved along the normal of a decision boundary that a linear SVM draws in that
space, and decoded back to images, which are added to training with their original label.

Our reading, the simplest one wherever the paper leaves a detail open (all choices ours):

1. **Autoencoder** (the paper's generator): encoder Conv(1→16, stride 2) → ReLU → Conv(16→32,
   stride 2) → ReLU → Linear(32·7·7 → 32); decoder Linear(32 → 32·7·7) → ReLU → ConvT(32→16) → ReLU →
   ConvT(16→1) → sigmoid; trained for ``ae_epochs`` = 2 epochs (Adam, lr 1e-3, batch 128, MSE) on the
   shared 16,000 training images before the classifier, then frozen.
2. **Linear SVM** in the 32-d latent space: one-vs-rest, squared hinge loss, L2 penalty ½‖W‖²/(C·N)
   with C = 1, on the standardised latents of the training images (full batch, 300 Adam steps,
   lr 0.05) — a plain multi-class linear SVM.
3. **Perturbation along the boundary normal**: for a latent z of class y, k is the other class with
   the highest SVM score and n̂ = (w_k − w_y)/‖w_k − w_y‖ the unit normal of the y-vs-k boundary,
   pointing towards k; the distance to it is d = (s_y − s_k)/‖w_y − w_k‖. z' = z + ρ·max(d, 0)·n̂ with
   ρ = 0.9: just short of the boundary, so the SVM still gives class y (an image the SVM already
   misclassifies is not moved). The decoded D(z') is labelled y.
4. **Training**: each batch of clean images plus the decoded boundary examples of the same images
   (made once, before training, as the paper's separate generation step); cross-entropy on both,
   averaged (the batch is twice as large).

The latent perturbations are **not Lp-bounded**: a decoded example differs from the clean image by
the autoencoder's reconstruction error plus the latent move, typically far more than ε = 0.1 in
L∞ (the card reports the mean distance), so the L∞ worst case is the key test of what it buys.
Paper setting: MNIST / CIFAR-10 / SVHN, a pretrained generator, several perturbation sizes.
Shared budget (:class:`core.train.common.TrainConfig`) for the classifier; cost: 2 passes per step
plus the autoencoder and the SVM before training (in the card's training time).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.zoo.net import ZooClassifier
from core.runtime.progress import ProgressFn, report
from core.train.common import Recipe

LATENT = 32


class AutoEncoder(nn.Module):
    """The small convolutional autoencoder of step 1 (module docstring)."""

    def __init__(self, latent: int = LATENT) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(32 * 7 * 7, latent))
        self.dec_fc = nn.Sequential(nn.Linear(latent, 32 * 7 * 7), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 1, 4, 2, 1),
                                 nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(self.dec_fc(z).view(-1, 32, 7, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.decode(self.encode(x))


def train_svm(z: torch.Tensor, y: torch.Tensor, num_classes: int = 10, c: float = 1.0, steps: int = 300,
              lr: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One-vs-rest linear SVM (squared hinge, ½‖W‖²/(C·N)): (W (K, D), b (K,))."""
    g = torch.Generator().manual_seed(seed)
    w = (0.01 * torch.randn(num_classes, z.shape[1], generator=g)).requires_grad_(True)
    b = torch.zeros(num_classes, requires_grad=True)
    sign = 2 * F.one_hot(y, num_classes).float() - 1  # +1 for the class, −1 for the rest
    opt = torch.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        margin = sign * (z @ w.T + b)
        loss = F.relu(1 - margin).pow(2).sum(1).mean() + 0.5 * w.pow(2).sum() / (c * z.shape[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def boundary_step(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor, rho: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """z' = z + ρ·max(d, 0)·n̂ towards the nearest other class's boundary (module docstring, step 3);
    returns (z', d)."""
    s = z @ w.T + b
    s_y = s.gather(1, y[:, None])[:, 0]
    k = s.scatter(1, y[:, None], float("-inf")).argmax(1)
    s_k = s.gather(1, k[:, None])[:, 0]
    normal = w[k] - w[y]  # towards k
    norm = normal.norm(dim=1).clamp_min(1e-12)
    d = (s_y - s_k) / norm
    return z + (rho * d.clamp_min(0.0) / norm)[:, None] * normal, d


class LADDER(Recipe):
    key = "ladder"

    def __init__(self, latent: int = LATENT, ae_epochs: int = 2, rho: float = 0.9, svm_c: float = 1.0) -> None:
        self.latent, self.ae_epochs, self.rho, self.svm_c = int(latent), int(ae_epochs), float(rho), float(svm_c)
        self.x_gen: torch.Tensor | None = None
        self.stats: dict[str, float] = {}

    def params(self) -> dict:
        return {"latent": self.latent, "autoencoder_epochs": self.ae_epochs, "svm": f"one-vs-rest linear, squared hinge, "
                f"C = {self.svm_c:g}", "rho": self.rho, "generated": "one decoded boundary example per training image",
                "loss": "mean CE over the clean batch and its boundary examples", **self.stats}

    def passes_per_step(self) -> float:
        return 2.0

    def prepare(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn = None) -> None:
        gen = torch.Generator().manual_seed(0)
        ae = AutoEncoder(self.latent)
        opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
        n, bs = x.shape[0], 128
        steps = self.ae_epochs * ((n + bs - 1) // bs)
        done = 0
        for _ in range(self.ae_epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, bs):
                xb = x[perm[s:s + bs]]
                loss = F.mse_loss(ae(xb), xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                done += 1
                report(progress, done, steps, f"autoencoder MSE {float(loss.detach()):.4f}")
        ae.eval()
        with torch.no_grad():
            z = torch.cat([ae.encode(x[s:s + 1000]) for s in range(0, n, 1000)])
            mu, sd = z.mean(0), z.std(0).clamp_min(1e-6)
        zs = (z - mu) / sd
        w, b = train_svm(zs, y, c=self.svm_c)
        with torch.no_grad():
            zs_adv, d = boundary_step(zs, y, w, b, self.rho)
            z_adv = zs_adv * sd + mu
            self.x_gen = torch.cat([ae.decode(z_adv[s:s + 1000]) for s in range(0, n, 1000)])
            rec = torch.cat([ae(x[s:s + 1000]) for s in range(0, n, 1000)])
            svm_acc = float(((zs @ w.T + b).argmax(1) == y).float().mean())
        self.stats = {"autoencoder_mse": round(float(F.mse_loss(rec, x)), 5), "svm_train_accuracy": round(svm_acc, 4),
                      "moved_share": round(float((d > 0).float().mean()), 4),
                      "mean_linf_to_clean": round(float((self.x_gen - x).abs().flatten(1).amax(1).mean()), 4),
                      "mean_l2_to_clean": round(float((self.x_gen - x).flatten(1).norm(dim=1).mean()), 4)}

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        if self.x_gen is None:
            raise RuntimeError("LADDER.prepare must run first (it makes the boundary examples)")
        xg = self.x_gen[idx].to(x.device)
        logits = model(torch.cat([x, xg]))
        loss = F.cross_entropy(logits, torch.cat([y, y]))
        return loss, {"correct": float((logits[len(y):].argmax(1) == y).sum())}
