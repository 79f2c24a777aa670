"""Save a torchvision classifier's state dict and a models.toml that registers it (README,
"Use your own model").

Nothing is downloaded. The weights are either randomly initialised (``--seed``; the network then
predicts nonsense, but every page and attack works on it), or torchvision's ImageNet weights if
they are already in the local torch hub cache (``--cached-weights``, e.g. copied there from
another machine).

    .venv/bin/python tools/make_example_model.py --arch resnet18 --out my_models
    EXPLORER_MODELS=my_models/models.toml bash scripts/start.sh
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    import torch
    import torchvision
    from safetensors.torch import save_file

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet18", help="torchvision classification builder (default: %(default)s)")
    p.add_argument("--out", default="my_models", help="output folder (default: %(default)s)")
    p.add_argument("--format", choices=["safetensors", "pt"], default="safetensors")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--cached-weights", action="store_true",
                   help="use torchvision's ImageNet weights if already in the torch hub cache (never downloads)")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    model = torchvision.models.get_model(args.arch, weights=None)
    how = f"random initialisation, seed {args.seed}"
    if args.cached_weights:
        weights = torchvision.models.get_model_weights(args.arch).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.is_file():
            print(f"error: {cached} is not in the cache (this script never downloads)", file=sys.stderr)
            return 1
        model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
        how = f"torchvision {weights} from {cached}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.arch}.{args.format}"
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    if args.format == "safetensors":
        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    toml = out / "models.toml"
    toml.write_text(
        "# Made by tools/make_example_model.py; see the README, \"Use your own model\".\n"
        "[[model]]\n"
        f"name = \"My {args.arch}\"\n"
        f"architecture = \"{args.arch}\"\n"
        f"weights = \"{path.name}\"\n"
        "input_size = 224\n"
        "resize = \"crop\"          # short side to 256, then the centre 224 × 224\n"
        "resize_size = 256\n"
        "normalization = \"imagenet\"  # torchvision's ImageNet models expect (x - mean) / std\n"
        "classes = \"imagenet\"\n"
        f"description = \"{args.arch}, {how}\"\n", encoding="utf-8")
    print(f"wrote {path} ({how}) and {toml}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
