"""The bundled person-segmentation models (MediaPipe selfie segmentation, general and landscape).

Weights: ``assets/weights/selfie_segmentation{,_landscape}.pt``, converted from the mediapipe
0.10.21 wheel by ``tools/convert_selfie_segmentation.py`` (Apache-2.0; see
``assets/weights/LICENSES.md`` and ``docs/models/selfie_segmentation.md``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from core.models.spec import ModelSpec, register
from core.models.selfie_segmentation import (GENERAL_SIZE, LANDSCAPE_SIZE, SelfieSegmenter,
                                             build_selfie_segmenter)

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "weights"
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
