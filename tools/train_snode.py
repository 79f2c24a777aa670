"""Train and evaluate the sNODE zoo models (Jaroudi et al., arXiv 2205.13933): the sNODE trained by
Sobolev NCG, the same network trained by plain Adam (control) and the ResNet analog (cross-entropy,
Adam). Two steps, so the slow training and the evaluation can be rerun separately:

    python tools/train_snode.py train --images 16000 --epochs 1 --out /tmp/snode_full
    python tools/train_snode.py evaluate --full /tmp/snode_full
    python tools/train_snode.py audit --full /tmp/snode_full     # python -m core audit --n 20, into the cards
    python tools/train_snode.py claim                            # the claim block, from the per-image files
    python tools/train_snode.py seed --seed 1 --only fmnist-snode  # another seed: clean + DeepFool, into the card

``train`` writes the full per-step weights (23 MB per sNODE, not shipped) and the training logs to
``--out``. ``evaluate`` projects each sNODE onto its zoo entry's time modes (see
:mod:`core.models.zoo.snode`), writes ``assets/zoo/<name>.pt``, reloads it through the zoo and
evaluates the *shipped* model on the 1,000-image subset: clean accuracy, the paper's sensitivity
DeepFool (smallest successful L2 per image), the project's L2 worst case, Gaussian noise, the
audit; then the cards, the per-image files and the claim block (paired Wilcoxon signed-rank on the
per-image smallest norms).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attacks.sensitivity_deepfool import DeepFoolConfig, sensitivity_deepfool  # noqa: E402
from core.evaluation.ensemble import EnsembleConfig, worst_case  # noqa: E402
from core.models.zoo.snode import (SNODEClassifier, SNODENet, build_resnet_analog, init_resnet_,  # noqa: E402
                               init_snode_)
from core.models.zoo.catalogue import ZOO_DIR, build, get_entry, load_zoo_model  # noqa: E402
from core.judging.stats import accuracy_interval  # noqa: E402
from core.data.fashion_mnist import load_test_subset, to_float  # noqa: E402
from core.evaluation.zoo.cards import card_evaluation, noise_accuracy  # noqa: E402
from core.train.recipes import recipe_class  # noqa: E402
from core.train.snode import SNODETrainConfig, train_adam, train_ncg, training_states  # noqa: E402
from tools.ensemble_zoo import audit_block  # noqa: E402

NCG, ADAM, RESNET = "fmnist-snode", "fmnist-snode-adam", "fmnist-snode-resnet"
NAMES = (NCG, ADAM, RESNET)
L2_EPS = 1.0  # the L2 budget of the worst case and of deepfool_l2__correct, 28×28 [0, 1] space
SEEDS = {"train": 0, "ensemble": 0, "attack": 0, "audit": 0}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cmd_train(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = SNODETrainConfig(images=args.images, epochs=args.epochs, seed=args.seed)
    x, y = training_states(cfg.images, cfg.seed)
    which = args.only or list(NAMES)
    for name in which:
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        if name == RESNET:
            net = build_resnet_analog(name).net
            init_resnet_(net, gen)
            log = train_adam(net, x, y, cfg, loss="ce", progress=_log)
        else:
            net = SNODENet()
            init_snode_(net, gen)
            log = train_ncg(net, x, y, cfg, progress=_log) if name == NCG else train_adam(net, x, y, cfg, "l2",
                                                                                             progress=_log)
        torch.save({"W": net.coef_w.detach().clone(), "b": net.coef_b.detach().clone()}, out / f"{name}.full.pt")
        meta = {"train_config": cfg.as_dict(), "log": {"seconds": log.seconds, "batches": log.batches,
                "epoch_train_accuracy": log.epoch_train_accuracy,
                "batch_loss_first_last": [log.batch_loss[:5], log.batch_loss[-5:]]},
                "command": "python " + " ".join(sys.argv), "threads": torch.get_num_threads(),
                "torch": torch.__version__, "machine": platform.machine(), "date": date.today().isoformat()}
        (out / f"{name}.train.json").write_text(json.dumps(meta, indent=1))
        _log(f"{name}: trained in {log.seconds} s; train acc per epoch {log.epoch_train_accuracy}")


def median_interval(values: np.ndarray, level: float = 0.95) -> dict:
    """Median with its distribution-free interval from order statistics: [X_(k), X_(n−k+1)] with the
    largest k such that P(Bin(n, ½) ≤ k − 1) ≤ (1 − level)/2 (coverage ≥ level)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = len(v)
    if n == 0:
        return {"median": None, "interval95": None, "n": 0}
    k = int(sps.binom.ppf((1 - level) / 2, n, 0.5))
    k = max(k, 1)
    return {"median": float(np.median(v)), "interval95": [float(v[k - 1]), float(v[n - k])], "n": n,
            "order_statistics": [k, n - k + 1]}


