"""ImageNet class names, taken from torchvision's bundled metadata (no download)."""
from __future__ import annotations

from functools import lru_cache

from torchvision.models import ResNet18_Weights


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in index order."""
    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
