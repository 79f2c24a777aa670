"""Few-shot segmentation episodes built from the garment scenes (1-way 1-shot).

The few-shot protocol of PANet (Wang, Liew, Zou, Zhou, Feng, "PANet: Few-Shot Image Semantic
Segmentation with Prototype Alignment", ICCV 2019, arXiv 1908.06391) and of R-PNODE (Pandey,
Chasmai, Sur, Lall, "Robust Prototypical Few-Shot Organ Segmentation with Regularized Neural-ODEs",
IEEE TMI 2023, arXiv 2208.12428): an *episode* is a support image with the binary mask of one
class and a query image that contains the same class; the model must segment that class in the
query. Training episodes use the *base* classes only; the test episodes use held-out *novel*
classes the model never saw.

Here (defaults):

* scenes of :mod:`core.data.scenes` at ``SIZE`` = 64 px (the project's 96 px scaled down for a
  2-core CPU; the garment sides, 28–56 px, are unchanged, so garments are large and overlap often);
* novel classes ``NOVEL`` = Trouser, Sandal, Bag (Fashion-MNIST 1, 5, 8); base classes the other 7;
* training scenes are drawn from the Fashion-MNIST *train* split restricted to base-class garments,
  so a novel class never appears in a training image, not even as background (stricter than
  PANet, which keeps other classes' objects in training images labelled as background);
* test scenes come from the *t10k* split, every class (base-class garments in a query are background);
* a class is "in" a scene when at least ``MIN_PIXELS`` = 60 of its pixels stay visible after occlusion;
* episode ``i`` of seed ``s`` draws its class and its two (distinct) scenes with
  ``numpy.random.default_rng([s, i])`` alone; test episodes cycle through the novel classes
  (episode i has class NOVEL[i % 3]).

Shipped: ``assets/fewshot/episodes_test.npz`` (``TEST_EPISODES`` episodes, seed ``TEST_SEED``), made
by ``tools/train_fewshot.py --phase episodes``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.runtime.paths import ASSETS
from core.data.scenes import CLASS_NAMES, make_scene, split_arrays

SIZE = 64
NOVEL: tuple[int, ...] = (1, 5, 8)  # Fashion-MNIST classes: Trouser, Sandal, Bag
BASE: tuple[int, ...] = tuple(c for c in range(10) if c not in NOVEL)
MIN_PIXELS = 60
TRAIN_SEED = 0
TEST_SEED = 1
TEST_POOL = 600  # test scenes the episodes are drawn from
TEST_EPISODES = 60
ASSETS_FEWSHOT = ASSETS / "fewshot"
EPISODES_PATH = ASSETS_FEWSHOT / "episodes_test.npz"


def class_name(c: int) -> str:
    """The Fashion-MNIST class name of class ``c`` (0..9)."""
    return CLASS_NAMES[1 + int(c)]


@dataclass
class Episodes:
    """A batch of 1-way 1-shot episodes (float images in [0, 1], masks in {0, 1})."""

    support: torch.Tensor  # (N, 3, H, W)
    support_mask: torch.Tensor  # (N, H, W) float
    query: torch.Tensor  # (N, 3, H, W)
    query_mask: torch.Tensor  # (N, H, W) int64
    classes: torch.Tensor  # (N,) Fashion-MNIST class
    scenes: torch.Tensor  # (N, 2) scene indices (support, query) in the pool

    def __len__(self) -> int:
        return int(self.classes.shape[0])

    def subset(self, idx: slice | list[int] | torch.Tensor) -> Episodes:
        """Episodes ``idx`` (a slice, a list or an index tensor)."""
        return Episodes(self.support[idx], self.support_mask[idx], self.query[idx], self.query_mask[idx],
                        self.classes[idx], self.scenes[idx])


class ScenePool:
    """``count`` scenes of one seed and split (garments restricted to ``classes``), with, per class,
    the scenes where it has at least ``MIN_PIXELS`` visible pixels."""

    def __init__(self, split: str, classes: tuple[int, ...], seed: int, count: int, size: int = SIZE,
                 arrays: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        imgs, labs = arrays if arrays is not None else split_arrays(split)
        keep = np.isin(labs, np.asarray(classes))
        imgs, labs = imgs[keep], labs[keep]
        scenes = [make_scene(imgs, labs, seed, i, size) for i in range(count)]
        self.images = np.stack([s.image for s in scenes])  # (count, 3, H, W) float32
        self.labels = np.stack([s.labels for s in scenes])  # (count, H, W) int64
        self.classes = tuple(classes)
        counts = {c: (self.labels == 1 + c).reshape(count, -1).sum(1) for c in classes}
        self.with_class = {c: np.flatnonzero(counts[c] >= MIN_PIXELS) for c in classes}
        self.seed, self.split = seed, split

    def episode(self, rng: np.random.Generator, cls: int) -> tuple[int, int]:
        """Two distinct scenes containing ``cls`` (support, query)."""
        pool = self.with_class[cls]
        if len(pool) < 2:
            raise ValueError(f"fewer than two scenes contain class {cls}")
        s, q = rng.choice(pool, size=2, replace=False)
        return int(s), int(q)

    def episodes(self, seed: int, start: int, count: int, cycle: bool = False) -> Episodes:
        """Episodes ``start`` … ``start + count − 1`` of ``seed``; the class is drawn uniformly from
        the pool's classes, or with ``cycle`` taken in turn (episode i: classes[i % k])."""
        rows = []
        for i in range(start, start + count):
            rng = np.random.default_rng([int(seed), int(i)])
            c = self.classes[i % len(self.classes)] if cycle else int(rng.choice(self.classes))
            rows.append((c, *self.episode(rng, c)))
        cls = np.asarray([r[0] for r in rows], dtype=np.int64)
        si = np.asarray([r[1] for r in rows])
        qi = np.asarray([r[2] for r in rows])
        smask = (self.labels[si] == 1 + cls[:, None, None]).astype(np.float32)
        qmask = (self.labels[qi] == 1 + cls[:, None, None]).astype(np.int64)
        return Episodes(torch.from_numpy(self.images[si]), torch.from_numpy(smask), torch.from_numpy(self.images[qi]),
                        torch.from_numpy(qmask), torch.from_numpy(cls), torch.from_numpy(np.stack([si, qi], 1)))


