"""Per-image results of an evaluation, kept beside a model card so that any two models measured on
the same images can be compared paired (exact McNemar on the discordant images, a signed-rank test
on each image's smallest flipping ε) instead of by overlapping intervals.

Format (version 1): a NumPy ``.npz`` file ``<card stem>.per_image.npz`` beside the card, loaded with
``np.load(path, allow_pickle=False)`` (no pickle anywhere):

* ``format_version``: int32 scalar, 1;
* ``image_index``: int32, the index of each image in the evaluated set (the 1,000-image Fashion-MNIST
  subset of ``assets/data``, or an episode list);
* ``labels``: int64, the true classes;
* per evaluation ``E`` (``clean``, ``fgsm``, ``pgd20``, ``apgd_ce``, ``worst_case``, ``noise_0.1``, …):
  ``E__correct`` (bool: the prediction after that evaluation is correct; an attacked image counts only
  when it was also right clean) and, where an ensemble ran, ``E__found_by`` (fixed-width unicode: the
  attack that fooled the image first, ``""`` if none, ``"clean"`` when it was already wrong);
  optional float arrays ``E__<metric>`` (e.g. a Dice per episode);
* ``min_eps_linf`` or ``min_norm_l2``: float32, each image's smallest flipping budget found (``inf`` where
  none up to the largest searched, ``0`` where the clean prediction is already wrong).

The settings that produced each array (attack, ε, seed, command) are in the card's JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
SUFFIX = ".per_image.npz"
DISTRIBUTION_KEYS = ("min_eps_linf", "min_norm_l2")


def path_for(card_path: str | Path) -> Path:
    """``assets/zoo/fmnist-x.json`` → ``assets/zoo/fmnist-x.per_image.npz``."""
    p = Path(card_path)
    return p.with_name(p.stem + SUFFIX)


@dataclass
class PerImage:
    """Per-image outcomes of one model on one set of images."""

    image_index: np.ndarray
    labels: np.ndarray
    correct: dict[str, np.ndarray] = field(default_factory=dict)  # evaluation -> bool per image
    found_by: dict[str, np.ndarray] = field(default_factory=dict)  # evaluation -> attack name per image
    values: dict[str, np.ndarray] = field(default_factory=dict)  # "E__metric" or a distribution key -> float

    def __post_init__(self) -> None:
        self.image_index = np.asarray(self.image_index, dtype=np.int32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.image_index)
        if len(self.labels) != n or len(np.unique(self.image_index)) != n:
            raise ValueError("image_index must be unique and as long as labels")
        for name, arr in [*self.correct.items(), *self.found_by.items(), *self.values.items()]:
            if len(arr) != n:
                raise ValueError(f"{name}: {len(arr)} values for {n} images")
            if "__" in name and name in self.correct:
                raise ValueError(f"evaluation names may not contain '__': {name}")

    @property
    def n(self) -> int:
        return len(self.image_index)

    def add(self, name: str, correct, found_by=None) -> None:
        """Record evaluation ``name`` (bool per image; optionally who fooled each image)."""
        self.correct[name] = np.asarray(correct, dtype=bool)
        if found_by is not None:
            self.found_by[name] = np.asarray(list(found_by), dtype=str)
        self.__post_init__()

    def accuracy(self, name: str) -> tuple[int, int]:
        """(correct, n) of evaluation ``name``."""
        c = self.correct[name]
        return int(c.sum()), int(c.size)

    def save(self, path: str | Path) -> Path:
        arrays: dict[str, np.ndarray] = {"format_version": np.int32(FORMAT_VERSION),
                                         "image_index": self.image_index, "labels": self.labels}
        for k, v in self.correct.items():
            arrays[f"{k}__correct"] = v.astype(bool)
        for k, v in self.found_by.items():
            arrays[f"{k}__found_by"] = v.astype(str)
        for k, v in self.values.items():
            arrays[k] = np.asarray(v, dtype=np.float32)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PerImage:
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: per-image format {version}, this code reads {FORMAT_VERSION}")
            out = cls(z["image_index"], z["labels"])
            for k in z.files:
                if k.endswith("__correct"):
                    out.correct[k[: -len("__correct")]] = z[k].astype(bool)
                elif k.endswith("__found_by"):
                    out.found_by[k[: -len("__found_by")]] = z[k].astype(str)
                elif k not in ("format_version", "image_index", "labels"):
                    out.values[k] = z[k].astype(np.float32)
        out.__post_init__()
        return out


def load_for_card(card_path: str | Path) -> PerImage | None:
    """The per-image file beside a card, or None when there is none."""
    p = path_for(card_path)
    return PerImage.load(p) if p.exists() else None


def align(a: PerImage, b: PerImage) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and ``b`` of the images both measured (same image index and label)."""
    common, ia, ib = np.intersect1d(a.image_index, b.image_index, assume_unique=True, return_indices=True)
    if not np.array_equal(a.labels[ia], b.labels[ib]):
        raise ValueError("the two files give different labels to the same image index")
    return ia, ib


def paired_outcomes(a: PerImage, name_a: str, b: PerImage, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    """The bool outcomes of evaluation ``name_a`` of ``a`` and ``name_b`` of ``b`` on their common images."""
    ia, ib = align(a, b)
    return a.correct[name_a][ia], b.correct[name_b][ib]


def paired_values(a: PerImage, b: PerImage, key: str, classes: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The float values ``key`` (e.g. ``min_eps_linf``) of ``a`` and ``b`` on the images both measured (same
    image, neither NaN; only images of ``classes`` when given)."""
    ia, ib = align(a, b)
    if classes:
        keep = np.isin(a.labels[ia], classes)
        ia, ib = ia[keep], ib[keep]
    va, vb = a.values[key][ia], b.values[key][ib]
    ok = ~np.isnan(va) & ~np.isnan(vb)
    return va[ok], vb[ok]


__all__ = ["DISTRIBUTION_KEYS", "FORMAT_VERSION", "PerImage", "SUFFIX", "align", "load_for_card",
           "paired_outcomes", "paired_values", "path_for"]