def _finite(v: np.ndarray, cap: float) -> np.ndarray:
    """∞ (no success within the search) -> ``cap`` (larger than every finite value) for rank tests."""
    return np.where(np.isfinite(v), v, cap)


def _interval(k: int, n: int) -> dict:
    iv = accuracy_interval(k, n)
    return {"accuracy": round(k / n, 4), "correct": int(k), "n": int(n), "ci95": [round(iv.lo, 4), round(iv.hi, 4)]}


def _shipped_net(name: str, full_dir: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the zoo model built from the shipped file, the full per-step network) after writing the
    shipped weights (the full weights projected onto the entry's time modes)."""
    full = torch.load(full_dir / f"{name}.full.pt", map_location="cpu", weights_only=True)
    model = build(name)
    model.net.project(full["W"], full["b"])
    torch.save(model.state_dict(), get_entry(name).weights_path)
    shipped = load_zoo_model(name)
    full_model = SNODEClassifier(SNODENet(model.net.steps, model.net.end_time), name=name + " (full)")
    full_model.net.project(full["W"], full["b"])
    return shipped.eval(), full_model.eval()


def _predict(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + 250]).argmax(1) for i in range(0, len(x), 250)])


def cmd_evaluate(args: argparse.Namespace) -> None:
    full_dir = Path(args.full)
    xs, ys, _ = load_test_subset()
    x, y = to_float(xs)[:args.n], ys[:args.n].long()
    for name in args.only or list(NAMES):
        entry = get_entry(name)
        t0 = time.perf_counter()
        meta = json.loads((full_dir / f"{name}.train.json").read_text())
        model, full_model = _shipped_net(name, full_dir)
        pred, pred_full = _predict(model, x), _predict(full_model, x)
        clean_ok = pred == y
        _log(f"{name}: clean {float(clean_ok.float().mean()):.3f} (full per-step weights "
             f"{float((pred_full == y).float().mean()):.3f}, agreement {float((pred == pred_full).float().mean()):.3f})")
        ev = card_evaluation(model, None, (x, y), subset_metrics=("clean", "fgsm"), curve=False)
        ev["full_test_skipped"] = ("not run: only the 1,000 shipped subset images; the full 10,000-image test set was "
                                   "too slow for the 150-step sNODEs on the project's CPU")
        # the paper's attack
        t1 = time.perf_counter()
        df = sensitivity_deepfool(model.net, x, y, DeepFoolConfig(), seed=SEEDS["attack"], classifier=model)
        df_s = time.perf_counter() - t1
        lifted_ok = bool(((df.adv_pred != y) | ~torch.isfinite(df.min_norm_pixels) | ~df.clean_correct).all())
        min_pix = df.min_norm_pixels.numpy().astype(np.float32)
        min_paper = df.min_norm_paper.numpy().astype(np.float32)
        df_correct = clean_ok.numpy() & ~(min_pix <= L2_EPS)
        _log(f"{name}: sensitivity DeepFool {df_s:.0f} s; success {int(np.isfinite(min_pix).sum() - (~clean_ok).sum())}"
             f" of {int(clean_ok.sum())}; median (all images) {np.median(min_pix):.3f}")
        # the project's L2 worst case
        t1 = time.perf_counter()
        wc_cfg = EnsembleConfig(norm="l2", eps=L2_EPS, square_queries=args.square_queries)
        wc = worst_case(model, x, y, wc_cfg, seed=SEEDS["ensemble"], batch_size=250)
        wc_s = time.perf_counter() - t1
        _log(f"{name}: L2 worst case at {L2_EPS}: {wc.robust_accuracy:.3f} ({wc_s:.0f} s)")
        noise = noise_accuracy(model, x, y)
        npz = ZOO_DIR / f"{name}.per_image.npz"
        np.savez_compressed(
            npz, format_version=np.int32(1), image_index=np.arange(len(y), dtype=np.int32),
            labels=y.numpy().astype(np.int64), clean__correct=clean_ok.numpy(),
            deepfool_l2__correct=df_correct, min_norm_l2=min_pix, min_norm_l2_paper=min_paper,
            worst_case_l2__correct=wc.robust.numpy(), worst_case_l2__found_by=np.array(wc.found_by, dtype="<U16"),
            **{f"noise_{p['sigma']}__correct": _noise_correct(model, x, y, p["sigma"]) for p in noise})
        total = round(time.perf_counter() - t0, 1)
        w = entry.arch
        card = {
            "name": name, "title": entry.title, "paper": entry.paper, "recipe": entry.recipe, "about": entry.about,
            "architecture": {"family": entry.family, "family_title": entry.arch_family.title,
                             "defined_in": entry.arch_family.module, **model.net.config,
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "parameters_per_step_network": int(model.net.steps * 196 * 197),
                             "input": "[0, 1], (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey; 2×2 average "
                                      "pooling to 14×14 and x = −pooled inside (background 0, foreground −1)",
                             **({"shipped_weights": f"the trained per-step weights projected onto {w['modes']} "
                                 "cosine modes in time (file-size limit); every number below is of the shipped model",
                                 "full_weights_clean_accuracy": _interval(int((pred_full == y).sum()), len(y)),
                                 "agreement_shipped_vs_full": round(float((pred == pred_full).float().mean()), 4)}
                                if "modes" in w else {})},
            "recipe_params": recipe_class(entry)().params(),
            "teacher": None,
            "train_config": {**meta["train_config"], "threads": meta["threads"]},
            "train_config_note": ("own budget (tools/train_snode.py), not the zoo's shared TrainConfig: the paper's "
                                  "batch 100 and 6 iterations per batch; 60,000 images × 10 epochs scaled down to "
                                  f"{meta['train_config']['images']:,} class-balanced images × "
                                  f"{meta['train_config']['epochs']} epoch(s) for the 2-core CPU shared by several jobs"),
            "training": {**meta["log"], "threads": meta["threads"], "torch": meta["torch"], "machine": meta["machine"],
                         "date": meta["date"], "command": meta["command"],
                         "data": f"{meta['train_config']['images']} Fashion-MNIST training images (class-balanced, "
                                 "seed 0), Debian dataset-fashion-mnist"},
            "weights": f"assets/zoo/{name}.pt",
            "licence": "MIT (trained by this project on Fashion-MNIST, © Zalando SE, MIT)",
            "evaluation": ev,
            "sensitivity_deepfool": {
                "attack": "the paper's sensitivity DeepFool (core/attacks/sensitivity_deepfool.py): κ = 0.975, step "
                          "0.03 in the 14×14 state space, 30 iterations, clip to the valid range, untargeted",
                "metric": "smallest successful ‖δ‖₂ per image over the 30 iterates; ∞ none; 0 clean prediction wrong",
                "space": "min_norm_l2: 28×28 [0, 1] pixels (the adversarial state lifted to the nearest image, "
                         "≥ 2× the paper-space norm); min_norm_l2_paper: the paper's 14×14 state space",
                "n": len(y), "clean_correct": int(clean_ok.sum()),
                "succeeded": int((np.isfinite(min_pix) & clean_ok.numpy()).sum()),
                "median_min_norm_l2": median_interval(min_pix),
                "median_min_norm_l2_paper": median_interval(min_paper),
                "median_min_norm_l2_clean_correct_only": median_interval(min_pix[clean_ok.numpy()]),
                "budget_l2": L2_EPS, "deepfool_l2_correct_at_budget": _interval(int(df_correct.sum()), len(y)),
                "lifted_images_fool_the_zoo_model": lifted_ok, "seconds": round(df_s, 1), "seed": SEEDS["attack"],
            },
            "worst_case_l2": {**{k: v for k, v in wc.summary().items() if k != "config"},
                              "config": wc.summary()["config"], "eps": L2_EPS, "norm": "l2",
                              "ci95": _interval(int(wc.robust.sum()), len(y))["ci95"], "quoted_view": "as_shipped",
                              "as_shipped": {**{k: v for k, v in wc.summary().items() if k != "config"},
                                             "ci95": _interval(int(wc.robust.sum()), len(y))["ci95"]},
                              "data": f"first {len(y)} images of the shipped test subset",
                              "attacks": f"APGD-CE (50 it.), APGD-T (3 targets, 50 it.), Square ({args.square_queries}"
                                         " queries), L2, core/evaluation/ensemble.py",
                              "note": "kept out of the card's 'worst_case' key (the L∞ block the Claims page reads) "
                                      "until the Claims page has a rule for L2 minimum-norm claims"},
            "per_image": f"assets/zoo/{npz.name}",
            "family": entry.family, "claim": entry.claim, "here": entry.here,
            "evaluation_command": "python " + " ".join(sys.argv), "evaluation_seconds": total,
        }
        old = json.loads(entry.card_path.read_text()) if entry.card_path.exists() else {}
        for keep in ("audit", "claim_block"):
            if keep in old:
                card[keep] = old[keep]
        entry.card_path.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
        _log(f"{name}: card written ({total} s)")


