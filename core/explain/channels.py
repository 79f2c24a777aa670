"""CIFS-style analysis of positively and negatively relevant channels (PR / NR).

Source: Yan, Zhang, Niu, Feng, Tan, Sugiyama, "CIFS: Improving Adversarial Robustness of CNNs
via Channel-wise Importance-based Feature Selection", ICML 2021 (``HanshuYAN/CIFS``). The paper
states the pattern (attacks suppress PR channels and over-activate NR ones on non-robust
models); the measuring recipe below is this project's (*inferred* from the method, not taken
from the authors' plotting code; summary in docs/ALGORITHMS.md):

1. A the output of a chosen stage (default ``head``, the map before global average pooling),
   ā_c(x) = mean_{h,w} A_c(x), for the natural image and the adversarial one.
2. Relevance to class y: r_c = ∂z_y/∂ā_c, i.e. the change of the logit when the whole channel
   is shifted uniformly (so the gradient summed over h and w). For the pre-pool map of a
   GAP + linear head this is exactly the classifier weight W_{y,c} (no backward pass); for an
   earlier stage it is computed with autograd on the natural image and depends on it.
3. PR channels: r_c > 0; NR channels: r_c < 0. Channels are ordered by r_c, descending.
4. Summary numbers Σ_{PR} r_c ā_c and Σ_{NR} r_c ā_c, natural vs adversarial. At the pre-pool
   map these add up, with the bias, to the logit z_y exactly.

With a ``head_transform`` (a function applied to the pre-pool map before the head, e.g. the
CIFS-lite channel mask from :mod:`core.defenses.cifs_lite`), the analysis is of the *defended*
network: at ``head`` the activations shown are the transformed (masked) ones and r_c = W_{y,c}
refers to them; at an earlier stage the gradient flows through the transform.

Several images may be passed at once: activations and relevances are then averaged over the
batch (the paper's "average over images of class y").
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch
from torch import nn

from core.defenses.cifs_lite import cifs_lite_mask

HeadTransform = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ChannelAnalysis:
    """Channel statistics of one stage for a natural and an adversarial batch (CPU tensors)."""

    stage: str
    cls: torch.Tensor  # (N,) the class y of each image the relevance refers to
    relevance: torch.Tensor  # (C,) r_c, averaged over the batch
    act_nat: torch.Tensor  # (C,) ā_c natural, averaged over the batch
    act_adv: torch.Tensor  # (C,) ā_c adversarial
    maps_nat: torch.Tensor  # (C, h, w) channel maps of the first image
    maps_adv: torch.Tensor  # (C, h, w)
    logit_nat: float  # z_y on the natural batch (mean)
    logit_adv: float  # z_y on the adversarial batch (mean)
    bias: float | None  # b_y when the stage is the pre-pool map (mean over the batch's y)
    exact: bool  # relevance is the classifier weight (closed form), not autograd

    @property
    def order(self) -> torch.Tensor:
        """Channel indices by relevance, most positive first."""
        return torch.argsort(self.relevance, descending=True, stable=True)

    @property
    def pr(self) -> torch.Tensor:
        return self.relevance > 0

    @property
    def nr(self) -> torch.Tensor:
        return self.relevance < 0

    @property
    def delta(self) -> torch.Tensor:
        """Δā_c = ā_c(adv) − ā_c(nat)."""
        return self.act_adv - self.act_nat

    def sums(self) -> dict[str, float]:
        """Σ r_c ā_c over PR and over NR channels, natural and adversarial."""
        r = self.relevance
        out = {}
        for name, a in (("nat", self.act_nat), ("adv", self.act_adv)):
            out[f"PR_{name}"] = float((r * a)[self.pr].sum())
            out[f"NR_{name}"] = float((r * a)[self.nr].sum())
        return out

    def top_channels(self, k: int = 8, by: str = "impact") -> torch.Tensor:
        """The k channels with the largest |r_c·Δā_c| (``impact``: how much the attack's change
        of the channel moved z_y, to first order), or the largest |r_c| (``relevance``), or the
        largest natural activation (``activation``)."""
        if by == "impact":
            score = (self.relevance * self.delta).abs()
        elif by == "relevance":
            score = self.relevance.abs()
        elif by == "activation":
            score = self.act_nat
        else:
            raise ValueError(f"unknown ordering {by!r}")
        return torch.argsort(score, descending=True, stable=True)[: min(k, score.numel())]


def cifs_lite_transform(model: nn.Module, temperature: float = 1.0, k: int = 2) -> HeadTransform:
    """The CIFS-lite channel mask of :mod:`core.defenses.cifs_lite` as a head transform:
    A ↦ A ⊙ m with m = C·softmax(g/T), g the classifier rows of the top-k classes predicted from
    A itself (the same computation as ``cifs_lite_forward``)."""

    def transform(fmap: torch.Tensor) -> torch.Tensor:
        mask = cifs_lite_mask(model, model.forward_head(fmap), temperature, k)
        return fmap * mask[:, :, None, None].to(fmap.dtype)

    return transform


def _stage_and_logits(model: nn.Module, x: torch.Tensor, stage: str,
                      head_transform: HeadTransform | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(stage output, logits) in one pass; at ``head`` the stage output is the transformed map."""
    keep = () if stage == "head" else (stage,)
    fmap, feats = model.forward_features(x, keep)
    if head_transform is not None:
        fmap = head_transform(fmap)
    a = fmap if stage == "head" else feats[stage]
    return a, model.forward_head(fmap)


