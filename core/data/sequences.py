"""Short frame sequences of a moving, fading Fashion-MNIST garment: the project's stand-in for the
video clips of Smooth-Reduce's video experiments (Joshi, Pham, Cho, Boytsov, Condessa, Kolter,
Hegde, "Smooth-Reduce: Leveraging Patches for Improved Certified Robustness", arXiv 2205.06154;
they certify UCF-101 clips). The name says what it holds: data, as sequences (the image data of
the zoo lives in :mod:`core.data.fashion_mnist`).

A sequence is ``T = 16`` grey frames of 28×28, float in [0, 1], shape (T, 1, 28, 28); a batch is
(N, T, 1, 28, 28). Its label is the garment's class. Each sequence is made from one Fashion-MNIST
image by two changes over time, drawn from a seeded ``torch.Generator``:

* **motion**: the garment starts at an integer offset (dx₀, dy₀) ∈ [−5, 5]² and moves with a
  constant velocity (vx, vy) ∈ [−0.6, 0.6]² pixels per frame; frame t shows it shifted by
  round(d₀ + v·t) (clamped to ±8), with black (0) filling what comes into view (no wrap-around);
* **fading**: its brightness goes linearly from a₀ to a₁, both in [0.5, 1.0].

The same image, seed and position give the same sequence on every machine (only integer shifts
and one multiplication per frame). Training draws fresh sequences from the 60,000 training
images (``tools/train_sequences.py``); the shipped test sequences
(``assets/sequences/test_sequences.npz``) are made from the shipped 1,000-image test subset
(:func:`core.data.fashion_mnist.load_test_subset`), so they need no Debian package.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from core.runtime.paths import ASSETS as ASSETS_ROOT

FRAMES = 16
SIZE = 28
MAX_START = 5
MAX_SPEED = 0.6
MAX_SHIFT = 8
BRIGHT_LO, BRIGHT_HI = 0.5, 1.0
ASSETS = ASSETS_ROOT / "sequences"
TEST_PATH = ASSETS / "test_sequences.npz"
TEST_SEED = 2024
TEST_PER_CLASS = 10


@dataclass(frozen=True)
class Motion:
    """The drawn parameters of one sequence."""

    start: tuple[float, float]  # (dx0, dy0) pixels
    velocity: tuple[float, float]  # (vx, vy) pixels per frame
    brightness: tuple[float, float]  # (a0, a1)


def draw_motion(gen: torch.Generator) -> Motion:
    """One set of parameters from ``gen`` (five uniform draws, in a fixed order)."""
    u = torch.rand(6, generator=gen, dtype=torch.float64)
    start = (float(torch.round((2 * u[0] - 1) * MAX_START)), float(torch.round((2 * u[1] - 1) * MAX_START)))
    vel = (float((2 * u[2] - 1) * MAX_SPEED), float((2 * u[3] - 1) * MAX_SPEED))
    bright = (float(BRIGHT_LO + (BRIGHT_HI - BRIGHT_LO) * u[4]), float(BRIGHT_LO + (BRIGHT_HI - BRIGHT_LO) * u[5]))
    return Motion(start, vel, bright)


def shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``img`` (..., H, W) moved right by ``dx`` and down by ``dy`` pixels, zeros coming in."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., yd, xd] = img[..., ys, xs]
    return out


def offsets(m: Motion, frames: int = FRAMES) -> list[tuple[int, int]]:
    """The integer (dx, dy) of each frame."""
    out = []
    for t in range(frames):
        d = [int(max(-MAX_SHIFT, min(MAX_SHIFT, round(s + v * t)))) for s, v in zip(m.start, m.velocity)]
        out.append((d[0], d[1]))
    return out


def make_sequence(image: torch.Tensor, m: Motion, frames: int = FRAMES) -> torch.Tensor:
    """One sequence (T, 1, H, W) in [0, 1] from a float image (1, H, W) or (H, W) in [0, 1]."""
    img = image.reshape(1, *image.shape[-2:]).float()
    a0, a1 = m.brightness
    out = []
    for t, (dx, dy) in enumerate(offsets(m, frames)):
        a = a0 + (a1 - a0) * t / max(1, frames - 1)
        out.append(shift(img, dx, dy) * a)
    return torch.stack(out).clamp_(0, 1)


def make_sequences(images: torch.Tensor, seed: int, frames: int = FRAMES) -> tuple[torch.Tensor, list[Motion]]:
    """Sequences (N, T, 1, H, W) for float images (N, 1, H, W) in [0, 1], one motion each, drawn in
    order from one generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    motions = [draw_motion(gen) for _ in range(images.shape[0])]
    return torch.stack([make_sequence(im, m, frames) for im, m in zip(images, motions)]), motions


def to_uint8(seq: torch.Tensor) -> np.ndarray:
    """Frames as uint8 (rounded), for shipping."""
    return (seq.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def save_test_sequences(seq: torch.Tensor, labels: torch.Tensor, source: torch.Tensor, motions: list[Motion],
                        path: Path = TEST_PATH) -> None:
    """Write shipped sequences: ``frames`` uint8 (N, T, 28, 28), ``labels`` int64, ``source_index``
    int32 (position in the 1,000-image subset), ``motion`` float32 (N, 6): dx0, dy0, vx, vy, a0, a1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mot = np.array([[*m.start, *m.velocity, *m.brightness] for m in motions], dtype=np.float32)
    np.savez_compressed(path, frames=to_uint8(seq)[:, :, 0], labels=labels.numpy().astype(np.int64),
                        source_index=source.numpy().astype(np.int32), motion=mot)


@functools.lru_cache(maxsize=1)
def _test() -> tuple[torch.Tensor, torch.Tensor]:
    if not TEST_PATH.exists():
        raise FileNotFoundError(f"{TEST_PATH} is missing; it is made by tools/train_sequences.py --phase data")
    with np.load(TEST_PATH, allow_pickle=False) as d:
        return torch.from_numpy(d["frames"].copy())[:, :, None], torch.from_numpy(d["labels"].copy())


def load_test_sequences() -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped test sequences: (float frames (N, T, 1, 28, 28) in [0, 1], labels (N,))."""
    f, y = _test()
    return f.float() / 255.0, y.clone()


def test_sequence(i: int) -> tuple[torch.Tensor, int]:
    """Shipped sequence ``i``: (float frames (1, T, 1, 28, 28), label)."""
    f, y = _test()
    return f[i:i + 1].float() / 255.0, int(y[i])


__all__ = ["FRAMES", "Motion", "TEST_PATH", "draw_motion", "load_test_sequences", "make_sequence", "make_sequences",
           "offsets", "save_test_sequences", "shift", "test_sequence", "to_uint8"]
