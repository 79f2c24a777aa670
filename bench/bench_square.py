"""Square Attack (L∞) on EfficientNet-Lite0 at 224 px: cost per query vs the batched-forward floor,
and what it does to the bundled photos at ε = 4/255.

1. Overhead: the seven bundled photos, ε = 0.25/255 (small, so that most photos are not fooled and
   the batch stays near 7; a fooled photo stops querying, which only lowers Square's rate, since
   smaller batches cost more per image), ``--queries`` queries. Prints the
   median over interleaved repeats of
     * floor: ``--queries`` batched forward passes (no gradient) of the same 7 images on the
       engine's fused copy (core/models/fast.py), which is what Square queries;
     * ours: ``core.attacks.Square.perturb`` (one initial query + random search, trajectory included);
   and the ratio (image-queries per second of Square) / (images per second of the floor): the target
   is ≥ 0.9, i.e. Square costs at most ~10 % more than the forward passes it needs.
2. Effect: Square with the app's CPU budget (1,000 queries, p_init = 0.05) at ε = 4/255 on each
   photo, labelled with the model's clean prediction: fooled or not, and the queries it used.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=. .venv/bin/python bench/bench_square.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.attacks import Square, ThreatModel  # noqa: E402
from core.data.image_sets import read_bundled  # noqa: E402
from core.data.images import prepare_for_model, to_tensor  # noqa: E402
from core.models import get_spec, load_model  # noqa: E402
from core.models.fast import fast_view  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--skip-effect", action="store_true")
    args = ap.parse_args()
    name = "EfficientNet-Lite0"
    model = load_model(name)
    spec = get_spec(name)
    imgs = read_bundled(lambda im: to_tensor(prepare_for_model(im, spec)))
    x = torch.cat([t for _, t in imgs.items])
    with torch.no_grad():
        y = model(x).argmax(1)
    fast = fast_view(model)
    print(f"# Square L∞, {name} 224 px, {x.shape[0]} bundled photos, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    sq = Square(ThreatModel(norm="linf", eps=0.25 / 255), n_queries=args.queries)
    t_floor, t_ours, q_ours = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(args.queries):
                fast(x)
        t_floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sq.perturb(model, x, y, seed=0)
        t_ours.append(time.perf_counter() - t0)
        q_ours.append(int(sq.last_queries.sum()))
    floor_rate = x.shape[0] * args.queries / statistics.median(t_floor)
    ours_rate = statistics.median(q_ours) / statistics.median(t_ours)
    print(f"floor: {statistics.median(t_floor):.2f} s for {args.queries} passes of {x.shape[0]} images "
          f"({floor_rate:.1f} images/s)")
    print(f"ours:  {statistics.median(t_ours):.2f} s for {statistics.median(q_ours)} image-queries ({ours_rate:.1f} /s)")
    print(f"ratio ours/floor (queries per second): {ours_rate / floor_rate:.3f}   target ≥ 0.9")
    if args.skip_effect:
        return
    a = Square(ThreatModel(norm="linf", eps=4 / 255), n_queries=args.budget)
    t0 = time.perf_counter()
    r = a.run(model, x, y, seed=0)
    dt = time.perf_counter() - t0
    print(f"\nε = 4/255, {args.budget} queries, p_init = {a.p_init}: fooled {int(r.success.sum())}/{x.shape[0]} "
          f"in {dt:.1f} s")
    names = model.class_names
    for (nm, _), ok, q, c, adv in zip(imgs.items, r.success.tolist(), r.params["queries"], y.tolist(), r.adv_pred.tolist()):
        print(f"  {nm:18s} {'fooled' if ok else 'held  '} after {q:5d} queries: {names[c]} -> {names[adv]}")


if __name__ == "__main__":
    main()
