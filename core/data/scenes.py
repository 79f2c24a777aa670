"""Garment scenes: a reproducible multi-class segmentation data set made from Fashion-MNIST.

No offline multi-class segmentation data set exists in the package registries, so the project
draws its own scenes from the Debian Fashion-MNIST files (Xiao, Rasul, Vollgraf, arXiv
1708.07747, 2017; © 2017 Zalando SE, MIT licence; read by :mod:`core.data.fashion_mnist`).

One scene (``SCENE_SIZE`` = 96 px square, RGB, float in [0, 1]):

* background: a texture, the sum of a low-frequency noise field (a 6×6 grid of uniform values,
  bicubically upsampled) and one sinusoidal grating of random orientation and period 6–24 px,
  mixed into a random dark base colour (every channel in [0.05, 0.45]);
* 2–5 garments (``MIN_GARMENTS``..``MAX_GARMENTS``), drawn uniformly from the chosen split
  (``"train"`` for training, ``"test"`` = t10k for the shipped test set), each scaled to a square
  side of 28–56 px (1×–2×, bilinear), placed uniformly with its whole box inside the canvas and
  tinted with a random colour (every channel in [0.45, 1]);
* a garment *pixel* is where the scaled garment's intensity g exceeds ``THRESHOLD`` = 0.25;
  there the pixel is set (opaque) to tint · (0.35 + 0.65 g); elsewhere the garment draws nothing,
  so labels match the pixels exactly. Later garments occlude earlier ones;
* labels (H, W) int64: 0 = background, 1 + c for Fashion-MNIST class c (``CLASS_NAMES``, 11 classes).

Scene ``i`` of seed ``s`` uses ``numpy.random.default_rng([s, i])`` alone, so a scene does not
depend on which other scenes were made with it, on batch sizes or on the machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data.fashion_mnist import FMNIST_CLASSES, load_fashion_mnist
from core.runtime.paths import ASSETS

SCENE_SIZE = 96
MIN_GARMENTS, MAX_GARMENTS = 2, 5
MIN_SIDE, MAX_SIDE = 28, 56
THRESHOLD = 0.25
CLASS_NAMES: list[str] = ["background"] + list(FMNIST_CLASSES)
NUM_CLASSES = len(CLASS_NAMES)  # 11
ASSETS_DENSE = ASSETS / "dense"
TEST_SCENES_PATH = ASSETS_DENSE / "scenes_test_200.npz"


@dataclass(frozen=True)
class Placement:
    """One garment drawn into a scene."""

    index: int  # into the split's images
    cls: int  # Fashion-MNIST class (label 1 + cls)
    top: int
    left: int
    side: int
    tint: tuple[float, float, float]


@dataclass
class Scene:
    image: np.ndarray  # (3, H, W) float32 in [0, 1]
    labels: np.ndarray  # (H, W) int64 in 0..10
    placements: list[Placement]
    background: np.ndarray  # (3, H, W) float32, the texture before any garment
    masks: list[np.ndarray]  # per garment (H, W) bool: the pixels it drew (before occlusion)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.uniform(0.05, 0.45, size=3).astype(np.float32)
    grid = rng.uniform(0, 1, size=(6, 6)).astype(np.float32)
    low = np.asarray(Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC))
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(6, 24)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    grating = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    amp_low, amp_grating = rng.uniform(0.05, 0.25), rng.uniform(0.0, 0.15)
    tex = base[:, None, None] + amp_low * (low[None] - 0.5) + amp_grating * (grating[None] - 0.5)
    return np.clip(tex, 0, 1).astype(np.float32)


def _scaled(garment: np.ndarray, side: int) -> np.ndarray:
    """A 28×28 uint8 garment as float intensities in [0, 1] at side×side (bilinear)."""
    img = Image.fromarray(garment).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def make_scene(images: np.ndarray, labels: np.ndarray, seed: int, index: int,
               size: int = SCENE_SIZE) -> Scene:
    """Scene ``index`` of ``seed`` drawn from ``images`` (N, 28, 28) uint8 with ``labels`` (N,)."""
    rng = np.random.default_rng([int(seed), int(index)])
    bg = _texture(rng, size)
    img = bg.copy()
    lab = np.zeros((size, size), dtype=np.int64)
    placements, masks = [], []
    for _ in range(int(rng.integers(MIN_GARMENTS, MAX_GARMENTS + 1))):
        k = int(rng.integers(0, len(images)))
        side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
        top, left = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
        tint = tuple(float(t) for t in rng.uniform(0.45, 1.0, size=3))
        g = _scaled(images[k], side)
        m = g > THRESHOLD
        full = np.zeros((size, size), dtype=bool)
        full[top:top + side, left:left + side] = m
        colour = np.asarray(tint, dtype=np.float32)[:, None, None] * (0.35 + 0.65 * g[None])
        region = img[:, top:top + side, left:left + side]
        region[:, m] = colour[:, m]
        lab[full] = 1 + int(labels[k])
        placements.append(Placement(k, int(labels[k]), top, left, side, tint))
        masks.append(full)
    return Scene(image=np.clip(img, 0, 1), labels=lab, placements=placements, background=bg, masks=masks)


def make_scenes(images: np.ndarray, labels: np.ndarray, seed: int, start: int, count: int,
                size: int = SCENE_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Scenes ``start`` … ``start + count − 1`` of ``seed``: (images (N, 3, H, W) float32,
    labels (N, H, W) int64)."""
    xs, ys = [], []
    for i in range(start, start + count):
        s = make_scene(images, labels, seed, i, size)
        xs.append(s.image)
        ys.append(s.labels)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def split_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The Fashion-MNIST split ("train" or "test") as (uint8 (N, 28, 28), labels (N,))."""
    x, y = load_fashion_mnist(split)
    return x[:, 0].numpy(), y.numpy()


def save_test_scenes(x: torch.Tensor, y: torch.Tensor, seed: int, path: Path = TEST_SCENES_PATH) -> None:
    """Write shipped scenes as a compressed npz (uint8 images (N, 3, H, W), uint8 labels, seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=(x.clamp(0, 1) * 255).round().to(torch.uint8).numpy(),
                        labels=y.to(torch.uint8).numpy(), seed=np.int64(seed))


def load_test_scenes(path: Path | str = TEST_SCENES_PATH) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped test scenes (t10k garments only): (float images (N, 3, H, W) in [0, 1], labels (N, H, W))."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; it is made by tools/train_dense.py")
    with np.load(path) as d:
        return (torch.from_numpy(d["images"].astype(np.float32) / 255.0),
                torch.from_numpy(d["labels"].astype(np.int64)))
