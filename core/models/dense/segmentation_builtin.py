"""The bundled person-segmentation models (MediaPipe selfie segmentation, general and landscape).

Weights: ``assets/weights/selfie_segmentation{,_landscape}.pt``, converted from the mediapipe
0.10.21 wheel by ``tools/convert_selfie_segmentation.py`` (Apache-2.0; see
``assets/weights/LICENSES.md`` and ``docs/models/selfie_segmentation.md``).

The garment-scene segmenter (11 classes, :mod:`core.models.dense.unet`): trained in the project by
``tools/train_dense.py`` into ``assets/dense/garment-unet.pt`` (card ``assets/dense/garment-unet.json``,
``docs/models/garment_unet.md``; Fashion-MNIST © Zalando SE, MIT).
"""
from __future__ import annotations


import json

import torch

from core.models.dense.unet import TinyUNet, build_tiny_unet
from core.models.spec import ModelSpec, register
from core.models.dense.selfie_segmentation import (GENERAL_SIZE, LANDSCAPE_SIZE, SelfieSegmenter,
                                             build_selfie_segmenter)
from core.runtime.paths import ASSETS

WEIGHTS_DIR = ASSETS / "weights"
DENSE_DIR = ASSETS / "dense"
DENSE_WEIGHTS = DENSE_DIR / "garment-unet.pt"
DENSE_CARD = DENSE_DIR / "garment-unet.json"
GARMENT_UNET = "Garment U-Net (11 classes, Fashion-MNIST scenes)"
_VARIANTS = {  # registry name -> (weights file, (H, W), description)
    "MediaPipe Selfie Segmentation": (
        "selfie_segmentation.pt", GENERAL_SIZE,
        "Person mask, 256×256 (general model). The photo is stretched to 256×256."),
    "MediaPipe Selfie Segmentation (landscape)": (
        "selfie_segmentation_landscape.pt", LANDSCAPE_SIZE,
        "Person mask, 144×256 (landscape model, faster). The photo is stretched to 144×256."),
}


def load_selfie_segmentation(name: str) -> SelfieSegmenter:
    """One of the two ported MediaPipe models, weights loaded strictly."""
    file, size, _ = _VARIANTS[name]
    sd = torch.load(WEIGHTS_DIR / file, map_location="cpu", weights_only=True)
    return build_selfie_segmenter(sd, size, name=name)


for _name, (_file, _size, _desc) in _VARIANTS.items():
    register(ModelSpec(
        name=_name,
        task="segmentation",
        input_size=_size,
        resize_size=0,  # stretch the whole photo to input_size (MediaPipe's keep_aspect_ratio: false)
        licence="Apache-2.0 (Google MediaPipe; converted weights)",
        source="mediapipe 0.10.21 wheel: mediapipe/modules/selfie_segmentation/"
               + _file.replace(".pt", ".tflite") + " (tools/convert_selfie_segmentation.py)",
        description=_desc,
        loader=(lambda n=_name: load_selfie_segmentation(n)),
        num_classes=1,
    ))


def load_garment_unet() -> TinyUNet:
    """The garment-scene segmenter, weights loaded strictly; class names from its card."""
    classes = json.loads(DENSE_CARD.read_text())["classes"]
    path = DENSE_WEIGHTS  # shipped in assets/dense/, made by tools/train_dense.py
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return build_tiny_unet(sd, classes, name=GARMENT_UNET)


if DENSE_WEIGHTS.exists():
    register(ModelSpec(
        name=GARMENT_UNET,
        task="segmentation",
        input_size=(96, 96),
        resize_size=0,
        licence="weights made in this project (tools/train_dense.py); data Fashion-MNIST © Zalando SE, MIT",
        source="assets/dense/garment-unet.pt (tools/train_dense.py)",
        description="Multi-class segmentation (background + 10 garment classes) of 96×96 garment scenes, "
                    "a tiny U-Net trained in the project.",
        loader=load_garment_unet,
        num_classes=11,
    ))
