"""Per-image evaluations that some zoo claims are judged on, added to the models' existing per-image
files (``assets/zoo/<name>.per_image.npz``, core/evaluation/per_image.py) without recomputing the
rest (issue 35: "the claim's own metric").

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/per_image_claims.py --transfer fmnist-ntk-kernel
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/per_image_claims.py --push-in fmnist-cost-sensitive fmnist-pgd-at

* ``--transfer NAME``: the kernel-distilled claim (Tsilivis et al.) is that the kernel's white-box
  robustness is largely illusory because examples crafted on another model fool it. For each surrogate
  in ``SURROGATES`` (PGD-AT, the standard CNN, the CNN trained on the same distilled support set), the
  card's PGD-20 at ε = 0.1 is crafted on the surrogate (true labels, the card's seeds and batches, on the
  images the target classifies correctly) and the target is evaluated on those examples:
  ``transfer_<surrogate>`` per image, and ``transfer_any`` (robust to all of them). Paired against the
  target's own white-box PGD-20 (``pgd20``) on the same images.
* ``--push-in NAME...``: the cost-sensitive claim protects Coat and Shirt; whether it does so by moving
  the boundary towards them shows as other classes' images ending in a protected class. The card's
  PGD-20 at ε = 0.1 (same seeds, so the counts reproduce ``pgd20``) is re-run recording the final
  class: ``pgd20_not_into_protected`` is True where an image's final prediction (after the attack, or
  clean where it was already wrong) is *not* a protected class; the Claims row reads it on the other
  classes' images.

* ``--worst-case NAME...``: the cards' 1,000-image worst case (tools/ensemble_zoo.py: APGD-CE, APGD-T,
  Square at ε = 0.1, seed 0), re-run to keep its per-image outcome: ``worst_case`` (robust), its
  ``found_by`` (the attack that fooled each image first) and ``worst_case__adv_class`` (the class each image
  ends in). The card's quoted view (CIFS: through its mask). When the re-run's robust count differs from the
  card's (float order on another machine), the per-image block says so and the card's number is kept; the
  claims then use the re-run.

Each run writes the arrays into the per-image file and lists them in the card's ``per_image`` block with
this command.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import zoo_common  # noqa: E402
from core.data.fashion_mnist import load_test_subset, to_float  # noqa: E402
from core.evaluation.per_image import PerImage, path_for  # noqa: E402
from core.evaluation.zoo.cards import EVAL_EPS, METRICS, attacked_pred, card_attacks, predict  # noqa: E402
from core.evaluation.zoo.per_class import PROTECTED  # noqa: E402
from core.models.zoo.catalogue import get_entry, load_zoo_model  # noqa: E402

SURROGATES = ("fmnist-pgd-at", "fmnist-standard", "fmnist-ntk-cnn")
PGD_SEED = 1000 * METRICS.index("pgd20")  # the cards' seed for PGD-20


def _short(name: str) -> str:
    return name.removeprefix("fmnist-").replace("-", "_")


def _record(name: str, per: PerImage, added: dict[str, str], seconds: float, command: str) -> None:
    entry = get_entry(name)
    path = per.save(path_for(entry.card_path))
    card = zoo_common.read_card(name)
    block = card.setdefault("per_image", {"file": str(path.relative_to(ROOT)), "format_version": 1, "n": per.n})
    block.setdefault("evaluations", {}).update(added)
    block.setdefault("counts", {}).update({k: int(per.correct[k].sum()) for k in added})
    block.setdefault("claim_evaluations", {}).update({k: {"command": command, "seconds": seconds} for k in added})
    zoo_common.write_card(name, card)


def _inputs(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module, PerImage]:
    """The shipped subset (float images, labels), the zoo model and its per-image file."""
    x8, y, _ = load_test_subset()
    return to_float(x8), y.long(), load_zoo_model(name), PerImage.load(path_for(get_entry(name).card_path))


def transfer(name: str, command: str) -> None:
    x, y, target, per = _inputs(name)
    t0 = time.perf_counter()
    clean = predict(target, x) == y
    attack = card_attacks(EVAL_EPS)["pgd20"]
    any_ok = clean.clone()
    added = {}
    for src in SURROGATES:
        _, final = attacked_pred(target, x, y, attack, seed=PGD_SEED, clean_correct=clean,
                                 craft_on=load_zoo_model(src))
        ok = clean & (final == y)
        key = f"transfer_{_short(src)}"
        per.add(key, ok.numpy())
        any_ok &= ok
        added[key] = f"PGD-20 at ε = {EVAL_EPS} crafted on {src} (the card's seeds), evaluated on {name}"
        print(f"{name}: {key} {int(ok.sum())}/{len(y)} (white-box PGD-20 {int(per.correct['pgd20'].sum())})",
              flush=True)
    per.add("transfer_any", any_ok.numpy())
    added["transfer_any"] = "robust to the transfer examples of every surrogate: " + ", ".join(SURROGATES)
    print(f"{name}: transfer_any {int(any_ok.sum())}/{len(y)}", flush=True)
    _record(name, per, added, round(time.perf_counter() - t0, 1), command)


def push_in(name: str, command: str) -> None:
    x, y, model, per = _inputs(name)
    t0 = time.perf_counter()
    clean, final = attacked_pred(model, x, y, card_attacks(EVAL_EPS)["pgd20"], seed=PGD_SEED)
    robust = (clean & (final == y)).numpy()
    if not np.array_equal(robust, per.correct["pgd20"]):  # the re-run must be the card's PGD-20
        raise SystemExit(f"{name}: the PGD-20 re-run differs from the per-image file on "
                         f"{int((robust != per.correct['pgd20']).sum())} images")
    outside = ~np.isin(final.numpy(), PROTECTED)
    per.add("pgd20_not_into_protected", outside)
    other = ~np.isin(y.numpy(), PROTECTED)
    print(f"{name}: other classes' images ending in {PROTECTED}: {int((~outside & other).sum())}/{int(other.sum())}",
          flush=True)
    _record(name, per, {"pgd20_not_into_protected": f"final class (after PGD-20 at ε = {EVAL_EPS}, or clean where "
                                                    f"already wrong) outside the protected classes {PROTECTED}"},
            round(time.perf_counter() - t0, 1), command)


def worst_case_per_image(name: str, command: str) -> None:
    import ensemble_zoo  # noqa: PLC0415 (a tool's helper, imported only for this mode)

    per = PerImage.load(path_for(get_entry(name).card_path))
    card = zoo_common.read_card(name)
    wc = card.get("worst_case") or {}
    res = ensemble_zoo.evaluate_one(name, per.n, 0, seed=wc.get("seed", 0))
    view = wc.get("quoted_view", "as_shipped")
    r = res[view]
    robust = np.asarray(r["robust_per_image"], dtype=bool)
    per.add("worst_case", robust, r["found_by"])
    per.values["worst_case__adv_class"] = np.asarray(r["adv_pred_per_image"], dtype=np.float32)
    per.__post_init__()
    card_robust = (wc.get(view) or {}).get("robust")
    same = int(robust.sum()) == card_robust
    note = (f"the cards' worst case ({ensemble_zoo._attacks_text(r)}), view {view}, re-run: {int(robust.sum())} robust"
            + ("" if same else f" (the card's run: {card_robust}; float order differs between machines)"))
    _record(name, per, {"worst_case": note}, r["seconds"], command)
    print(f"{name}: worst case re-run {int(robust.sum())}/{per.n}, card {card_robust}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transfer", nargs="*", default=[])
    ap.add_argument("--push-in", nargs="*", default=[])
    ap.add_argument("--worst-case", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "tools/per_image_claims.py " + " ".join(sys.argv[1:] if argv is None else argv)
    for name in a.transfer:
        transfer(name, command)
    for name in a.push_in:
        push_in(name, command)
    for name in a.worst_case:
        worst_case_per_image(name, command)


if __name__ == "__main__":
    main()
