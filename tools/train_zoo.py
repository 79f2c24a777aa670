"""Retrain the whole Fashion-MNIST model zoo on the CPU, evaluate it, and write the model cards.

Needs the Debian package with the dataset (the app and the tests do not):

    apt-get install -y --no-install-recommends dataset-fashion-mnist
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py            # everything

Phases (``--phase``, default ``all`` = subset, train, evaluate, docs):

* ``subset``   — assets/data/fashion_mnist_test_1000.npz: 100 test images per class (seed 0).
* ``train``    — for each model (``--models``, default all, in zoo order: the standard model
  first, since J-SIGR uses it as its saliency teacher): fixed seed, the shared budget of
  :class:`core.train.common.TrainConfig`, weights to assets/zoo/<name>.pt and the training part
  of assets/zoo/<name>.json.
* ``evaluate`` — clean / FGSM / PGD-20 / APGD-CE accuracy at ε = 0.1 on the full 10k test set
  and on the shipped subset, and PGD-10 accuracy-versus-ε curves on the subset, into the cards
  (the same code as tools/evaluate_zoo.py).
* ``docs``     — docs/models/zoo.md, the table of all cards (and the cards' title/paper/about
  refreshed from core/models/zoo.py).

* ``seeds``    — retrain with other seeds (``--seeds 1 2``) into ``--out DIR`` and evaluate them;
  ``--merge-seeds DIR`` writes the spread into the cards (tools/seed_zoo.py).

Threads: ``--threads`` (default 1, to share a small machine). Deterministic for a given thread
count. Progress bars with tqdm when it is importable, plain lines otherwise.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.train import data as zdata  # noqa: E402
from core.train.common import TrainConfig, fit  # noqa: E402
from core.models.zoo import ZOO, ZOO_BY_NAME, build, get_entry, load_zoo_model  # noqa: E402
from core.models.zoo_net import FMNIST_MEAN, FMNIST_STD  # noqa: E402
from core.train.model_cards import EVAL_EPS, METRICS, card_evaluation  # noqa: E402
from core.train.recipes import recipe_class  # noqa: E402
from core.train import recipe_report  # noqa: E402
from core.stats import accuracy_interval  # noqa: E402

DOC = ROOT / "docs" / "models" / "zoo.md"

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
    gets its exact 95 % interval ``ci95`` (core/stats.py), recursively; returns the block."""
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


def phase_subset() -> None:
    x, y = zdata.load_fashion_mnist("test")
    idx = zdata.stratified_indices(y, 100, seed=0)
    zdata.save_test_subset(x[idx], y[idx], idx)
    print(f"wrote {zdata.SUBSET_PATH} ({zdata.SUBSET_PATH.stat().st_size} bytes)")


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


def variant_card(name: str) -> dict:
    """The card of an entry that loads another entry's weights (``weights_from``: a test-time variant,
    e.g. another ODE solver): nothing is trained; the training record is the source card's, marked so."""
    entry = get_entry(name)
    src = read_card(entry.weights_from)
    if "training" not in src:
        raise SystemExit(f"{name} loads the weights of {entry.weights_from}: train {entry.weights_from} first")
    model = build(name)
    return {"name": name, "title": entry.title, "paper": entry.paper, "recipe": entry.recipe, "about": entry.about,
            "architecture": {"family": entry.family, "family_title": entry.arch_family.title,
                             "defined_in": entry.arch_family.module, **getattr(model.net, "config", {}),
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "input": "[0, 1], (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey",
                             "normalisation": [FMNIST_MEAN, FMNIST_STD]},
            "recipe_params": src["recipe_params"], "teacher": src.get("teacher"), "train_config": src["train_config"],
            "training": {**src["training"], "seconds": 0.0,
                         "not_trained": f"the weights of {entry.weights_from} (trained in "
                                        f"{src['training']['seconds']:.0f} s), evaluated with this entry's architecture"},
            "weights": f"assets/zoo/{entry.weights_from}.pt", "weights_from": entry.weights_from,
            "licence": src.get("licence", "")}


