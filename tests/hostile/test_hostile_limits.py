"""Every ``core`` entry point refuses work beyond ``core.runtime.limits`` with a ValueError *before*
doing any of it: no model pass and no progress report happens first.

The model given to each call is a tripwire: it has the shared model's attributes (stage names,
classifier weight, input size) but raises ``WorkStarted`` on any forward pass, so a missing
check shows up as that error instead of as a long computation. Batch limits are enforced in one
place, the models' own forward (``limits.check_batch_pixels``), so they are tested on the real
model with the limits lowered, through the internal batches of EOT, captum and smoothing.
"""
from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from core.runtime import limits
from core.attacks import ThreatModel, make_attack
from core.models import load_model

MODEL = "EfficientNet-Lite0"


class WorkStarted(AssertionError):
    """Raised by the tripwire model: the function started working before checking its limits."""


class Tripwire(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.stage_names = inner.stage_names
        self.class_names = inner.class_names
        self.input_size = inner.input_size
        self.name = "tripwire"

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.inner.classifier_weight

    def forward(self, x):  # noqa: D102
        raise WorkStarted("a forward pass ran before the limits were checked")

    def forward_features(self, x, keep=()):  # noqa: D102
        raise WorkStarted("forward_features ran before the limits were checked")

    def forward_head(self, fmap):  # noqa: D102
        raise WorkStarted("forward_head ran before the limits were checked")


def _no_progress(done, total, message=""):
    raise WorkStarted(f"progress was reported ({done}/{total}: {message}) before the limits were checked")


@pytest.fixture(scope="module")
def real():
    return load_model(MODEL)


@pytest.fixture(scope="module")
def trip(real):
    return Tripwire(real).eval()


X = torch.full((1, 3, 224, 224), 0.5)
Y = torch.tensor([1])
M = limits  # short


def _cases(trip):
    """(name, callable) pairs; each must raise ValueError mentioning a limit."""
    from core.attacks.dense.segmentation import SegmentationPGD
    from core.evaluation.curves import certified_radius_curve, check_eps_list
    from core.defenses import EquivarianceAwarePGD, make_defense
    from core.defenses.smoothing import certify, sample_counts
    from core.evaluation.batch.evaluate import EvalSettings, evaluate_images
    from core.explain import feature_maps as fm
    from core.explain.jacobian import jacobian_norm_map
    from core.explain.perturbation import perturbation_saliency
    from core.explain.saliency import integrated_gradients_map, occlusion_map, smoothgrad_map
    from core.evaluation.audit.checks import AuditConfig, audit
    from core.evaluation.ensemble import EnsembleConfig, worst_case
    from core.data.image_sets import zip_entries

    linf = dict(norm="linf", eps=4 / 255, step=1 / 255)
    return [
        ("threat steps", lambda: ThreatModel(**linf, steps=M.MAX_ATTACK_STEPS + 1)),
        ("threat steps 0", lambda: ThreatModel(**linf, steps=0)),
        ("threat steps float", lambda: ThreatModel(**linf, steps=10.5)),
        ("threat restarts", lambda: ThreatModel(**linf, steps=1, restarts=M.MAX_RESTARTS + 1)),
        ("threat eps nan", lambda: ThreatModel(norm="linf", eps=math.nan)),
        ("threat eps inf", lambda: ThreatModel(norm="l2", eps=math.inf)),
        ("threat step -1", lambda: ThreatModel(norm="linf", eps=0.1, step=-1)),
        ("cw iterations", lambda: make_attack("CW-L2", binary_steps=2, iterations=M.MAX_CW_ITERATIONS // 2 + 1)),
        ("cw binary steps x iterations", lambda: make_attack("CW-L2", binary_steps=M.MAX_CW_ITERATIONS, iterations=2)),
        ("pgd steps via make_attack", lambda: make_attack("PGD", ThreatModel(**linf, steps=10**9))),
        ("square queries", lambda: make_attack("Square", n_queries=M.MAX_SQUARE_QUERIES + 1)),
        ("ensemble targets", lambda: worst_case(trip, X, torch.zeros(X.shape[0], dtype=torch.long),
                                                EnsembleConfig(n_targets=M.MAX_ENSEMBLE_TARGETS + 1))),
        ("ensemble square queries", lambda: EnsembleConfig(square_queries=M.MAX_SQUARE_QUERIES + 1)),
        ("ensemble verdicts", lambda: EnsembleConfig(version="rand", verdict_evals=M.MAX_EOT_EVALS + 1)),
        ("audit images", lambda: audit(trip, torch.zeros(M.MAX_EVAL_IMAGES + 1, 3, 8, 8),
                                       torch.zeros(M.MAX_EVAL_IMAGES + 1, dtype=torch.long))),
        ("audit steps", lambda: AuditConfig(steps=M.MAX_ATTACK_STEPS)),
        ("smoothing n", lambda: make_defense("Randomized smoothing", trip, n=M.MAX_SMOOTHING_SAMPLES + 1)),
        ("smoothing n0", lambda: make_defense("Randomized smoothing", trip, n0=M.MAX_SMOOTHING_SAMPLES + 1)),
        ("smoothing eot", lambda: make_defense("Randomized smoothing", trip, eot_samples=M.MAX_EOT_SAMPLES + 1)),
        ("smoothing batch", lambda: make_defense("Randomized smoothing", trip, batch_size=M.MAX_SMOOTHING_BATCH + 1)),
        ("smoothing keep", lambda: make_defense("Randomized smoothing", trip, keep_samples=10**6)),
        ("smooth-reduce n", lambda: make_defense("Smooth-Reduce", trip, n=M.MAX_SMOOTHING_SAMPLES + 1)),
        ("sample_counts num", lambda: sample_counts(trip, X, 0.25, M.MAX_SMOOTHING_SAMPLES + 1, progress=_no_progress)),
        ("sample_counts batch", lambda: sample_counts(trip, X, 0.25, 10, batch_size=M.MAX_SMOOTHING_BATCH + 1)),
        ("sample_counts keep", lambda: sample_counts(trip, X, 0.25, 10, keep=M.MAX_SMOOTHING_KEEP + 1)),
        ("certify n", lambda: certify(trip, X, sigma=0.25, n0=10, n=M.MAX_SMOOTHING_SAMPLES + 1, alpha=0.01,
                                      progress=_no_progress)),
        ("purification steps", lambda: make_defense("Equivariance purification", trip,
                                                    steps=M.MAX_PURIFICATION_STEPS + 1).defend(X, progress=_no_progress)),
        ("purification views", lambda: make_defense("Equivariance purification", trip,
                                                    views=("hflip",) * (M.MAX_EQUIVARIANCE_VIEWS + 1)
                                                    ).defend(X, progress=_no_progress)),
        ("equivariance-aware attack views", lambda: EquivarianceAwarePGD(ThreatModel(**linf, steps=2),
                                                                         views=("hflip",) * 17)),
        ("feature-map upsample", lambda: make_defense("Feature-map size", trip, upsample=M.MAX_UPSAMPLE * 2)),
        ("median kernel", lambda: make_defense("Median filter", trip, kernel=M.MAX_MEDIAN_KERNEL + 2).defend(X)),
        ("integrated gradients steps", lambda: integrated_gradients_map(trip, X, 1, n_steps=M.MAX_IG_STEPS + 1)),
        ("smoothgrad samples", lambda: smoothgrad_map(trip, X, 1, nt_samples=M.MAX_SMOOTHGRAD_SAMPLES + 1)),
        ("occlusion windows", lambda: occlusion_map(trip, X, 1, window=8, stride=1)),
        ("jacobian rows", lambda: jacobian_norm_map(trip, X, k=M.MAX_JACOBIAN_ROWS + 1)),
        ("jacobian projections", lambda: jacobian_norm_map(trip, X, mode="random", n_proj=M.MAX_JACOBIAN_ROWS + 1)),
        ("perturbation cells", lambda: perturbation_saliency(trip, X, stride=2.0, progress=_no_progress)),
        ("bisection evals", lambda: fm.min_eps_bisection(lambda e: (_ for _ in ()).throw(WorkStarted("ran")), 0.0, 1.0,
                                                         1e-9, max_evals=M.MAX_BISECTION_EVALS + 1)),
        ("noise draws", lambda: fm.noise_sensitivity(trip, X, draws=M.MAX_NOISE_DRAWS + 1)),
        ("pooling trials", lambda: fm.pooling_demo(trials=M.MAX_POOLING_TRIALS + 1)),
        ("pooling sizes", lambda: fm.pooling_demo(sizes=(1, 10_000))),
        ("feature settings", lambda: fm.compare_settings(trip, X, [fm.Setting(1.0, ())] * (M.MAX_FEATURE_SETTINGS + 1),
                                                         progress=_no_progress)),
        ("feature pgd steps", lambda: fm.compare_settings(trip, X, [fm.Setting(1.0, ())],
                                                          pgd_steps=M.MAX_ATTACK_STEPS + 1, progress=_no_progress)),
        ("curve eps values", lambda: check_eps_list([i / 255 for i in range(1, M.MAX_CURVE_EPS + 2)], "linf")),
        ("curve sigmas", lambda: certified_radius_curve(trip, X, 0, [0.1 * (i + 1) for i in range(M.MAX_CURVE_SIGMAS + 1)],
                                                        progress=_no_progress)),
        ("curve certify n", lambda: certified_radius_curve(trip, X, 0, [0.25], n=M.MAX_SMOOTHING_SAMPLES + 1,
                                                           progress=_no_progress)),
        ("batch evaluation images", lambda: evaluate_images(trip, [(str(i), X) for i in range(M.MAX_EVAL_IMAGES + 1)],
                                                            EvalSettings(model=MODEL), progress=_no_progress)),
        ("segmentation batch", lambda: SegmentationPGD(ThreatModel(**linf, steps=1)).run(
            trip, torch.full((M.MAX_BATCH + 1, 3, 8, 8), 0.5), torch.zeros(M.MAX_BATCH + 1, 1, 8, 8))),
        ("zip bytes", lambda: zip_entries(b"PK\x03\x04" + bytes(M.MAX_ZIP_BYTES))),
    ]


def test_every_entry_point_refuses_before_working(trip):
    started, other, slow = [], [], []
    for name, call in _cases(trip):
        t0 = time.perf_counter()
        try:
            call()
        except WorkStarted as e:
            started.append(f"{name}: {e}")
        except ValueError as e:
            if not str(e):
                other.append(f"{name}: empty message")
        except Exception as e:  # noqa: BLE001
            other.append(f"{name}: {type(e).__name__}: {e}")
        else:
            other.append(f"{name}: no error")
        if time.perf_counter() - t0 > 2.0:
            slow.append(name)
    assert not started, "work began before the limit was checked:\n" + "\n".join(started)
    assert not other, "\n".join(other)
    assert not slow, slow


def test_within_the_limits_nothing_is_refused(real):
    """The limits are not so tight that the app's defaults trip them."""
    from core.defenses import DEFENSES, default_params, make_defense

    for name in DEFENSES:
        make_defense(name, real, **default_params(name))
    limits.check_batch_pixels(torch.zeros(16, 3, 260, 260), grad=True)  # a robustness curve on Lite2
    limits.check_batch_pixels(torch.zeros(36, 3, 224, 224), grad=True)  # Smooth-Reduce EOT defaults
    limits.check_batch_pixels(torch.zeros(64, 3, 260, 260), grad=False)
    limits.check_batch_pixels(torch.zeros(128, 1, 28, 28), grad=True)  # zoo training batches


# --------------------------------------------------------------------------- one place for batches
@pytest.fixture()
def small_limits(monkeypatch):
    """Budgets of 10 (forward) and 4 (gradient) images of 32x32, so the tests stay tiny."""
    monkeypatch.setattr(limits, "MAX_FORWARD_PIXELS", 10 * 32 * 32)
    monkeypatch.setattr(limits, "MAX_GRAD_PIXELS", 4 * 32 * 32)


def _x(n: int, grad: bool = False) -> torch.Tensor:
    x = torch.full((n, 3, 32, 32), 0.5)
    return x.requires_grad_(True) if grad else x


def test_the_model_forward_enforces_the_batch_budget(real, small_limits):
    with torch.no_grad():
        assert real(_x(10)).shape == (10, 1000)
        with pytest.raises(ValueError, match="limit is"):
            real(_x(11))
        with pytest.raises(ValueError, match="limit is"):
            real.forward_features(_x(11))
    real(_x(4, grad=True))
    with pytest.raises(ValueError, match="with gradients"):
        real(_x(5, grad=True))


@pytest.mark.parametrize("case", ["ig_internal_batch", "occlusion_batch", "smoothing_batch", "attack_batch",
                                  "smooth_reduce_patches"])
def test_internal_batches_hit_the_same_limit(real, small_limits, case):
    from core.defenses import make_defense
    from core.defenses.smoothing import sample_counts
    from core.explain.saliency import integrated_gradients_map, occlusion_map

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="limit is"):
        if case == "ig_internal_batch":
            integrated_gradients_map(real, _x(1), 1, n_steps=8, internal_batch_size=8)
        elif case == "occlusion_batch":
            occlusion_map(real, _x(1), 1, window=8, stride=8, batch_size=16)
        elif case == "smoothing_batch":
            with torch.no_grad():
                sample_counts(real, _x(1), 0.25, 32, batch_size=16)
        elif case == "attack_batch":
            make_attack("FGSM").run(real, _x(6), torch.ones(6, dtype=torch.long))
        elif case == "smooth_reduce_patches":  # 9 patches of one noisy image: more than one pass may hold
            d = make_defense("Smooth-Reduce", real, patch=32, stride=4, resize=40, eot_samples=1)
            make_attack("FGSM").run(d.as_model(adaptive=True), _x(1), torch.tensor([1]))
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("case", ["eot", "smooth_reduce_eot"])
def test_multiplying_defenses_split_their_work_into_passes_within_the_limit(real, small_limits, case):
    """EOT draws (× Smooth-Reduce's patches) of several images are legitimate work whose one pass
    would exceed the bound: the defense runs them in passes that fit it (the model's own forward
    refuses any pass over the limit, so finishing shows that each pass fitted)."""
    from core.defenses import make_defense

    if case == "eot":  # 8 draws × 3 images, with gradients: 24 images where 4 fit a pass
        d = make_defense("Randomized smoothing", real, eot_samples=8)
    else:  # 2 draws × 4 patches × 3 images
        d = make_defense("Smooth-Reduce", real, patch=32, stride=8, resize=40, eot_samples=2)
    x_adv = make_attack("PGD", ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=2)).run(
        d.as_model(adaptive=True), _x(3), torch.tensor([1, 2, 3])).x_adv
    assert x_adv.shape == (3, 3, 32, 32) and (x_adv - 0.5).abs().max() <= 4 / 255 + 1e-6