def train_pool(count: int, seed: int = TRAIN_SEED, size: int = SIZE) -> ScenePool:
    """Training scenes: Fashion-MNIST train split, base-class garments only."""
    return ScenePool("train", BASE, seed, count, size)


def test_pool(count: int = TEST_POOL, seed: int = TEST_SEED, size: int = SIZE) -> ScenePool:
    """Test scenes: t10k split, every garment class; episodes use the novel classes only."""
    imgs, labs = split_arrays("test")
    pool = ScenePool("test", tuple(range(10)), seed, count, size, arrays=(imgs, labs))
    pool.classes = NOVEL
    return pool


def make_test_episodes(count: int = TEST_EPISODES, seed: int = TEST_SEED) -> Episodes:
    """The shipped test episodes (novel classes in turn)."""
    return test_pool(seed=seed).episodes(seed, 0, count, cycle=True)


def save_episodes(ep: Episodes, seed: int, path: Path = EPISODES_PATH) -> None:
    """Write episodes as a compressed npz (uint8 images and masks)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def u8(x: torch.Tensor) -> np.ndarray:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    np.savez_compressed(path, support=u8(ep.support), support_mask=ep.support_mask.to(torch.uint8).numpy(),
                        query=u8(ep.query), query_mask=ep.query_mask.to(torch.uint8).numpy(),
                        classes=ep.classes.numpy(), scenes=ep.scenes.numpy(), seed=np.int64(seed),
                        novel=np.asarray(NOVEL, dtype=np.int64))


def load_episodes(path: Path | str = EPISODES_PATH) -> Episodes:
    """The shipped test episodes (float images in [0, 1])."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; it is made by tools/train_fewshot.py --phase episodes")
    with np.load(path, allow_pickle=False) as d:
        return Episodes(torch.from_numpy(d["support"].astype(np.float32) / 255.0),
                        torch.from_numpy(d["support_mask"].astype(np.float32)),
                        torch.from_numpy(d["query"].astype(np.float32) / 255.0),
                        torch.from_numpy(d["query_mask"].astype(np.int64)),
                        torch.from_numpy(d["classes"].astype(np.int64)), torch.from_numpy(d["scenes"].astype(np.int64)))


__all__ = ["BASE", "EPISODES_PATH", "Episodes", "MIN_PIXELS", "NOVEL", "SIZE", "ScenePool", "TEST_EPISODES",
           "TEST_SEED", "TRAIN_SEED", "class_name", "load_episodes", "make_test_episodes", "save_episodes",
           "test_pool", "train_pool"]
