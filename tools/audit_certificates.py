"""Certificate audit of every smoothed classifier the project certifies (core/evaluation/audit/certificates.py).

    OMP_NUM_THREADS=1 .venv/bin/python tools/audit_certificates.py --part sequences
    OMP_NUM_THREADS=1 .venv/bin/python tools/audit_certificates.py --part toy
    OMP_NUM_THREADS=1 .venv/bin/python tools/audit_certificates.py --part images

``sequences``: the shipped sequence network, the first ``--n`` shipped sequences spread over the
classes, each of the five variants (independent noise max/mean, one draw max/mean, plain
smoothing) certified by CERTIFY and attacked inside its radius. ``toy``: the same construction on
a linear sequence classifier, where the independent-noise radius is known to exceed the distance
to the decision boundary (what the audit can see when a certificate is wrong). ``images``: the
Certify page's randomized smoothing and Smooth-Reduce on EfficientNet-Lite0 and bundled photos.
Each part merges its block into ``assets/sequences/certificate_audit.json`` (with the command and
the time); the attacked sequences of the certificates that broke, and of the closest call per
variant, go to ``assets/sequences/certificate_audit_points.npz`` (float16).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repository root

from core.evaluation.audit.certificates import (AUDIT_PATH, POINTS_PATH, AuditSettings, ImageSmoothed,  # noqa: E402
                                    audit_input, summarize)
from core.data.sequences import load_test_sequences  # noqa: E402
from core.defenses.smoothing import sample_counts  # noqa: E402
from core.defenses.smooth_reduce_sequences import (ALPHA, LENGTH, N, N0, PAPER, SIGMA, STRIDE,  # noqa: E402
                                                   SmoothedSequenceClassifier, all_variants)
from core.models.sequence_net import load_sequence_net  # noqa: E402

OUT, POINTS = AUDIT_PATH, POINTS_PATH


def _load() -> dict:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def _save(key: str, block: dict, points: dict[str, np.ndarray] | None = None) -> None:
    data = _load()
    data[key] = block
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    if points is not None:
        old = dict(np.load(POINTS, allow_pickle=False)) if POINTS.exists() else {}
        old = {k: v for k, v in old.items() if not k.startswith(key + "__")}
        np.savez_compressed(POINTS, **old, **{f"{key}__{k}": v for k, v in points.items()})


def _settings_dict(s: AuditSettings) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(s).items()}


def _audit_sequences(variants: dict[str, SmoothedSequenceClassifier], xs: torch.Tensor, labels: list[int],
                     index: list[int], settings: AuditSettings, n0: int, n: int, alpha: float, seed: int,
                     key: str) -> None:
    t0 = time.time()
    block = {"certify": {"sigma": next(iter(variants.values())).sigma, "n0": n0, "n": n, "alpha": alpha,
                         "length": LENGTH, "stride": STRIDE}, "audit": _settings_dict(settings),
             "paper": PAPER, "index": index, "labels": labels, "variants": {}}
    points: dict[str, np.ndarray] = {}
    for vi, (name, clf) in enumerate(variants.items()):
        tv = time.time()
        audits, claimed, sound = [], [], []
        for i in range(xs.shape[0]):
            x = xs[i:i + 1]
            c = clf.certify(x, n0=n0, n=n, alpha=alpha, batch_size=100, seed=seed + i)
            claimed.append(c.radius)
            sound.append(c.sound_radius)
            audits.append(audit_input(clf, x, c.predicted, c.radius, c.result.p_lower, settings,
                                      seed=seed + 1000 * (vi + 1) + i))
        s = summarize(name, audits).as_dict()
        for row, r_s, lab in zip(s["per_input"], sound, labels):
            row["sound_radius"] = r_s
            row["label"] = lab
        cert = [a for a in audits if a.certified_class >= 0 and a.radius > 0]
        s["correct_certified"] = sum(int(a.certified_class == lab) for a, lab in zip(audits, labels)
                                     if a.certified_class >= 0 and a.radius > 0)
        s["mean_radius"] = float(np.mean([a.radius for a in cert])) if cert else 0.0
        s["mean_sound_radius"] = float(np.mean([r for a, r in zip(audits, sound) if a.radius > 0])) if cert else 0.0
        s["seconds"] = round(time.time() - tv, 1)
        block["variants"][name] = s
        shown = [i for i, a in enumerate(audits) if a.flipped]
        if cert:
            worst = min((i for i, a in enumerate(audits) if a.radius > 0), key=lambda i: audits[i].share)
            shown = sorted(set(shown[:4]) | {worst})
        for i in shown:
            points[f"{vi}__{i}"] = audits[i].x_adv[0].numpy().astype(np.float16)
        print(f"{name}: certified {s['certified']}/{len(audits)}, flips {s['flips']} {s['flips_ci95']}, "
              f"violations {s['violations']}, min share {s['min_share']:.3f} ({s['seconds']} s)", flush=True)
    block["variant_order"] = list(variants)
    block["seconds"] = round(time.time() - t0, 1)
    block["threads"] = torch.get_num_threads()
    block["command"] = "OMP_NUM_THREADS=1 .venv/bin/python tools/audit_certificates.py " + " ".join(sys.argv[1:])
    _save(key, block, points)


def hard_sequences(net: nn.Module, seq: torch.Tensor, n: int, draws: int = 64, seed: int = 12345) -> list[int]:
    """The ``n`` sequences whose independent-noise mean vote is least lopsided (top share above ½,
    from ``draws`` votes with their own seed, not reused by the certification): where a radius is
    set by the classifier rather than by the ceiling R_max, so an inflated one could show."""
    clf = all_variants(net)["independent noise, mean"]
    gen = torch.Generator().manual_seed(seed)
    share = []
    for i in range(seq.shape[0]):
        counts, _ = sample_counts(clf.scores, clf.lift(seq[i:i + 1]).contiguous(), clf.sigma, draws, batch_size=draws,
                                  gen=gen)
        share.append(float(counts.max()) / draws)
    order = sorted((s, i) for i, s in enumerate(share) if s > 0.55)
    return sorted(i for _, i in order[:n])


def part_sequences(args: argparse.Namespace, settings: AuditSettings) -> None:
    seq, y = load_test_sequences()
    net = load_sequence_net()
    if args.select == "hard":
        idx, key = hard_sequences(net, seq, args.n), "sequences_hard"
    else:
        per = max(1, args.n // 10)
        idx, key = [int(i) for c in range(10) for i in torch.nonzero(y == c).flatten()[:per]][: args.n], "sequences"
    _audit_sequences(all_variants(net), seq[idx], [int(y[i]) for i in idx], idx, settings, args.n0, args.n_cert,
                     args.alpha, args.seed, key)


class LinearSeq(nn.Module):
    """Two-class ±k·(mean over frames of u·frame − b) with u = ½ on 2×2 frames (‖u‖ = 1), k small."""

    def __init__(self, b: float = 1.0, k: float = 0.05) -> None:
        super().__init__()
        self.b, self.k = b, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        s = self.k * ((0.5 * x.flatten(2)).sum(2).mean(1) - self.b)
        return torch.stack([s, -s], 1)


class SoundRadius:
    """An independent-noise variant whose certificate is audited at its sound radius R/√m."""

    def __init__(self, clf: SmoothedSequenceClassifier) -> None:
        self.clf, self.sigma, self.scores, self.lift = clf, clf.sigma, clf.scores, clf.lift

    def certify(self, x: torch.Tensor, **kw):  # noqa: D102
        c = self.clf.certify(x, **kw)
        return dataclasses.replace(c, radius=c.sound_radius)


def part_toy(args: argparse.Namespace, settings: AuditSettings) -> None:
    model = LinearSeq()
    xs = torch.full((args.toy_n, 16, 1, 2, 2), 0.5)
    offs = torch.linspace(0.02, 0.10, args.toy_n)  # u·frame − b per input: near the boundary to farther
    xs[:, :, :, 0, 0] += offs.view(-1, 1, 1)
    variants = {c.name: c for c in (SmoothedSequenceClassifier(model, v, r, sigma=SIGMA) for v in ("independent", "one_draw")
                                   for r in ("max", "mean"))}
    variants["plain smoothing"] = SmoothedSequenceClassifier(model, "plain", sigma=SIGMA)
    for r in ("max", "mean"):
        variants[f"independent noise, {r}, at R/√m"] = SoundRadius(variants[f"independent noise, {r}"])
    _audit_sequences(variants, xs, [0] * args.toy_n, list(range(args.toy_n)), settings, args.n0, 4000, args.alpha,
                     args.seed, "toy_linear")


def part_images(args: argparse.Namespace, settings: AuditSettings) -> None:
    # imported here: only this part needs the ImageNet model and the photos
    from core.defenses import RandomizedSmoothing, SmoothReduce
    from core.data.images import load_sample, prepare_for_model, to_tensor
    from core.models.registry import get_spec, load_model
    model = load_model("EfficientNet-Lite0")
    spec = get_spec("EfficientNet-Lite0")
    names = args.photos.split(",")
    t_all = time.time()
    block = {"model": "EfficientNet-Lite0", "photos": names, "audit": _settings_dict(settings), "methods": {}}
    methods = {"Randomized smoothing": RandomizedSmoothing(model, sigma=args.img_sigma, n0=8, n=args.img_n,
                                                           alpha=args.alpha),
               "Smooth-Reduce (mean)": SmoothReduce(model, sigma=args.img_sigma, n0=8, n=args.img_n, alpha=args.alpha)}
    for mi, (name, d) in enumerate(methods.items()):
        clf = ImageSmoothed(d)
        mset = dataclasses.replace(settings, batch_size=d.batch_size)  # the defense's own batch keeps passes in limits
        audits = []
        t0 = time.time()
        for i, nm in enumerate(names):
            x = to_tensor(prepare_for_model(load_sample(nm), spec)).to(next(model.parameters()).device)
            out = d.defend(x, seed=args.seed + i)
            cert = out.certificate
            audits.append(audit_input(clf, x, int(cert.predicted[0]), float(cert.radius[0]),
                                      float(cert.details["p_lower"][0]), mset, seed=args.seed + 100 * mi + i))
        s = summarize(name, audits).as_dict()
        s["params"] = d.params()
        s["seconds"] = round(time.time() - t0, 1)
        block["methods"][name] = s
        print(f"{name}: certified {s['certified']}/{len(audits)}, flips {s['flips']}, min share {s['min_share']:.3f}",
              flush=True)
    block["seconds"] = round(time.time() - t_all, 1)
    block["command"] = "OMP_NUM_THREADS=1 .venv/bin/python tools/audit_certificates.py " + " ".join(sys.argv[1:])
    _save("images", block)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["sequences", "toy", "images"], required=True)
    ap.add_argument("--n", type=int, default=20, help="shipped sequences audited (spread over the classes)")
    ap.add_argument("--select", choices=["spread", "hard"], default="spread",
                    help="spread: the first n/10 of each class; hard: the n least lopsided votes (key sequences_hard)")
    ap.add_argument("--n0", type=int, default=N0)
    ap.add_argument("--n-cert", type=int, default=N)
    ap.add_argument("--alpha", type=float, default=ALPHA)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--eot", type=int, default=16)
    ap.add_argument("--confirm", type=int, default=2000)
    ap.add_argument("--screen", type=int, default=256)
    ap.add_argument("--toy-n", type=int, default=10)
    ap.add_argument("--photos", default="chelsea,coffee,rocket")
    ap.add_argument("--img-sigma", type=float, default=0.12)
    ap.add_argument("--img-n", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = AuditSettings(steps=args.steps, eot=args.eot, confirm_n=args.confirm, screen_n=args.screen,
                             batch_size=256)
    {"sequences": part_sequences, "toy": part_toy, "images": part_images}[args.part](args, settings)


if __name__ == "__main__":
    main()
