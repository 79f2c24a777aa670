"""The labelled sample images shipped in ``assets/labelled/`` (20 ImageNet validation photos and
20 Fashion-MNIST test images from the foolbox 3.3.4 wheel, MIT; made by
``tools/extract_labelled_samples.py``, licence and provenance in ``assets/labelled/LICENSES.md``).

Each file's label is the number before its extension (``imagenet_00_243.jpg`` → class 243), so the
command line reads them with ``--labels pattern`` (the default for these sources). The words
"labelled-imagenet" and "labelled-fashion-mnist" become sources of
:func:`core.data.image_sets.iter_images` once :func:`register_labelled_sources` has run.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from core.data.image_sets import NAMED_SOURCES, register_named_source
from core.runtime.paths import ASSETS

LABELLED_DIR = ASSETS / "labelled"
LABELLED_SOURCES = {"labelled-imagenet": "imagenet", "labelled-fashion-mnist": "fashion-mnist"}
TITLE = {"imagenet": "Labelled ImageNet sample", "fashion-mnist": "Labelled Fashion-MNIST sample"}


@dataclass(frozen=True)
class LabelledSample:
    file: str
    label: int
    class_name: str
    path: Path


@functools.lru_cache(maxsize=2)
def labelled_samples(which: str = "imagenet") -> tuple[LabelledSample, ...]:
    """The samples of one set ("imagenet" or "fashion-mnist"), in file-name order."""
    doc = json.loads((LABELLED_DIR / "SAMPLES.json").read_text(encoding="utf-8"))
    return tuple(LabelledSample(e["file"], int(e["label"]), e["class_name"], LABELLED_DIR / which / e["file"])
                 for e in sorted(doc["sets"][which], key=lambda e: e["file"]))


def register_labelled_sources() -> None:
    """Make "labelled-imagenet" and "labelled-fashion-mnist" sources of
    :func:`core.data.image_sets.iter_images` (folders of ``assets/labelled/``)."""
    for word, sub in LABELLED_SOURCES.items():
        if word not in NAMED_SOURCES:
            register_named_source(word, lambda sub=sub: LABELLED_DIR / sub)


__all__ = ["LABELLED_DIR", "LABELLED_SOURCES", "LabelledSample", "TITLE", "labelled_samples",
           "register_labelled_sources"]
