"""Training the garment-scene segmenter (:class:`core.models.dense.unet.TinyUNet`).

Data: an endless stream of fresh scenes from the Fashion-MNIST *training* split
(:func:`core.data.scenes.make_scene`, seed ``scene_seed``, scene indices 0, 1, 2, … in order),
never the t10k split that the shipped test scenes use. Loss: mean per-pixel cross-entropy over
the 11 classes. Optimiser: Adam (Kingma & Ba 2015), learning rate 3e-3 with a cosine decay to 0
over ``steps``; batch 32; one CPU thread by default. Deterministic for a given seed and thread
count. These defaults were chosen for a few minutes of one shared CPU core, not from a paper.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.data.scenes import CLASS_NAMES, make_scenes
from core.models.dense.unet import TinyUNet
from core.runtime.progress import ProgressFn, report


@dataclass(frozen=True)
class DenseTrainConfig:
    steps: int = 600
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    scene_seed: int = 0
    init_seed: int = 0
    threads: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def train_segmenter(images: np.ndarray, labels: np.ndarray, cfg: DenseTrainConfig = DenseTrainConfig(),
                    progress: ProgressFn = None) -> tuple[TinyUNet, dict]:
    """Train a TinyUNet on scenes of the training split ``images``/``labels``; returns the model
    (eval mode) and a training log (loss and pixel accuracy every 25 steps, seconds)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.init_seed)
    model = TinyUNet(len(CLASS_NAMES), CLASS_NAMES)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    log, t0 = [], time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        x, y = make_scenes(images, labels, cfg.scene_seed, step * cfg.batch_size, cfg.batch_size)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == cfg.steps - 1:
            acc = float((logits.argmax(1) == y).float().mean())
            log.append({"step": step, "loss": round(float(loss), 4), "pixel_acc": round(acc, 4),
                        "seconds": round(time.perf_counter() - t0, 1)})
            print(log[-1], flush=True)
        report(progress, step + 1, cfg.steps, f"step {step + 1}/{cfg.steps}")
    model.eval()
    return model, {"log": log, "seconds": round(time.perf_counter() - t0, 1),
                   "scenes_seen": cfg.steps * cfg.batch_size}
