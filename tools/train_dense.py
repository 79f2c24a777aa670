"""Train the garment-scene segmenter, write the shipped test scenes, and its model card.

Needs the Debian package dataset-fashion-mnist (the app and the tests do not):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_dense.py               # everything
    .venv/bin/python tools/train_dense.py --phase scenes                            # test scenes only
    .venv/bin/python tools/train_dense.py --phase evaluate                          # the card's clean part

Phases (``--phase``, default ``all`` = scenes, train, evaluate):

* ``scenes``   — assets/dense/scenes_test_200.npz: scenes 0–199 of seed ``--test-seed`` (default
  1) drawn from the t10k split only.
* ``train``    — core.train.dense_seg.train_segmenter on fresh training-split scenes of seed
  ``--scene-seed`` (default 0): weights to assets/dense/garment-unet.pt, the training part of
  assets/dense/garment-unet.json.
* ``evaluate`` — clean mIoU and per-class IoU on the shipped test scenes into the card.
  The attacked and defended numbers come from ``python -m core dense-eval ... --card``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.data import scenes  # noqa: E402
from core.attacks.dense.metrics import dataset_miou, per_image_miou  # noqa: E402
from core.models.dense.unet import count_parameters  # noqa: E402
from core.models.dense.segmentation_builtin import DENSE_CARD, DENSE_WEIGHTS, load_garment_unet  # noqa: E402
from core.train.dense_seg import DenseTrainConfig, train_segmenter  # noqa: E402


def _card() -> dict:
    return json.loads(DENSE_CARD.read_text()) if DENSE_CARD.exists() else {}


def _write(card: dict) -> None:
    DENSE_CARD.parent.mkdir(parents=True, exist_ok=True)
    DENSE_CARD.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=["all", "scenes", "train", "evaluate"], default="all")
    ap.add_argument("--steps", type=int, default=DenseTrainConfig.steps)
    ap.add_argument("--scene-seed", type=int, default=0)
    ap.add_argument("--test-seed", type=int, default=1)
    ap.add_argument("--test-scenes", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default="",
                    help="while training, save the weights every 500 steps to this path (for a look "
                         "before the end; not shipped)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_dense.py " + " ".join(sys.argv[1:])
    if a.phase in ("all", "scenes"):
        ti, tl = scenes.split_arrays("test")
        x, y = scenes.make_scenes(ti, tl, a.test_seed, 0, a.test_scenes)
        scenes.save_test_scenes(x, y, a.test_seed)
        card = _card()
        card["test_scenes"] = {"file": str(scenes.TEST_SCENES_PATH.relative_to(ROOT)), "count": a.test_scenes,
                               "seed": a.test_seed, "split": "t10k", "command": command}
        _write(card)
        print(f"wrote {scenes.TEST_SCENES_PATH}")
    if a.phase in ("all", "train"):
        cfg = DenseTrainConfig(steps=a.steps, scene_seed=a.scene_seed, threads=a.threads)
        xi, yl = scenes.split_arrays("train")
        save = None
        if a.checkpoint:
            def save(step: int, m: torch.nn.Module) -> None:
                torch.save({k: v.clone() for k, v in m.state_dict().items()}, a.checkpoint)
                print(f"checkpoint at step {step} -> {a.checkpoint}", flush=True)
        model, log = train_segmenter(xi, yl, cfg, checkpoint=save)
        torch.save(model.state_dict(), DENSE_WEIGHTS)
        card = _card()
        card.update({
            "name": "Garment U-Net", "architecture": "core.models.dense.unet.TinyUNet",
            "parameters": count_parameters(model), "classes": scenes.CLASS_NAMES,
            "input_size": list(model.input_size),
            "training": {"config": cfg.as_dict(), "split": "train", "scene_generator": "core.data.scenes",
                         **log, "command": command, "date": _dt.date.today().isoformat(),
                         "torch": torch.__version__, "machine": platform.processor() or platform.machine()},
            "licence": "weights: made in this project; data: Fashion-MNIST © 2017 Zalando SE, MIT licence",
        })
        _write(card)
        print(f"wrote {DENSE_WEIGHTS}")
    if a.phase in ("all", "evaluate"):
        model = load_garment_unet()
        x, y = scenes.load_test_scenes()
        with torch.no_grad():
            pred = torch.cat([model(x[i:i + 50]).argmax(1) for i in range(0, len(x), 50)])
        miou, iou = dataset_miou(y, pred, scenes.NUM_CLASSES)
        card = _card()
        card["clean"] = {"miou": round(miou, 4),
                         "per_class_iou": {n: round(float(v), 4) for n, v in zip(scenes.CLASS_NAMES, iou)},
                         "pixel_accuracy": round(float((pred == y).float().mean()), 4),
                         "mean_per_image_miou": round(float(per_image_miou(y, pred, scenes.NUM_CLASSES).mean()), 4),
                         "scenes": len(x), "command": command}
        _write(card)
        print(json.dumps(card["clean"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
