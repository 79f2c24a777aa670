"""Architectures a user model may name, built untrained (the user supplies the weights).

An architecture string is one of

* a torchvision classification builder: ``resnet18``, ``mobilenet_v3_large``, ``convnext_tiny``,
  ``vit_b_16``, … (``torchvision:`` prefix optional; ``torchvision.models.list_models``);
* a timm architecture: ``timm:resnet18``, ``timm:vit_tiny_patch16_224`` … (plain names that are
  not torchvision builders are looked up in timm too). Built with ``pretrained=False``: timm
  never downloads here;
* ``efficientnet_lite`` — the project's EfficientNet-Lite (variant read from the weights);
* ``zoo:<zoo model>`` — the architecture of a Fashion-MNIST zoo model (e.g. ``zoo:fmnist-standard``).

:class:`AdaptedNet` gives torchvision ResNets (named stages ``stem``, ``layer1`` … ``layer4``)
and timm CNNs (the ``head`` map) the ``forward_features`` / ``forward_head`` interface the
explanation pages use; other networks keep their own ``forward`` and report no stages, so pages
that need stages say so (see :func:`capabilities`).
"""
from __future__ import annotations

import copy
import difflib
import functools
import warnings
from collections import Counter
from typing import Any

import torch
import torch.fx
import torchvision
from torch import nn

from core.models.user.checkpoint import ModelFileError, match_score
from core.models.imagenet.efficientnet_lite import build_from_state_dict
from core.models.fast import fold_bn_
from core.models.zoo.catalogue import ZOO
from core.models.zoo.catalogue import build as zoo_build


class MissingCapability(RuntimeError):
    """A page asked a model for something it does not have (named stages, a CAM layer)."""


def _tv_builders() -> list[str]:
    return list(torchvision.models.list_models(module=torchvision.models))


def _timm():
    # timm is imported here only: it is an optional, heavy import (~1 s) that most runs never need.
    import timm

    return timm


def resolve(arch: str) -> tuple[str, str]:
    """(family, name) for an architecture string; families: torchvision, timm, efficientnet_lite, zoo."""
    a = arch.strip()
    if ":" in a:
        fam, name = a.split(":", 1)
        fam = fam.strip().lower()
        if fam not in ("torchvision", "timm", "zoo"):
            raise ModelFileError(f"unknown architecture family {fam!r} in {arch!r}; use torchvision:, timm: or zoo:.")
    elif a.lower().replace("-", "_") in ("efficientnet_lite", "efficientnetlite"):
        return "efficientnet_lite", "efficientnet_lite"
    elif a in _tv_builders():
        return "torchvision", a
    else:
        fam, name = "timm", a
    if fam == "torchvision" and name not in _tv_builders():
        raise ModelFileError(f"{name!r} is not a torchvision classification builder; "
                             f"closest: {', '.join(_close(name, _tv_builders()))}.")
    if fam == "timm":
        timm = _timm()
        if not timm.is_model(name):
            known = _close(name, _tv_builders() + list(timm.list_models()))
            raise ModelFileError(f"unknown architecture {arch!r} (neither torchvision nor timm); "
                                 f"closest names: {', '.join(known)}.")
    if fam == "zoo":
        if name not in {e.name for e in ZOO}:
            raise ModelFileError(f"unknown zoo architecture {name!r}; zoo models: {', '.join(e.name for e in ZOO)}.")
    return fam, name