def phase_train(names: list[str], cfg: TrainConfig) -> None:
    x, y, idx = training_data(cfg)
    print(f"training images: {len(idx)} (class-balanced, seed {cfg.seed})", flush=True)
    trained: dict[str, torch.nn.Module] = {}
    for name in names:
        entry = get_entry(name)
        if entry.weights_from:  # a test-time variant of another entry's weights: never trained (issue 21)
            write_card(name, variant_card(name))
            print(f"{name}: not trained, loads {entry.weights_path.name}", flush=True)
            continue
        model, recipe, log, secs = train_model(name, cfg, x, y, trained)
        entry.weights_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), entry.weights_path)
        trained[name] = model
        card = {
            "name": name, "title": entry.title, "paper": entry.paper, "recipe": entry.recipe,
            "about": entry.about,
            "architecture": {"family": entry.family, "family_title": entry.arch_family.title,
                             "defined_in": entry.arch_family.module, **getattr(model.net, "config", {}),
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "input": "[0, 1], (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey",
                             "normalisation": [FMNIST_MEAN, FMNIST_STD]},
            "recipe_params": recipe.params(),
            "teacher": entry.teacher,
            "train_config": cfg.as_dict(),
            "training": {
                "seconds": round(secs, 1), "epoch_loss": [round(v, 4) for v in log.epoch_loss],
                "epoch_train_accuracy": [round(v, 4) for v in log.epoch_train_acc],
                "passes_per_step": recipe.passes_per_step(), "threads": torch.get_num_threads(),
                "torch": torch.__version__, "machine": platform.machine(),
                "date": _dt.date.today().isoformat(),
                "data": f"{len(idx)} Fashion-MNIST training images (class-balanced, seed {cfg.seed}), "
                        "Debian dataset-fashion-mnist",
            },
            "weights": f"assets/zoo/{name}.pt",
            "licence": "MIT (trained by this project on Fashion-MNIST, © Zalando SE, MIT)",
        }
        old = read_card(name)
        if "evaluation" in old:  # stale after retraining
            card["evaluation_stale"] = True
        write_card(name, card)
        print(f"{name}: trained in {secs:.0f} s, last-epoch loss {log.epoch_loss[-1]:.3f}", flush=True)


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


def phase_evaluate(names: list[str], full: bool = True, batch_size: int = 500,
                   full_metrics: tuple[str, ...] = METRICS, curve: bool = True,
                   subset_metrics: tuple[str, ...] = METRICS) -> None:
    for name in names:
        card = read_card(name)
        old = card.get("evaluation", {})
        ev = evaluation_for(name, full=full, batch_size=batch_size, full_metrics=full_metrics, curve=curve,
                            subset_metrics=subset_metrics)
        if set(subset_metrics) != set(METRICS):  # the slowest models: the card says which attacks were left out
            ev["subset_skipped"] = (f"not run (--subset-metrics): {', '.join(m for m in METRICS if m not in subset_metrics)}"
                                    " — too slow for this model on the project's CPU")
        if not full and "full_test" in old:
            ev["full_test"], ev["full_test_seconds"] = old["full_test"], old.get("full_test_seconds")
        if "full_test" not in ev:  # the cards say why a model has only subset numbers
            ev["full_test_skipped"] = ("not run (--subset-only-eval): only the 1,000 shipped subset images; the "
                                       "full 10,000-image test set was too slow for this model on the project's CPU")
        card["evaluation"] = ev
        card.pop("evaluation_stale", None)
        write_card(name, card)
        show = {k: v["accuracy"] for k, v in ev.get("full_test", ev["subset"]).items()}
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in show.items()), flush=True)


def phase_noise(names: list[str]) -> None:
    """Add (or refresh) the Gaussian-noise accuracy on the shipped subset in each card."""
    from core.train.model_cards import noise_block

    x, y, _ = zdata.load_test_subset()
    for name in names:
        card = read_card(name)
        if "evaluation" not in card:
            print(f"{name}: no evaluation block yet; skipped")
            continue
        card["evaluation"]["gaussian_noise_subset"] = noise_block(load_zoo_model(name), zdata.to_float(x), y)
        write_card(name, card)
        pts = card["evaluation"]["gaussian_noise_subset"]["points"]
        print(f"{name}: noise " + ", ".join(f"σ={p['sigma']:g} {p['accuracy']:.3f}" for p in pts), flush=True)


