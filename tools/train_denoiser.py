"""Train the Fashion-MNIST denoisers (plain DnCNN and its HAT twin) and write their card.

Needs the Debian package dataset-fashion-mnist (the app and the tests do not):

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python tools/train_denoiser.py                # train + card
    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python tools/train_denoiser.py --phase evaluate

Phases: ``train`` (core.train.denoiser.train_denoisers on the training split: weights to
assets/denoise/dncnn.pt and assets/denoise/dncnn-hat.pt, the training part of
assets/denoise/denoisers.json), ``evaluate`` (PSNR against ε for the two models and the
classical denoisers, ObsAtk against random zero-mean noise of the same norm, and the zoo
classifier on the denoised output, on the shipped 1,000-image test subset's first ``--images``
images: :func:`core.evaluation.dense.denoise.psnr_curves`), ``all`` = both.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.models.dense.denoise_builtin import DENOISE_CARD, DENOISE_DIR  # noqa: E402
from core.data import fashion_mnist as fdata  # noqa: E402
from core.train.denoiser import DenoiserTrainConfig, train_denoisers  # noqa: E402


def _card() -> dict:
    return json.loads(DENOISE_CARD.read_text()) if DENOISE_CARD.exists() else {}


def _write(card: dict) -> None:
    DENOISE_DIR.mkdir(parents=True, exist_ok=True)
    DENOISE_CARD.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=["all", "train", "evaluate"], default="all")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python tools/train_denoiser.py " + " ".join(sys.argv[1:])
    if a.phase in ("all", "train"):
        cfg = DenoiserTrainConfig(threads=a.threads)
        x, _ = fdata.load_fashion_mnist("train")
        plain, hat, log = train_denoisers(fdata.to_float(x), cfg)
        DENOISE_DIR.mkdir(parents=True, exist_ok=True)
        torch.save(plain.state_dict(), DENOISE_DIR / "dncnn.pt")
        torch.save(hat.state_dict(), DENOISE_DIR / "dncnn-hat.pt")
        card = _card()
        card["training"] = {"config": cfg.as_dict(), "split": "train (60,000 images)", **log,
                            "command": command, "date": _dt.date.today().isoformat(), "torch": torch.__version__}
        card["licence"] = "weights: made in this project; data: Fashion-MNIST © 2017 Zalando SE, MIT licence"
        _write(card)
    if a.phase in ("all", "evaluate"):
        # the evaluation imports the attacks and the zoo; only this phase needs them
        from core.evaluation.dense.denoise import psnr_curves  # noqa: E402
        card = _card()
        card["evaluation"] = {**psnr_curves(n_images=a.images), "command": command}
        _write(card)
        print(json.dumps(card["evaluation"], indent=1)[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
