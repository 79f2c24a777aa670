"""The zoo's architecture families: which network an entry of :mod:`core.models.zoo.catalogue` is built on.

The zoo first held one network (:mod:`core.models.zoo.net`, "cnn") trained with several
recipes. The papers behind the explorer also make *architecture* claims (neural ODEs, zero-stable
ODE discretisations, vision transformers, kernel machines), so each catalogue entry names a
family here. A family says:

* ``build(name=..., **arch)`` — a freshly initialised classifier on [0, 1] Fashion-MNIST input
  (N, 1 or 3, 28, 28), with the interface of :class:`core.models.zoo.net.ZooClassifier`
  (``forward_train(x, y)`` for the recipes, ``class_names``, ``input_size``); weights are loaded
  by :func:`core.models.zoo.catalogue.load_zoo_model` exactly as for the CNN (state dict,
  ``weights_only=True``, ``strict=True``, frozen);
* ``offers`` — which of the zoo's views the architecture supports: ``"saliency"`` (input
  gradients: every differentiable family), ``"channels"`` (a pre-pool (N, C, H, W) map and a
  linear head after average pooling: CIFS-style channel analysis and Grad-CAM), ``"stages"``
  (named stage maps). A page checks ``offers`` and says plainly what is missing;
* ``randomized`` — the prediction is random (a new draw per forward pass): the audit repeats its
  verdicts and uses EOT gradients, and the worst case uses the "rand" version.

Each family's network lives in its own file in ``core/models/`` with a docstring citing its
paper, its defaults and deviations.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from torch import nn

from core.models.zoo.lt_node import build_ltnode
from core.models.zoo.ode_net import build_ode
from core.models.zoo.snode import build_resnet_analog, build_snode
from core.models.zoo.vit import build_vit
from core.models.zoo.zerosnet import build_resnet, build_zerosnet
from core.models.zoo.kernel import build_kernel_model
from core.models.zoo.net import build_model as build_cnn

VIEWS = ("saliency", "channels", "stages")
VIEW_TEXT = {
    "saliency": "input-gradient saliency maps",
    "channels": "channel analysis (a convolutional feature map before average pooling and a linear head)",
    "stages": "named stage maps",
}


@dataclass(frozen=True)
class Family:
    """One architecture family of the zoo."""

    key: str
    title: str  # as the page and the card name it
    module: str  # the file that defines the network
    build: Callable[..., nn.Module]
    offers: frozenset[str] = frozenset(VIEWS)
    randomized: bool = False

    def missing(self) -> list[str]:
        """The views this family does not offer, in words."""
        return [VIEW_TEXT[v] for v in VIEWS if v not in self.offers]


FAMILIES: dict[str, Family] = {}


def register_family(f: Family) -> Family:
    unknown = set(f.offers) - set(VIEWS)
    if unknown:
        raise ValueError(f"family {f.key!r} offers unknown views {sorted(unknown)}")
    FAMILIES[f.key] = f
    return f


def get_family(key: str) -> Family:
    try:
        return FAMILIES[key]
    except KeyError:
        raise KeyError(f"unknown zoo architecture family {key!r}; known: {', '.join(FAMILIES)}") from None


register_family(Family("cnn", "CNN (four conv blocks)", "core/models/zoo/net.py", build_cnn))
# Further families register below, one line each, from their own modules.
register_family(Family("zerosnet", "ZeroSNet (zero-stable three-step residual net)", "core/models/zoo/zerosnet.py",
                       build_zerosnet))
register_family(Family("resnet", "ResNet (the ZeroSNet blocks, Euler steps)", "core/models/zoo/zerosnet.py", build_resnet))
register_family(Family("vit", "ViT (patch 4, width 64, depth 4)", "core/models/zoo/vit.py", build_vit,
                       offers=frozenset({"saliency"})))
# issue 21: neural ODEs (ODENet, TisODE, the dopri5 variant: "ode"; LT-NODE, randomized: one draw's map is no view)
register_family(Family("ode", "Neural ODE (conv stem, ODE block, linear head)", "core/models/zoo/ode_net.py", build_ode))
register_family(Family("lt-node", "LT-NODE (neural ODE with a random, learned end time)", "core/models/zoo/lt_node.py",
                       build_ltnode, offers=frozenset({"saliency"}), randomized=True))
# issue 22: kernel regression with the closed-form NTK over a distilled support set (no conv map: saliency only)
register_family(Family("ntk", "Kernel regression (NTK of a fully connected ReLU net) on a support set",
                       "core/models/zoo/kernel.py", build_kernel_model, offers=frozenset({"saliency"})))
# issue 37: the standalone neural ODE (the 14×14 image is the state) and its ResNet analog: no conv map, saliency only
register_family(Family("snode", "Standalone neural ODE (the 14×14 image is the state, 150 Euler steps)",
                       "core/models/zoo/snode.py", build_snode, offers=frozenset({"saliency"})))
register_family(Family("snode-resnet", "ResNet analog of the sNODE (three residual layers on the 14×14 image)",
                       "core/models/zoo/snode.py", build_resnet_analog, offers=frozenset({"saliency"})))
