"""The bundled Fashion-MNIST denoisers (plain DnCNN and the HAT twin, :mod:`core.models.dense.dncnn`).

Weights: ``assets/denoise/dncnn.pt`` and ``assets/denoise/dncnn-hat.pt``, trained in the project
by ``tools/train_denoiser.py`` (card ``assets/denoise/denoisers.json``, ``docs/models/denoisers.md``;
Fashion-MNIST © Zalando SE, MIT). Not in the classifier/segmenter registry: the denoiser
experiment (:mod:`core.evaluation.dense.denoise`) loads them with :func:`load_denoiser`.
"""
from __future__ import annotations

import functools

import torch

from core.models.dense.dncnn import DnCNN, build_dncnn
from core.runtime.paths import ASSETS

DENOISE_DIR = ASSETS / "denoise"
DENOISE_CARD = DENOISE_DIR / "denoisers.json"
DENOISERS = {"DnCNN": "dncnn.pt", "DnCNN-HAT": "dncnn-hat.pt"}


@functools.lru_cache(maxsize=None)
def load_denoiser(name: str) -> DnCNN:
    """One of :data:`DENOISERS`, loaded strictly, frozen (shared by every caller)."""
    if name not in DENOISERS:
        raise KeyError(f"unknown denoiser {name!r}; known: {', '.join(DENOISERS)}")
    path = DENOISE_DIR / DENOISERS[name]  # shipped in assets/denoise/, made by tools/train_denoiser.py
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return build_dncnn(sd, name=name).freeze()
