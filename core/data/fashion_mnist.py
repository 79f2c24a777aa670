"""Fashion-MNIST for the model zoo: the Debian files for training and full evaluation, the
shipped 1,000-image test subset for the app and the tests.

Dataset: Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv 1708.07747 (2017); © 2017 Zalando SE, MIT licence. 60,000 training
and 10,000 test images, 28×28 grey, white garments on black.

* Training and the full-test-set evaluation read the Debian package ``dataset-fashion-mnist``
  (``apt-get install -y --no-install-recommends dataset-fashion-mnist``), files
  ``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
  (:func:`load_fashion_mnist`).
* The app and the tests need only ``assets/data/fashion_mnist_test_1000.npz`` (uint8, 100 test
  images per class, chosen with a fixed seed by ``tools/train_zoo.py``; :func:`load_test_subset`).
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from core.runtime.paths import ASSETS

FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ASSETS_DATA = ASSETS / "data"
SUBSET_PATH = ASSETS_DATA / "fashion_mnist_test_1000.npz"
INSTALL_HINT = ("the Fashion-MNIST files come from the Debian package dataset-fashion-mnist: "
                "apt-get install -y --no-install-recommends dataset-fashion-mnist")


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a numpy array (uint8 images (N, 28, 28) or labels (N,))."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "train", root: Path | str = DEBIAN_DIR) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)) of ``split`` ("train" or "test")."""
    prefix = {"train": "train", "test": "t10k"}[split]
    root = Path(root)
    img, lab = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.exists() or not lab.exists():
        raise FileNotFoundError(f"{img} not found; {INSTALL_HINT}")
    x = torch.from_numpy(_read_idx(img).copy())[:, None]
    y = torch.from_numpy(_read_idx(lab).astype(np.int64))
    return x, y


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [0, 1]."""
    return x.float() / 255.0


def stratified_indices(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """``per_class`` indices of each class, drawn without replacement with ``seed``, sorted."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for c in range(int(labels.max()) + 1):
        idx = torch.nonzero(labels == c).flatten()
        out.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return torch.cat(out).sort().values


@functools.lru_cache(maxsize=1)
def _subset() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not SUBSET_PATH.exists():
        raise FileNotFoundError(f"{SUBSET_PATH} is missing; it is made by tools/train_zoo.py --subset-only")
    with np.load(SUBSET_PATH) as d:
        return (torch.from_numpy(d["images"].copy())[:, None], torch.from_numpy(d["labels"].astype(np.int64)),
                torch.from_numpy(d["indices"].astype(np.int64)))


def load_test_subset() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shipped test subset: (uint8 images (1000, 1, 28, 28), labels, indices into t10k)."""
    x, y, i = _subset()
    return x.clone(), y.clone(), i.clone()


def subset_of_class(cls: int) -> list[int]:
    """Positions in the shipped test subset of the images of class ``cls``."""
    _, y, _ = _subset()
    return [int(i) for i in torch.nonzero(y == int(cls)).flatten()]


def subset_image(position: int) -> tuple[torch.Tensor, int, int]:
    """One image of the shipped test subset: (float image (1, 1, 28, 28) in [0, 1], label, index
    into t10k)."""
    x, y, i = _subset()
    return to_float(x[position:position + 1]), int(y[position]), int(i[position])


def spread_subset(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images spread evenly over the shipped test subset (so over the classes): (float images
    in [0, 1], labels)."""
    x, y, _ = _subset()
    sel = torch.arange(0, len(x), max(1, len(x) // n))[:n]
    return to_float(x[sel]), y[sel].clone()


def save_test_subset(x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, path: Path = SUBSET_PATH) -> None:
    """Write a subset as a compressed npz (uint8 images (N, 28, 28), uint8 labels, int32 indices)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=x[:, 0].numpy().astype(np.uint8), labels=y.numpy().astype(np.uint8),
                        indices=indices.numpy().astype(np.int32))
