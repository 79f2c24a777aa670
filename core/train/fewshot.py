"""Training and loading of the few-shot segmenters (prototype CNN, PNODE, R-PNODE, AT CNN).

Recipe (one CPU thread): Adam (lr ``LR`` = 1e-3), ``steps`` steps of ``batch`` = 8
training episodes (base classes only, :func:`core.data.fewshot_episodes.train_pool`: a pool of
``POOL`` = 2,000 scenes of the train split, scene seed 0); the episodes of training seed s are
episodes s·10⁶ + i of the pool (episode seed 0), so the seeds see different episode streams and
different initialisations (``torch.manual_seed(s)``). Loss: the query's per-pixel cross-entropy
(PANet, PNODE), plus λ·L_cl (R-PNODE, :mod:`core.models.fewshot.rpnode`), or on PGD queries (AT,
:mod:`core.models.fewshot.at`).

The CNNs train from random initialisation for 400 steps. The ODE models (PNODE, R-PNODE) start
from the trained prototype CNN of the same seed (``init_from``, :func:`warm_start`: its encoder,
and an ODE block that starts as the identity map) and train for 150 further steps (the seed's
episode stream from its start) — as the paper's ODE models start from a pretrained VGG encoder; from scratch they
would not have fitted the shared CPU (0.5 s per R-PNODE step at a load average of 15).

Weights: ``assets/fewshot/<kind>-s<seed>.pt`` (state dict), written by ``tools/train_fewshot.py``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from core.data.fewshot_episodes import ASSETS_FEWSHOT, ScenePool, train_pool
from core.models.fewshot.at import AdvTrainedPrototypeSeg
from core.models.fewshot.proto import PrototypeSeg
from core.models.fewshot.pnode import PNODE
from core.models.fewshot.rpnode import RPNODE
from core.runtime.progress import ProgressFn, report

KINDS: dict[str, type[PrototypeSeg]] = {"proto": PrototypeSeg, "pnode": PNODE, "rpnode": RPNODE,
                                        "proto_at": AdvTrainedPrototypeSeg}
TITLES = {"proto": "Prototype CNN (PANet-style)", "pnode": "PNODE", "rpnode": "R-PNODE",
          "proto_at": "Prototype CNN, adversarially trained"}
LR = 1e-3
POOL = 2000
SEED_STRIDE = 1_000_000


@dataclass(frozen=True)
class TrainConfig:
    kind: str = "proto"
    seed: int = 0
    steps: int = 400
    batch: int = 8
    lr: float = LR
    pool: int = POOL
    init_from: str = ""  # "proto:<seed>": the encoder from that shipped CNN, the ODE block starting as the identity


def build(kind: str) -> PrototypeSeg:
    """A freshly initialised model of ``kind`` (``torch.manual_seed`` first for a fixed init)."""
    if kind not in KINDS:
        raise ValueError(f"unknown few-shot model {kind!r}; choose from {', '.join(KINDS)}")
    return KINDS[kind]()


def stem(kind: str, seed: int = 0, tag: str = "") -> str:
    """``<kind>-s<seed>`` or, for a variant (e.g. the CNN trained on for the ODE models' 150 steps),
    ``<kind>-s<seed>-<tag>``."""
    return f"{kind}-s{seed}" + (f"-{tag}" if tag else "")


def weights_path(kind: str, seed: int = 0, tag: str = "") -> Path:
    return ASSETS_FEWSHOT / f"{stem(kind, seed, tag)}.pt"


def card_path(kind: str, seed: int = 0, tag: str = "") -> Path:
    return ASSETS_FEWSHOT / f"{stem(kind, seed, tag)}.json"


def load(kind: str, seed: int = 0, path: Path | None = None, tag: str = "") -> PrototypeSeg:
    """The shipped model of ``kind`` and training ``seed`` (variant ``tag``), in eval mode."""
    p = path or weights_path(kind, seed, tag)
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing; it is made by tools/train_fewshot.py --kind {kind} --seed {seed}")
    m = build(kind)
    m.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
    return m.eval()


def warm_start(model: PrototypeSeg, kind: str, seed: str | int) -> None:
    """Copy the encoder of the shipped ``kind`` model of ``seed`` into ``model`` (the paper's ODE
    models start from a pretrained encoder too) and, for an ODE model, zero the affine weight of the
    last GroupNorm of its vector field, so that f ≡ 0 and h(T) = h(0) at the start: the warm-started
    model begins exactly as the CNN it came from."""
    src = load(kind, int(seed))
    model.encoder.load_state_dict(src.encoder.state_dict())
    if isinstance(model, PNODE):
        with torch.no_grad():
            model.func.norms[-1].weight.zero_()
            model.func.norms[-1].bias.zero_()


def step_loss(model: PrototypeSeg, sup: torch.Tensor, smask: torch.Tensor, qry: torch.Tensor, qmask: torch.Tensor,
              gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of ``model``'s kind on one batch of episodes."""
    if isinstance(model, RPNODE):
        return model.regularized_loss(sup, smask, qry, qmask, generator=gen)
    if isinstance(model, AdvTrainedPrototypeSeg):
        return model.adversarial_loss(sup, smask, qry, qmask, generator=gen)
    ce = F.cross_entropy(model(sup, smask, qry), qmask)
    return ce, {"ce": float(ce.detach())}


def train(cfg: TrainConfig, pool: ScenePool | None = None, progress: ProgressFn = None,
          log_every: int = 25) -> tuple[PrototypeSeg, list[dict], float]:
    """Train one model; returns (model in eval mode, log, wall seconds)."""
    t0 = time.perf_counter()
    pool = pool or train_pool(cfg.pool)
    torch.manual_seed(cfg.seed)
    model = build(cfg.kind)
    if cfg.init_from:
        warm_start(model, *cfg.init_from.split(":"))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    log: list[dict] = []
    for step in range(cfg.steps):
        ep = pool.episodes(0, cfg.seed * SEED_STRIDE + step * cfg.batch, cfg.batch)
        loss, parts = step_loss(model, ep.support, ep.support_mask, ep.query, ep.query_mask, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == cfg.steps - 1:
            log.append({"step": step, "loss": round(float(loss.detach()), 4), **{k: round(v, 4) for k, v in parts.items()},
                        "seconds": round(time.perf_counter() - t0, 1)})
            report(progress, step + 1, cfg.steps, f"step {step + 1}/{cfg.steps}")
    return model.eval(), log, time.perf_counter() - t0


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


__all__ = ["KINDS", "LR", "POOL", "TITLES", "TrainConfig", "build", "card_path", "config_dict", "load", "stem", "step_loss",
           "train", "warm_start", "weights_path"]