def _noise_correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float) -> np.ndarray:
    """Per image, as :func:`core.evaluation.zoo.cards.noise_accuracy` draws it (same seed, same noise)."""
    gen = torch.Generator().manual_seed(77 + int(round(1000 * float(sigma))))
    noise = torch.randn(x.shape, generator=gen) * float(sigma)
    return (_predict(model, (x + noise).clamp(0, 1)) == y).numpy()


def cmd_audit(args: argparse.Namespace) -> None:
    out = Path(args.full) / "audits"
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(NAMES):
        cmd = [sys.executable, "-m", "core", "audit", "--model", name, "--n", str(args.n_audit),
               "--out", str(out / f"{name}.json"), "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
        secs = round(time.perf_counter() - t0, 1)
        a = json.loads((out / f"{name}.json").read_text())
        entry = get_entry(name)
        # the card may not be written yet (evaluate runs beside); evaluate keeps an audit block it finds
        card = json.loads(entry.card_path.read_text()) if entry.card_path.exists() else {"name": name}
        card["audit"] = {**audit_block(a), "command": f"python -m core audit --model {name} --n {args.n_audit} "
                         f"--out {out / (name + '.json')} --quiet", "seconds": secs, "threads": 1}
        entry.card_path.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
        _log(f"{name}: audit flagged={a['flagged']} {a['flags']} ({secs} s)")


def cmd_claim(args: argparse.Namespace) -> None:
    """The claim block of every card: the claimed model (NCG sNODE) against its controls, paired per image."""
    data = {n: np.load(ZOO_DIR / f"{n}.per_image.npz", allow_pickle=False) for n in NAMES}
    cap = 1e6
    claimed = data[NCG]
    block = {"claim": "more robust and accurate than ResNets (Jaroudi et al., arXiv 2205.13933)",
             "claimed_model": NCG, "controls": [RESNET, ADAM],
             "metrics": {"clean_accuracy": {}, "min_norm_l2_median": {}, "paired_wilcoxon": {}},
             "per_image_files": {n: f"assets/zoo/{n}.per_image.npz" for n in NAMES},
             "per_image_metric": "min_norm_l2: smallest successful L2 of the sensitivity DeepFool per image, 28×28 "
                                 "[0, 1] pixels (0 where the clean prediction is wrong, ∞ where 30 iterations found "
                                 "none: ranked above every finite value)",
             "test": "scipy.stats.wilcoxon (two-sided, zero differences dropped) on claimed − control per image"}
    for n in NAMES:
        d = data[n]
        block["metrics"]["clean_accuracy"][n] = _interval(int(d["clean__correct"].sum()), len(d["labels"]))
        block["metrics"]["min_norm_l2_median"][n] = median_interval(d["min_norm_l2"])
    for c in (RESNET, ADAM):
        a, b = _finite(claimed["min_norm_l2"], cap), _finite(data[c]["min_norm_l2"], cap)
        both = claimed["clean__correct"] & data[c]["clean__correct"]
        r_all = sps.wilcoxon(a, b)
        r_both = sps.wilcoxon(a[both], b[both])
        note = {"p_note": "0.0 means below the smallest double (scipy returns 0.0)"} \
            if r_all.pvalue == 0.0 or r_both.pvalue == 0.0 else {}
        block["metrics"]["paired_wilcoxon"][f"{NCG} vs {c}"] = {**note,
            "all_images": {"n": int(len(a)), "statistic": float(r_all.statistic), "p": float(r_all.pvalue),
                           "claimed_larger": int((a > b).sum()), "control_larger": int((a < b).sum()),
                           "ties": int((a == b).sum())},
            "both_clean_correct": {"n": int(both.sum()), "statistic": float(r_both.statistic),
                                   "p": float(r_both.pvalue), "claimed_larger": int((a[both] > b[both]).sum()),
                                   "control_larger": int((a[both] < b[both]).sum()),
                                   "median_claimed": float(np.median(a[both])),
                                   "median_control": float(np.median(b[both]))}}
    block["command"] = "python " + " ".join(sys.argv)
    for n in NAMES:
        p = get_entry(n).card_path
        card = json.loads(p.read_text())
        for metric in card["evaluation"]["subset"].values():  # the 95 % interval beside each accuracy
            metric.update(_interval(metric["correct"], metric["n"]))
        card["claim_block"] = block
        card["claim"], card["here"] = get_entry(n).claim, get_entry(n).here
        p.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(block["metrics"], indent=1))