def refresh_descriptions() -> None:
    """Copy the descriptive fields (title, paper, about) from core/models/zoo.py into the cards."""
    for e in ZOO:
        if e.card_path.exists():
            card = read_card(e.name)
            card.update(title=e.title, paper=e.paper, about=e.about, family=e.family, claim=e.claim, here=e.here)
            write_card(e.name, card)


def recipe_sections() -> str:
    """Issue 22's sections of docs/models/zoo.md: per class, push-in, kernel transfer, training time."""
    cards = {e.name: read_card(e.name) for e in ZOO if e.card_path.exists()}
    return recipe_report.sections(cards)


def phase_docs() -> None:
    refresh_descriptions()
    rows, full_rows, noise_rows, seed_rows = [], [], [], []
    for e in ZOO:
        if not e.card_path.exists():
            continue
        c = json.loads(e.card_path.read_text(encoding="utf-8"))
        ev = c.get("evaluation", {})
        full, sub = ev.get("full_test", {}), ev.get("subset", {})

        def pct(d: dict, m: str) -> str:
            return f"{100 * d[m]['accuracy']:.1f}" if m in d else "—"

        hp = ", ".join(f"{k}={v}" for k, v in c["recipe_params"].items() if k not in ("unverified", "status", "saliency"))
        wc = c.get("worst_case", {})
        worst = f"**{100 * wc['robust_accuracy']:.1f}**" if wc else "—"
        aud = wc.get("audit")
        flag = "—" if not aud else ("⚠️ " + ", ".join(aud["flags"]) if aud["flagged"] else "✅ pass")
        rows.append(f"| `{c['name']}` | {c['title']} | {c['paper']} | {hp} | {c['training']['seconds']:.0f} | "
                    + " | ".join(pct(full, m) for m in METRICS) + " | "
                    + " / ".join(pct(sub, m) for m in METRICS) + f" | {worst} | {wc.get('n', '—')} | {flag} |")
        npts = ev.get("gaussian_noise_subset", {}).get("points", [])
        if npts:  # random noise beside the adversary, on the same 1,000 subset images
            noise_rows.append(f"| `{c['name']}` | {e.arch_family.title} | "
                              f"{pct(sub, 'clean')} | " + " | ".join(f"{100 * q['accuracy']:.1f}" for q in npts)
                              + f" | {worst} |")
            noise_sigmas = [q["sigma"] for q in npts]
        sd = c.get("seeds")
        if sd:
            sp = sd["spread"]
            seed_rows.append(f"| `{c['name']}` | {', '.join(map(str, sd['seeds']))} | " + " | ".join(
                (" / ".join(f"{100 * v:.1f}" for v in sp[m]["values"]) + f" (range {100 * sp[m]['range']:.1f})")
                if m in sp else "—" for m in ("clean", "fgsm", "pgd20", "worst_case")) + " |")
        fw = wc.get("full_test_set")
        if fw:
            views = [k for k in ("as_shipped", "through_mask") if k in fw]
            full_rows.append(
                f"| `{c['name']}` | {c['title']} | {fw['n']:,} | {100 * fw['clean_accuracy']:.1f} | "
                f"**{100 * fw['robust_accuracy']:.1f}** | {100 * wc['robust_accuracy']:.1f} (n = {wc['n']:,}) | "
                + "; ".join(f"{v.replace('_', ' ')}: " + ", ".join(f"{b['attack']} −{b['fooled']:,}" for b in fw[v]["breakdown"])
                            for v in views)
                + f" | {sum(fw[v].get('seconds', 0) for v in views):,.0f} |")
    full_section = "" if not full_rows else """
### Worst case on the whole test set

The same ensemble on all 10,000 test images (`tools/ensemble_zoo.py --full`; run in the background
on one thread, for the models named here — the others were not re-run on the full set for time).
The attack columns count the images each attack of the ensemble fooled first (for CIFS, as shipped
and through its mask; the robust accuracy quoted is the lower).

| model | method | images | clean % | worst case % | on the subset % | fooled first by | seconds |
|---|---|---|---|---|---|---|---|
""" + "\n".join(full_rows) + "\n"
    if noise_rows:
        full_section += """
### Random noise beside the adversary

Accuracy on the 1,000 shipped test images plus Gaussian noise of standard deviation σ (clipped to
[0, 1], one fixed draw per image; `core/train/model_cards.py` `noise_accuracy`), beside the
worst-case robust accuracy at ε = 0.1 on the same images. Robustness to *random* noise is not
robustness to an adversary: a model can gain one without the other (the ODE and ZeroSNet papers
argue from the first).

| model | architecture | clean % | """ + " | ".join(f"σ = {sg:g} %" for sg in noise_sigmas) + """ | worst case % |
|---|---|---|""" + "---|" * len(noise_sigmas) + """---|
""" + "\n".join(noise_rows) + "\n"
    if seed_rows:
        full_section += """
### Training seeds

Models trained with several seeds (`tools/train_zoo.py --phase seeds`, merged with `--merge-seeds`):
each seed's accuracy on the 1,000 shipped test images (the card's attacks; worst case on the same
images), shipped seed first, and the range between seeds. A difference between two models smaller
than their seed ranges is not a finding.

| model | seeds | clean % | FGSM % | PGD-20 % | worst case % |
|---|---|---|---|---|---|
""" + "\n".join(seed_rows) + "\n"
    cfg = TrainConfig()
    text = f"""# Fashion-MNIST model zoo

Made by `tools/train_zoo.py` (training, evaluation and this table); re-check a card with
`tools/evaluate_zoo.py <name>` (full test set) or `--subset`. Cards: `assets/zoo/<name>.json`;
weights: `assets/zoo/<name>.pt` (state dicts, loaded with `weights_only=True`, `strict=True`).

**Shared architecture** (`core/models/zoo_net.py`): four 3×3 conv blocks (16, 32, 64, 128 channels,
strides 2, 1, 2, 1, batch norm, ReLU), global average pooling, linear; 98,682 parameters; [0, 1]
input, 1 or 3 channels (3 are averaged to grey). Variants: SiLU (FGSM tricks), stride (2, 1, 1, 1)
(feature-map size), two CIFS probes (CIFS).

**Shared budget** (`core/train/common.py`): {cfg.train_images:,} training images (class-balanced,
seed {cfg.seed}), {cfg.epochs} epochs, batch {cfg.batch_size}, SGD (Nesterov momentum {cfg.momentum},
weight decay {cfg.weight_decay}), one-cycle learning rate peaking at {cfg.lr}, {cfg.threads} CPU
thread. "train s" is wall-clock time on a 2-core CPU shared with other jobs (load 2–4 during
training), so it is only a rough cost comparison. Adversarial recipes use ε = 0.1 (L∞); multi-step ones PGD-5 with step 0.05. These are
small demonstration models trained for minutes, far from the papers' converged numbers.

**Evaluation** (`core/train/model_cards.py`): robust accuracy (correct on the clean *and* the
attacked image) at ε = {EVAL_EPS} (L∞), the usual Fashion-MNIST budget; FGSM; PGD-20 (step
2.5ε/20, random start); APGD-CE with 20 iterations (paper: 100). All white-box on the final
logits; for CIFS the attacker's gradient treats the channel mask as constant, as in the paper's
code. Subset: the 1,000 shipped test images (`assets/data/`), as used by the app and the tests.

**Worst case** (`core/ensemble.py`, made by `tools/ensemble_zoo.py`): the robust accuracy the project
quotes. An AutoAttack-style ensemble — APGD-CE (50 iterations), targeted APGD-DLR towards the three most
likely other classes (50 iterations each), and the gradient-free Square Attack (1,000 queries) — each run
on the images still classified correctly, on the first images of the shipped subset (how many: the
"images" column and the card's `worst_case.data`), ε = 0.1 (L∞).
For CIFS it is the lower of the mask-blind and the through-the-mask evaluation
(`core/attacks/cifs_adaptive.py`). The FGSM/PGD-20/APGD-CE columns are kept as what those single
white-box attacks see (for CIFS: a mask-blind attacker). **Audit**: the gradient-masking audit
(`python -m core audit --model <name> --n 100`, `core/audit.py`) on the first 100 (CIFS, PGD-AT) or
50 (the others) subset images; "⚠️" lists the checks that warn (the card's `worst_case.audit` has the
verdict of every check and the command). A flag means that a single attack's number overstates the
model's robustness; the worst-case column already includes the gradient-free Square Attack.

| model | method | paper | recipe hyperparameters | train s | clean % | FGSM % | PGD-20 % | APGD-CE % | subset clean / FGSM / PGD-20 / APGD-CE % | worst case % (ensemble) | images | audit |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + full_section + recipe_sections() + """
## The methods

