"""What the zoo's tools share: a progress bar, reading and writing model cards (every accuracy with its
exact 95 % interval), the training data and one model's training, and one model's card evaluation.

Imported by tools/train_zoo.py, tools/seed_zoo.py, tools/ensemble_zoo.py, tools/evaluate_zoo.py and
tools/per_class_zoo.py; it imports none of them (so the tools have no import circle).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.data import fashion_mnist as zdata  # noqa: E402
from core.judging.stats import accuracy_interval  # noqa: E402
from core.evaluation.zoo.cards import METRICS, card_evaluation  # noqa: E402
from core.models.zoo.catalogue import build, get_entry, load_zoo_model  # noqa: E402
from core.train.common import TrainConfig, fit  # noqa: E402
from core.train.recipes import recipe_class  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None


class Bar:
    """A progress bar (tqdm, or a line every 10 %) usable as a core ProgressFn."""

    def __init__(self, desc: str) -> None:
        self.desc, self.bar, self.last = desc, None, -1

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if tqdm is not None:
            if self.bar is None or self.bar.total != total:
                if self.bar is not None:
                    self.bar.close()
                self.bar = tqdm(total=total, desc=self.desc, file=sys.stdout, mininterval=5, ascii=True)
            self.bar.n = done
            self.bar.set_postfix_str(message, refresh=False)
            self.bar.refresh()
        else:
            tenth = int(10 * done / max(total, 1))
            if tenth != self.last:
                self.last = tenth
                print(f"{self.desc}: {done}/{total} {message}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def read_card(name: str) -> dict:
    p = get_entry(name).card_path
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def add_intervals(block):
    """Every accuracy in a card block (a dict with an integer ``correct`` or ``robust`` and ``n``)
    gets its exact 95 % interval ``ci95`` (core/judging/stats.py), recursively; returns the block."""
    if isinstance(block, list):
        for v in block:
            add_intervals(v)
    elif isinstance(block, dict):
        k = block.get("correct", block.get("robust"))
        n = block.get("n")
        if isinstance(k, int) and isinstance(n, int) and not isinstance(k, bool) and 0 <= k <= n:
            block["ci95"] = accuracy_interval(k, n).as_list()
        for v in block.values():
            if isinstance(v, (dict, list)):
                add_intervals(v)
    return block


def write_card(name: str, card: dict) -> None:
    """Write a card; every accuracy in it carries its n and its 95 % interval."""
    p = get_entry(name).card_path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(add_intervals(card), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def training_data(cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared budget's training images for ``cfg.seed``: (float images, labels, indices)."""
    x_all, y_all = zdata.load_fashion_mnist("train")
    idx = zdata.stratified_indices(y_all, cfg.train_images // 10, seed=cfg.seed)
    return zdata.to_float(x_all[idx]), y_all[idx], idx


def train_model(name: str, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                trained: dict[str, torch.nn.Module] | None = None):
    """Train zoo model ``name`` from scratch with ``cfg`` (its seed fixes the initialisation, the shuffling
    and the recipe's randomness): (model, recipe, TrainLog, seconds). A teacher comes from ``trained`` or
    the shipped weights."""
    entry = get_entry(name)
    teacher = None
    if entry.teacher:
        teacher = (trained or {}).get(entry.teacher) or load_zoo_model(entry.teacher)
    torch.manual_seed(cfg.seed)
    model = build(name)
    make_recipe = recipe_class(entry)
    recipe = make_recipe(teacher=teacher) if entry.teacher else make_recipe()
    bar = Bar(f"train {name} (seed {cfg.seed})")
    t0 = time.perf_counter()
    own_loop = getattr(recipe, "train_model", None)  # a recipe with its own loop (kernel distillation, issue 22)
    log = own_loop(model, x, y, cfg, progress=bar) if own_loop else fit(model, recipe, x, y, cfg, progress=bar)
    bar.close()
    return model, recipe, log, time.perf_counter() - t0


def evaluation_for(name: str, full: bool = True, subset: bool = True, batch_size: int = 500,
                   full_metrics: tuple[str, ...] = METRICS, curve: bool = True,
                   subset_metrics: tuple[str, ...] = METRICS) -> dict:
    """The card's evaluation block for one model (full test set — the metrics ``full_metrics`` — and/or
    shipped subset)."""
    model = load_zoo_model(name)
    full_data = subset_data = None
    if full:
        x, y = zdata.load_fashion_mnist("test")
        full_data = (zdata.to_float(x), y)
    if subset:
        x, y, _ = zdata.load_test_subset()
        subset_data = (zdata.to_float(x), y)
    bar = Bar(f"eval {name}")
    ev = card_evaluation(model, full_data, subset_data, batch_size=batch_size, progress=lambda m, d, t: bar(d, t, m),
                         full_metrics=full_metrics, curve=curve, subset_metrics=subset_metrics)
    bar.close()
    return ev