def channel_relevance(model: nn.Module, x: torch.Tensor, stage: str, cls: torch.Tensor | int, *,
                      head_transform: HeadTransform | None = None, exact_head: bool = True
                      ) -> tuple[torch.Tensor, bool]:
    """r_c = ∂z_y/∂ā_c per image, shape (N, C), and whether it is the closed form W_{y,c}.

    At ``head`` with ``exact_head`` the classifier row W_y is returned (valid for a GAP +
    linear head; ``exact_head=False`` forces autograd, which tests use to check it)."""
    if stage not in model.stage_names:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(model.stage_names)}")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    y = torch.as_tensor(cls, dtype=torch.long, device=dev).reshape(-1).expand(x.shape[0])
    if stage == "head" and exact_head:
        return model.classifier_weight[y].detach(), True
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)  # the graph exists only if something requires grad
        a, z = _stage_and_logits(model, xg, stage, head_transform)
        (g,) = torch.autograd.grad(z.gather(1, y[:, None]).sum(), a)
    # ā_c = mean over h·w positions, so ∂z/∂ā_c = Σ_hw ∂z/∂A_chw (a uniform shift of the channel)
    return g.sum(dim=(2, 3)).detach(), False


def _f(t: torch.Tensor) -> torch.Tensor:
    """float64 stays float64 (exact tests); anything else becomes float32."""
    return t if t.dtype == torch.float64 else t.float()


@torch.no_grad()
def _activations(model: nn.Module, x: torch.Tensor, stage: str, head_transform: HeadTransform | None):
    a, z = _stage_and_logits(model, x, stage, head_transform)
    return a, z


def analyse_channels(model: nn.Module, x_nat: torch.Tensor, x_adv: torch.Tensor, stage: str = "head",
                     cls: torch.Tensor | int | None = None, *, head_transform: HeadTransform | None = None
                     ) -> ChannelAnalysis:
    """PR/NR channel statistics of ``stage`` for natural and adversarial images.

    ``cls`` is the class y the relevance refers to (one, or one per image); by default the
    prediction on the natural image.
    """
    if x_nat.shape != x_adv.shape:
        raise ValueError("natural and adversarial batches differ in shape")
    dev = next((p.device for p in model.parameters()), x_nat.device)
    x_nat, x_adv = x_nat.detach().to(dev), x_adv.detach().to(dev)
    a_nat, z_nat = _activations(model, x_nat, stage, head_transform)
    a_adv, z_adv = _activations(model, x_adv, stage, head_transform)
    if cls is None:
        y = z_nat.argmax(1)
    else:
        y = torch.as_tensor(cls, dtype=torch.long, device=dev).reshape(-1).expand(x_nat.shape[0])
    rel, exact = channel_relevance(model, x_nat, stage, y, head_transform=head_transform)
    bias = None
    if stage == "head":
        # For a GAP + linear head, the logits of an all-zero map are the bias b.
        with torch.no_grad():
            b = model.forward_head(torch.zeros_like(a_nat[:1, :, :1, :1]))[0]
        bias = float(b[y].mean())
    return ChannelAnalysis(
        stage=stage, cls=y.cpu(), relevance=_f(rel).mean(0).cpu(),
        act_nat=_f(a_nat).mean(dim=(0, 2, 3)).cpu(), act_adv=_f(a_adv).mean(dim=(0, 2, 3)).cpu(),
        maps_nat=_f(a_nat[0]).cpu(), maps_adv=_f(a_adv[0]).cpu(),
        logit_nat=float(z_nat.gather(1, y[:, None]).mean()), logit_adv=float(z_adv.gather(1, y[:, None]).mean()),
        bias=bias, exact=exact,
    )