def _close(name: str, names: list[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(name, names, n=n, cutoff=0.4) or names[:n]


def build(arch: str, num_classes: int, sd: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """An untrained network of ``arch`` with ``num_classes`` outputs (no download, ever)."""
    fam, name = resolve(arch)
    if fam == "torchvision":
        kwargs: dict[str, Any] = {"weights": None, "num_classes": num_classes}
        if name in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=False)
        return torchvision.models.get_model(name, **kwargs)
    if fam == "timm":
        return _timm().create_model(name, pretrained=False, num_classes=num_classes)
    if fam == "efficientnet_lite":
        if sd is None:
            raise ModelFileError("efficientnet_lite reads its variant from the weights; give a weights file.")
        try:
            return build_from_state_dict(sd)
        except (KeyError, IndexError, ValueError, RuntimeError) as e:
            raise ModelFileError(f"the weights are not an EfficientNet-Lite state dict ({e}).") from None
    return zoo_build(name).net


@functools.lru_cache(maxsize=1)
def _tv_signatures() -> dict[str, dict[str, tuple[int, ...]]]:
    """Key → shape of every torchvision classification builder, built on the meta device (no
    memory, no init cost); builders that cannot be built on meta are left out."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in _tv_builders():
            try:
                with torch.device("meta"):
                    m = torchvision.models.get_model(n, weights=None)
            except Exception:  # noqa: BLE001 — some builders compute on tensors while building
                continue
            out[n] = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    return out


def closest_architectures(sd: dict[str, torch.Tensor], n: int = 3) -> list[tuple[str, float]]:
    """The torchvision architectures whose keys and shapes best fit ``sd`` (ignoring the
    classifier's class count), best first, with the fraction of matching tensors."""
    scores = []
    for name, sig in _tv_signatures().items():
        scores.append((name, match_score(sd, sig)))
    scores.sort(key=lambda t: -t[1])
    return [(a, s) for a, s in scores[:n] if s > 0]


# ----------------------------------------------------------------------------- adapter


def _is_tv_resnet(net: nn.Module) -> bool:
    return isinstance(net, torchvision.models.ResNet)


class AdaptedNet(nn.Module):
    """A user network with the interface of the bundled ones where its structure allows.

    ``forward`` is always the network's own forward (exact logits). ``forward_features`` /
    ``forward_head`` / ``stage_names`` / ``classifier_weight`` exist for torchvision ResNets
    (stages ``stem``, ``layer1`` … ``layer4``; the last is the pre-pool map) and for timm
    networks whose ``forward_features`` returns a (N, C, H, W) map (one stage, ``head``);
    otherwise ``stage_names`` is empty and they raise :class:`MissingCapability`.
    """

    def __init__(self, body: nn.Module, family: str) -> None:
        super().__init__()
        self.body = body
        self.family = family
        if _is_tv_resnet(body):
            self.kind = "resnet"
        elif family == "timm" and hasattr(body, "forward_features") and hasattr(body, "forward_head"):
            self.kind = "timm"  # confirmed (4-D map) by probe_stages()
        else:
            self.kind = "plain"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.body(x)

    def probe_stages(self, x: torch.Tensor) -> None:
        """Keep the timm adapter only when its feature map is (N, C, H, W) (ViTs give tokens)."""
        if self.kind == "timm":
            with torch.no_grad():
                f = self.body.forward_features(x)
            if not (isinstance(f, torch.Tensor) and f.dim() == 4):
                self.kind = "plain"

    @property
    def stage_names(self) -> list[str]:
        if self.kind == "resnet":
            return ["stem", "layer1", "layer2", "layer3", "layer4"]
        if self.kind == "timm":
            return ["head"]
        return []

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The pre-pool map and the named stage outputs in ``keep``."""
        for k in keep:
            if k not in self.stage_names:
                raise MissingCapability(f"unknown stage {k!r}; stages: {', '.join(self.stage_names) or 'none'}")
        if self.kind == "resnet":
            b = self.body
            h = b.maxpool(b.relu(b.bn1(b.conv1(x))))
            out = {"stem": h}
            for name in ("layer1", "layer2", "layer3", "layer4"):
                h = getattr(b, name)(h)
                out[name] = h
            return h, {k: out[k] for k in keep}
        if self.kind == "timm":
            h = self.body.forward_features(x)
            return h, {k: h for k in keep}
        raise MissingCapability("this model has no named stages (its architecture is not one the explorer "
                                "can split into stages: torchvision ResNets and timm CNNs)")

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Logits from the pre-pool map."""
        if self.kind == "resnet":
            return self.body.fc(torch.flatten(self.body.avgpool(fmap), 1))
        if self.kind == "timm":
            return self.body.forward_head(fmap)
        raise MissingCapability("this model has no separable head")

    @property
    def classifier_weight(self) -> torch.Tensor:
        """(classes, channels) weight of a linear layer right after global average pooling."""
        if self.kind == "resnet" and isinstance(self.body.fc, nn.Linear):
            return self.body.fc.weight
        if self.kind == "timm":
            fc = self.body.get_classifier()
            pool = getattr(getattr(self.body, "global_pool", None), "pool_type", "avg")
            extra_norm = any(isinstance(m, (nn.LayerNorm,)) for m in getattr(self.body, "head", nn.Identity()).modules())
            if isinstance(fc, nn.Linear) and pool == "avg" and not extra_norm:
                return fc.weight
        raise MissingCapability("this model has no linear classifier right after average pooling (no CAM layer)")


def capabilities(model: Any) -> frozenset[str]:
    """What a classifier offers the pages: ``stages`` (named stage maps, ≥ 2), ``head`` (a
    pre-pool map and a head: channel analysis, Grad-CAM on the last map), ``cam`` (a linear
    classifier after average pooling), ``stride`` (stages whose stride can be changed)."""
    caps: set[str] = set()
    try:
        names = list(getattr(model, "stage_names", []))
    except MissingCapability:
        names = []
    if names:
        caps.add("head")
    if len(names) >= 2:
        caps.add("stages")
    try:
        _ = model.classifier_weight
        caps.add("cam")
    except (MissingCapability, AttributeError):
        pass
    net = getattr(model, "net", None)
    if net is not None and hasattr(net, "first_block_of_stage"):
        caps.add("stride")
    return frozenset(caps)


CAPABILITY_TEXT = {
    "head": "a feature map before its classifier (torchvision ResNets, timm CNNs, the bundled models)",
    "stages": "named stages (torchvision ResNets and the bundled models)",
    "cam": "a linear classifier right after global average pooling",
    "stride": "stages whose stride can be changed (the bundled EfficientNet-Lite models)",
}


def conv_bn_pairs(net: nn.Module) -> list[tuple[str, str]]:
    """(conv, bn) module names where a Conv2d's output goes only into a BatchNorm2d, found by
    tracing ``net`` with ``torch.fx`` (the order of calls, not the order of declaration). Modules
    called more than once are left out. Empty when the network cannot be traced."""
    try:
        graph = torch.fx.symbolic_trace(net).graph
    except Exception:  # noqa: BLE001 — not symbolically traceable (data-dependent control flow)
        return []
    mods = dict(net.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    pairs = []
    for node in graph.nodes:
        # Exact types only: subclasses may do more in forward (timm's BatchNormAct2d applies an
        # activation, StdConv2d standardises its weights), which folding would change.
        if node.op != "call_module" or type(mods.get(node.target)) is not nn.BatchNorm2d:
            continue
        src = node.args[0] if node.args else None
        if (isinstance(src, torch.fx.Node) and src.op == "call_module" and type(mods.get(src.target)) is nn.Conv2d
                and len(src.users) == 1 and calls[src.target] == 1 and calls[node.target] == 1):
            pairs.append((src.target, node.target))
    return pairs


def fx_fused(net: nn.Module) -> nn.Module | None:
    """A deep copy of ``net`` with every batch norm that directly follows a convolution folded
    into it (the BN becomes ``nn.Identity``), in channels_last; module types and names are kept,
    so ``AdaptedNet``'s stage access still works on the copy. None when nothing can be folded.
    Used for the attack engine's fast copy (core/models/fast.py)."""
    pairs = conv_bn_pairs(net)
    if not pairs:
        return None
    fused = copy.deepcopy(net)
    for conv, bn in pairs:
        fold_bn_(fused.get_submodule(conv), fused.get_submodule(bn))
        fused.set_submodule(bn, nn.Identity())
    return fused.to(memory_format=torch.channels_last).eval()