def cmd_seed(args: argparse.Namespace) -> None:
    """Another training seed (training subset, initialisation and batch order): train, project, and
    measure clean accuracy and the sensitivity DeepFool's median on the subset; stored in the card's
    ``other_seeds`` block (the shipped weights stay those of seed 0)."""
    cfg = SNODETrainConfig(images=args.images, epochs=args.epochs, seed=args.seed)
    x_tr, y_tr = training_states(cfg.images, cfg.seed)
    xs, ys, _ = load_test_subset()
    x, y = to_float(xs), ys.long()
    for name in args.only or [NCG, RESNET]:
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        model = build(name)
        if name == RESNET:
            net = model.net
            init_resnet_(net, gen)
            log = train_adam(net, x_tr, y_tr, cfg, loss="ce", progress=_log)
        else:
            net = SNODENet()
            init_snode_(net, gen)
            log = train_ncg(net, x_tr, y_tr, cfg, progress=_log) if name == NCG else \
                train_adam(net, x_tr, y_tr, cfg, "l2", progress=_log)
            model.net.project(net.coef_w.detach(), net.coef_b.detach())
        model.eval()
        clean_ok = _predict(model, x) == y
        df = sensitivity_deepfool(model.net, x, y, DeepFoolConfig(), seed=SEEDS["attack"], classifier=model)
        res = {"seed": cfg.seed, "train_config": cfg.as_dict(), "train_seconds": log.seconds,
               "clean": _interval(int(clean_ok.sum()), len(y)),
               "median_min_norm_l2": median_interval(df.min_norm_pixels.numpy()),
               "deepfool_l2_correct_at_budget": _interval(int((clean_ok & ~(df.min_norm_pixels <= L2_EPS)).sum()),
                                                          len(y)),
               "seconds": round(time.perf_counter() - t0, 1), "command": "python " + " ".join(sys.argv)}
        p = get_entry(name).card_path
        card = json.loads(p.read_text())
        card.setdefault("other_seeds", {})[str(cfg.seed)] = res
        p.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
        _log(f"{name} seed {cfg.seed}: clean {res['clean']['accuracy']}, median {res['median_min_norm_l2']['median']:.3f}")


def main() -> None:
    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--images", type=int, default=60000)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="/tmp/snode_full")
    t.add_argument("--only", nargs="*", choices=NAMES)
    e = sub.add_parser("evaluate")
    e.add_argument("--full", default="/tmp/snode_full")
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--only", nargs="*", choices=NAMES)
    e.add_argument("--square-queries", type=int, default=200)
    a = sub.add_parser("audit")
    a.add_argument("--full", default="/tmp/snode_full")
    a.add_argument("--n-audit", type=int, default=20)
    a.add_argument("--only", nargs="*", choices=NAMES)
    sub.add_parser("claim")
    sd = sub.add_parser("seed")
    sd.add_argument("--seed", type=int, required=True)
    sd.add_argument("--images", type=int, default=4000)
    sd.add_argument("--epochs", type=int, default=1)
    sd.add_argument("--only", nargs="*", choices=NAMES)
    args = p.parse_args()
    {"train": cmd_train, "evaluate": cmd_evaluate, "audit": cmd_audit, "claim": cmd_claim, "seed": cmd_seed}[args.cmd](args)


if __name__ == "__main__":
    main()
