"""Many users at once, at the level of ``core``: the functions the pages call, run from many
threads at the same time on the one shared model that ``load_model`` (and ``st.cache_resource``)
hands to every session, must give bit-for-bit the results of the same calls made one after
another, and must leave the shared model exactly as it was (no hooks, eval mode, same weights).

The Streamlit server runs each session's script in its own thread, so this is what happens
when several people press "Run" together.
"""
from __future__ import annotations

import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Callable

import pytest
import torch

from core.attacks import Goal, ThreatModel, make_attack
from core.defenses import make_defense
from core.explain.saliency import compute_map
from core.data.images import load_sample, resize_center_crop, to_tensor
from core.models import load_model
from core.models.fast import fast_view

pytestmark = pytest.mark.slow
MODEL = "EfficientNet-Lite0"
SIZE = 64  # small images keep every task well under a second


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


@pytest.fixture(scope="module")
def images():
    return {k: to_tensor(resize_center_crop(load_sample(k), SIZE, SIZE + 8)) for k in ("chelsea", "coffee")}


def _label(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def _attack(name: str, threat: ThreatModel, goal: Goal = Goal(), seed: int = 0, **params):
    def task(model, imgs):
        x = imgs["chelsea"]
        res = make_attack(name, threat, **params).run(model, x, _label(model, x), goal, seed=seed)
        return {"x_adv": res.x_adv, "adv_logits": res.adv_logits,
                "losses": torch.stack([r.loss for r in res.trajectory])}
    return task


def _defended_attack(defense: str, attack: str, threat: ThreatModel, seed: int = 0, **dparams):
    def task(model, imgs):
        x = imgs["coffee"]
        d = make_defense(defense, model, **dparams)
        res = make_attack(attack, threat).run(d.as_model(adaptive=True, seed=seed), x, _label(model, x), seed=seed)
        out = d.defend(res.x_adv, seed=seed)
        return {"x_adv": res.x_adv, "defended_logits": out.logits, "classified": out.x_classified}
    return task


def _defend(defense: str, seed: int = 0, **dparams):
    def task(model, imgs):
        out = make_defense(defense, model, **dparams).defend(torch.cat([imgs["chelsea"], imgs["coffee"]]), seed=seed)
        res = {"logits": out.logits, "classified": out.x_classified}
        if out.certificate is not None:
            res["cert_pred"] = out.certificate.predicted
            res["cert_radius"] = out.certificate.radius
        return res
    return task


def _saliency(method: str, **params):
    def task(model, imgs):
        x = imgs["chelsea"]
        return {"map": compute_map(model, x, method, int(_label(model, x)), **params)}
    return task


def _channels():
    def task(model, imgs):
        from core.explain.channels import analyse_channels

        x = imgs["coffee"]
        a = analyse_channels(model, x, (x + 2 / 255).clamp(0, 1), stage="head")
        return {k: v for k, v in vars(a).items() if isinstance(v, torch.Tensor)}
    return task


LINF = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=3)
TASKS: dict[str, Callable] = {
    "pgd_linf": _attack("PGD", LINF, seed=1),
    "pgd_l2_restarts": _attack("PGD", ThreatModel(norm="l2", eps=0.5, step=0.2, steps=2, restarts=2), seed=2),
    "fgsm_targeted": _attack("FGSM", ThreatModel(norm="linf", eps=4 / 255, step=4 / 255, steps=1, random_start=False),
                             Goal("targeted", 5)),
    "apgd_ce": _attack("APGD-CE", ThreatModel(norm="linf", eps=4 / 255, step=8 / 255, steps=4), seed=3),
    "apgd_dlr_least_likely": _attack("APGD-DLR", ThreatModel(norm="linf", eps=4 / 255, step=8 / 255, steps=4),
                                     Goal("least_likely"), seed=4),
    "cw_l2": _attack("CW-L2", ThreatModel(norm="l2", eps=1.0, step=0.01, steps=4, random_start=False),
                     binary_steps=1, iterations=4),
    "trades": _attack("TRADES-KL", ThreatModel(norm="linf", eps=8 / 255, step=2 / 255, steps=2), seed=5),
    "nfgsm": _attack("N-FGSM", ThreatModel(norm="linf", eps=8 / 255, step=8 / 255, steps=1), seed=6),
    "jpeg_bpda": _defended_attack("JPEG", "PGD", LINF, seed=7),
    "median_bpda": _defended_attack("Median filter", "PGD", LINF, seed=8),
    "smoothing_eot": _defended_attack("Randomized smoothing", "PGD", ThreatModel(norm="linf", eps=4 / 255,
                                                                                 step=1 / 255, steps=2),
                                      seed=9, n0=4, n=16, batch_size=8, eot_samples=2),
    "smoothing": _defend("Randomized smoothing", seed=10, n0=8, n=32, batch_size=16),
    "equivariance": _defend("Equivariance purification", seed=11, steps=2),
    "feature_size": _defend("Feature-map size", upsample=1.5, stride1_stages=("stage6",)),
    "cifs_lite": _defend("CIFS-lite (untrained, exploratory)", temperature=0.3),
    "bit_depth": _defend("Bit-depth reduction", bits=3),
    "gradcam": _saliency("gradcam"),
    "integrated_gradients": _saliency("integrated_gradients", n_steps=4),
    "smoothgrad": _saliency("smoothgrad", nt_samples=4, seed=3),
    "occlusion": _saliency("occlusion", window=16, stride=16),
    "channels": _channels(),
}


