"""Registers the Fashion-MNIST model zoo (task "fashion-mnist"): small CNNs trained by this
project with the recipes of :mod:`core.train`, weights in ``assets/zoo/`` (made by
``tools/train_zoo.py``; model cards beside them and in ``docs/models/zoo.md``).

Only the models whose weights are present are registered, so a checkout without the zoo still
imports. Each loader reads its state dict with ``torch.load(weights_only=True)`` and
``load_state_dict(strict=True)``.
"""
from __future__ import annotations

from core.models.spec import ModelSpec, register
from core.models.zoo.catalogue import ZOO, load_zoo_model

for _e in ZOO:
    if not _e.weights_path.exists():
        continue
    register(ModelSpec(
        name=_e.name,
        task="fashion-mnist",
        input_size=(28, 28),
        resize_size=0,
        licence="MIT (trained by this project; Fashion-MNIST © Zalando SE, MIT)",
        source=f"assets/zoo/{_e.name}.pt, trained by tools/train_zoo.py",
        description=f"{_e.title} ({_e.paper}); 28×28 grey Fashion-MNIST, 10 classes.",
        loader=(lambda n=_e.name: load_zoo_model(n)),
        num_classes=10,
    ))