Each recipe's file in `core/train/` cites its paper and lists its defaults and every deviation
(fewer attack steps, the shared short budget, CIFS's mask scaling, J-SIGR being a
reconstruction, which FGSM tricks are implemented).

""" + "\n".join(f"- **{e.title}** (`{e.name}`, `core/train/{recipe_class(e).__module__.rsplit('.', 1)[-1]}.py`; "
                 f"{e.paper}): {e.about}"
                 + (f"\n  - *The paper claims:* {e.claim}" if e.claim else "")
                 + (f"\n  - *Here we see:* {e.here}" if e.here else "") for e in ZOO) + """

## Reproduce

```
apt-get install -y --no-install-recommends dataset-fashion-mnist
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py          # subset, train, evaluate, this file
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/evaluate_zoo.py --subset --check 0.005
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --out /tmp/zooeval               # worst case, 1,000 images
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python -m core audit --model fmnist-cifs --n 100 --out /tmp/audits/fmnist-cifs.json
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python -m core audit --model fmnist-cifs --through-mask --n 100 \\
    --out /tmp/audits/fmnist-cifs-through-mask.json                      # likewise each model (--n 50 for the others)
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --merge /tmp/zooeval --audits /tmp/audits
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --full --out /tmp/zoofull fmnist-standard fmnist-pgd-at fmnist-cifs \\
    fmnist-trades fmnist-jsigr fmnist-fgsm-tricks fmnist-nfgsm                  # about 2.5 h on one thread
OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --merge-full /tmp/zoofull
```
"""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=["all", "subset", "train", "evaluate", "noise", "seeds", "docs"], default="all")
    ap.add_argument("--seeds", nargs="*", type=int, default=[1, 2], help="seeds phase: the other training seeds")
    ap.add_argument("--out", default="/tmp/zooseeds", help="seeds phase: folder for one JSON per model and seed")
    ap.add_argument("--merge-seeds", default=None, metavar="DIR", help="write the seed results in DIR into the cards")
    ap.add_argument("--models", nargs="*", default=None, help="zoo names (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--subset-only-eval", action="store_true", help="evaluate: skip the full test set")
    ap.add_argument("--full-metrics", nargs="+", choices=METRICS, default=list(METRICS),
                    help="evaluate: the metrics run on the full test set (default all; e.g. clean fgsm for a "
                         "slow architecture, whose other attacks then run on the shipped subset only)")
    ap.add_argument("--subset-metrics", nargs="+", choices=METRICS, default=list(METRICS),
                    help="evaluate: the metrics run on the shipped subset (default all; fewer for the slowest models)")
    ap.add_argument("--no-curve", action="store_true", help="evaluate: leave out the PGD-10 accuracy-vs-ε curve "
                    "(the slowest architectures: the dopri5 ODE variant, LT-NODE)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or [e.name for e in ZOO]
    for n in names:
        if n not in ZOO_BY_NAME:
            ap.error(f"unknown model {n}; known: {', '.join(ZOO_BY_NAME)}")
    cfg = TrainConfig(threads=args.threads)
    t0 = time.perf_counter()
    if args.merge_seeds or args.phase == "seeds":
        import seed_zoo  # a circle: seed_zoo uses this module's training and card helpers

        if args.merge_seeds:
            seed_zoo.merge_seeds(Path(args.merge_seeds))
        else:
            for n in names:
                for sd in args.seeds:
                    seed_zoo.run_seed(n, sd, cfg, Path(args.out))
        print(f"done in {time.perf_counter() - t0:.0f} s")
        return
    if args.phase in ("all", "subset"):
        phase_subset()
    if args.phase in ("all", "train"):
        phase_train(names, cfg)
    if args.phase in ("all", "evaluate"):
        phase_evaluate(names, full=not args.subset_only_eval, full_metrics=tuple(args.full_metrics),
                       curve=not args.no_curve, subset_metrics=tuple(args.subset_metrics))
    if args.phase == "noise":
        phase_noise(names)
    if args.phase in ("all", "docs", "evaluate", "noise"):
        phase_docs()
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