# --------------------------------------------------------------------------- the shared model
def _hooks(m: torch.nn.Module) -> list[str]:
    found = []
    for name, sub in m.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs"):
            if getattr(sub, attr, None):
                found.append(f"{name or '<root>'}.{attr}")
    return found


def _global_hooks() -> list[str]:
    mod = torch.nn.modules.module
    return [n for n in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                        "_global_backward_pre_hooks") if getattr(mod, n, None)]


def _fingerprint(m: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in list(m.named_parameters()) + list(m.named_buffers()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _state(m: torch.nn.Module) -> dict:
    return {"hooks": _hooks(m), "training": [n for n, s in m.named_modules() if s.training],
            "grad": [n for n, p in m.named_parameters() if p.requires_grad], "fingerprint": _fingerprint(m)}


def _assert_pristine(m: torch.nn.Module, reference: dict) -> None:
    now = _state(m)
    assert now["hooks"] == [], f"hooks left on the shared model: {now['hooks'][:5]}"
    assert now["training"] == [], f"modules in train mode: {now['training'][:5]}"
    assert now["grad"] == [], f"parameters that require grad: {now['grad'][:5]}"
    assert now["fingerprint"] == reference["fingerprint"], "the shared model's weights changed"
    assert _global_hooks() == []


def _same(a: dict, b: dict, what: str) -> list[str]:
    bad = []
    assert a.keys() == b.keys(), what
    for k in a:
        if not (a[k].shape == b[k].shape and a[k].dtype == b[k].dtype and torch.equal(a[k], b[k])):
            diff = (a[k].float() - b[k].float()).abs().max().item() if a[k].shape == b[k].shape else "shape"
            bad.append(f"{what}.{k} (max |diff| {diff})")
    return bad


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- the test
def test_concurrent_core_calls_match_sequential_bit_for_bit(model, images):
    before = _state(model)
    assert before["hooks"] == [] and before["training"] == [] and before["grad"] == []

    t0 = time.perf_counter()
    reference = {name: fn(model, images) for name, fn in TASKS.items()}  # one after another
    t_seq = time.perf_counter() - t0
    fast = fast_view(model)
    fast_state = _state(fast)
    _assert_pristine(model, before)

    # Every task twice, in a shuffled order, all threads released together.
    jobs = [name for name in TASKS for _ in range(2)]
    random.Random(0).shuffle(jobs)
    barrier = threading.Barrier(len(jobs))
    active, peak = [0], [0]
    lock = threading.Lock()

    def run(name: str) -> dict:
        barrier.wait(timeout=60)
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return TASKS[name](model, images)
        finally:
            with lock:
                active[0] -= 1

    hwm0 = _vm_hwm_mb()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(run, jobs))
    t_conc = time.perf_counter() - t0
    grew = _vm_hwm_mb() - hwm0

    bad = []
    for name, res in zip(jobs, results):
        bad += _same(reference[name], res, name)
    assert not bad, "concurrent results differ from sequential ones:\n" + "\n".join(bad)
    assert peak[0] >= 8, f"only {peak[0]} tasks overlapped"
    _assert_pristine(model, before)
    _assert_pristine(fast, fast_state)
    assert fast_view(model) is fast  # one cached fused copy for every thread
    assert grew < 1500, f"peak memory grew by {grew:.0f} MB during {len(jobs)} concurrent tasks"
    print(f"\n{len(TASKS)} tasks: sequential {t_seq:.1f} s; {len(jobs)} concurrent {t_conc:.1f} s; "
          f"peak overlap {peak[0]}; VmHWM +{grew:.0f} MB")


def test_the_shared_model_refuses_train_mode(model):
    with pytest.raises(RuntimeError, match="read-only"):
        model.train()
    assert not model.training


def test_smoothgrad_noise_is_not_shared_between_threads(model):
    """SmoothGrad draws its noise from torch's global generator (captum has no generator
    argument). Without ``GLOBAL_RNG_LOCK`` about one call in six came out different here when
    eight threads ran at once, because another thread reseeded the generator in between."""
    x = to_tensor(resize_center_crop(load_sample("chelsea"), 32, 40))
    ref = {s: compute_map(model, x, "smoothgrad", 281, nt_samples=2, seed=s) for s in range(8)}
    jobs = [s for _ in range(10) for s in range(8)]
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda s: compute_map(model, x, "smoothgrad", 281, nt_samples=2, seed=s), jobs))
    bad = sum(not torch.equal(o, ref[s]) for s, o in zip(jobs, outs))
    assert bad == 0, f"{bad} of {len(jobs)} concurrent SmoothGrad maps differ from the sequential ones"
