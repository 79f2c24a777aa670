"""The gradient-masking audit (core/evaluation/audit/checks.py): a deliberately masked toy model is flagged, an
honest robust toy model passes, the CIFS view differentiates the mask, and the command line."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from audit_toys import LinearToy, QuantisedToy, linear_robust, toy_data
from core.evaluation.audit.checks import WARNING_SIGNS, AuditConfig, audit

CFG = AuditConfig(eps=0.05, steps=10, square_queries=150, square_p_init=0.5, random_dirs=6)


def test_masked_toy_model_is_flagged():
    x, y = toy_data(32)
    r = audit(QuantisedToy(), x, y, CFG, surrogate=LinearToy(noise=0.5))
    flags = r.flags()
    assert r.flagged
    assert "gradients" in flags and "large_eps" in flags and "targeted" in flags
    g = next(c for c in r.checks if c.key == "gradients")
    assert g.numbers["zero_share"] == 1.0  # round() has a zero derivative everywhere
    # Square (no gradients) does what PGD cannot at 2ε = 0.1: the honest answer is known exactly
    sq = r.comparison[-1]
    truth = 1 - linear_robust(LinearToy(), x, y, sq["eps"]).float().mean()
    assert sq["white_box"] < 0.1 and sq["square"] > 0.5 * truth > 0
    # per image: robust only when right before the attack and fooled by none of them (their union)
    per, correct = torch.tensor(sq["robust_per_image"]).bool(), torch.tensor(r.correct_per_image).bool()
    assert len(per) == 32 and int(correct.sum()) == r.clean_correct and not (per & ~correct).any()
    assert sq["any_attack"] >= max(sq["white_box"], sq["square"], sq["transfer"])
    assert int(per.sum()) == r.clean_correct - round(sq["any_attack"] * r.clean_correct)
    # the page's headline names each problem in words (a check's title states the sound outcome)
    assert {c.key for c in r.checks} <= set(WARNING_SIGNS)
    signs = r.warning_signs()
    assert len(signs) == len(flags) and "uninformative input gradients" in signs


def test_honest_robust_linear_model_passes_every_check():
    x, y = toy_data(32)
    r = audit(LinearToy(), x, y, CFG, surrogate=LinearToy(noise=0.5))
    assert not r.flagged, [(c.key, c.numbers) for c in r.checks if c.verdict == "warn"]
    assert {c.key: c.verdict for c in r.checks} == {"large_eps": "pass", "transfer": "pass", "square": "pass",
                                                   "iterations": "pass", "targeted": "pass", "gradients": "pass",
                                                   "randomness": "n/a"}
    # white-box PGD on a linear model is exact: its success equals the closed-form answer
    for pt in r.curve:
        truth = 1 - float(linear_robust(LinearToy(), x, y, pt["eps"]).float().mean())
        assert pt["success"] == pytest.approx(truth, abs=1 / 32 + 1e-9)
    # and the per-image worst case is the closed-form robust set (every truly robust image survives every attack)
    for row in r.comparison:
        truth = linear_robust(LinearToy(), x, y, row["eps"])
        per = torch.tensor(row["robust_per_image"]).bool()
        assert not (truth & ~per).any() and int((per != truth).sum()) <= 1


def test_randomized_check_runs_and_reports_instability():
    x, y = toy_data(16)

    class Coin(torch.nn.Module):  # answers at random half of the time: the verdict is unstable
        def __init__(self):
            super().__init__()
            self.m = LinearToy()
            self.g = torch.Generator().manual_seed(0)
            self.eval()

        def forward(self, z):
            out = self.m(z)
            flip = torch.rand(z.shape[0], generator=self.g) < 0.5
            return torch.where(flip[:, None], out.roll(1, dims=1), out)

    r = audit(Coin(), x, y, AuditConfig(eps=0.05, steps=5, square_queries=20, repeats=5, eot_samples=2,
                                        eps_factors=(1.0, 8.0)), randomized=True)
    c = next(c for c in r.checks if c.key == "randomness")
    assert c.verdict == "warn" and c.numbers["unstable_share"] > 0.5


def test_audit_refuses_bad_input():
    x, y = toy_data(4)
    with pytest.raises(ValueError):
        AuditConfig(steps=100)  # 5× steps would exceed the attack limit
    with pytest.raises(ValueError):
        audit(LinearToy(), x, y[:2], CFG)


def test_cifs_view_has_the_same_logits_and_differentiates_the_mask():
    from core.attacks.cifs_adaptive import through_mask
    from core.data.fashion_mnist import load_test_subset, to_float
    from core.models.zoo.catalogue import load_zoo_model

    xs, ys, _ = load_test_subset()
    x = to_float(xs)[:8]
    m = load_zoo_model("fmnist-cifs")
    v = through_mask(m)
    assert v is not m and through_mask(load_zoo_model("fmnist-standard")).__class__.__name__ == "ZooClassifier"
    with torch.no_grad():
        torch.testing.assert_close(v(x), m(x), atol=1e-6, rtol=0)
    xa = x.clone().requires_grad_(True)
    (g_blind,) = torch.autograd.grad(m(xa).logsumexp(1).sum(), xa)
    (g_full,) = torch.autograd.grad(v(xa).logsumexp(1).sum(), xa)
    assert (g_full - g_blind).abs().max() > 1e-4  # the mask's own gradient is now included
    # Finite differences agree with the full gradient, not the mask-blind one. In float32 the
    # central difference's rounding error is of the same size as the gap between the two
    # gradients, so the check runs on a float64 copy, along the direction that separates them.
    import copy
    v64 = through_mask(copy.deepcopy(m).double())
    x64 = x.double().requires_grad_(True)
    (g64,) = torch.autograd.grad(v64(x64).logsumexp(1).sum(), x64)
    torch.testing.assert_close(g64.float(), g_full, atol=1e-4, rtol=1e-3)
    sep = (g_full - g_blind).double()
    d = sep / sep.norm() * 1e-4
    with torch.no_grad():
        fd = (v64(x.double() + d).logsumexp(1).sum() - v64(x.double() - d).logsumexp(1).sum()) / 2
    err_full = abs(float(fd) - float((g64 * d).sum()))
    err_blind = abs(float(fd) - float((g_blind.double() * d).sum()))
    assert err_full < 0.1 * err_blind


def test_cli_audit_writes_the_checks(tmp_path, capsys):
    from core.cli.commands import main

    out = tmp_path / "a.json"
    rc = main(["audit", "--model", "fmnist-pgd-at", "--n", "12", "--steps", "4", "--square-queries", "20",
               "--out", str(out), "--quiet"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["n"] == 12 and {c["key"] for c in doc["checks"]} >= {"transfer", "square", "gradients"}
    assert "fmnist-trades" in doc["description"]  # PGD-AT's default surrogate
    assert main(["audit", "--model", "fmnist-standard", "--n", "0"]) == 1
    # an --out that cannot be written is refused before any work, not after it
    capsys.readouterr()
    assert main(["audit", "--model", "fmnist-standard", "--n", "4", "--out", str(tmp_path)]) == 1
    assert main(["audit", "--model", "fmnist-standard", "--n", "4", "--out", str(tmp_path / "no" / "a.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("error: --out must be a file in an existing folder") == 2 and "Auditing" not in err


def test_cli_audit_reports_a_refused_pass_as_one_error_line(monkeypatch, capsys):
    from core.runtime import limits
    from core.cli.commands import main

    monkeypatch.setattr(limits, "MAX_GRAD_PIXELS", 100)  # smaller than one 28×28 image with gradients
    rc = main(["audit", "--model", "fmnist-standard", "--n", "4", "--steps", "1", "--square-queries", "5", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "error: the audit stopped: one pass would put" in err and "Traceback" not in err


def test_the_defenses_page_findings_cover_every_audited_defense():
    from core.evaluation.audit.checks import AUDITS_DIR, audit_findings

    text = audit_findings()
    assert not text.startswith("#")  # the title and preface stay in the docs
    audited = {json.loads(f.read_text())["description"].split(" + ")[1].split(" (")[0]
               for f in AUDITS_DIR.glob("*.json")
               if " + " in json.loads(f.read_text())["description"]}  # the undefended baseline has no defense
    assert audited == {"JPEG", "Bit-depth reduction", "Median filter", "Equivariance purification",
                       "Randomized smoothing", "Smooth-Reduce"}
    for name in ("JPEG", "3-bit colour", "median filter", "Equivariance purification", "Randomized smoothing",
                 "Smooth-Reduce"):
        assert name.lower() in text.lower(), name


def test_attacks_in_chunks_give_the_closed_form_answer_too():
    """attack_batch > 0 attacks a few images per pass (memory for heavy randomized defenses); on the linear model,
    where white-box PGD is exact, the per-image worst case is the same closed-form set as in one pass."""
    x, y = toy_data(32)
    whole = audit(LinearToy(), x, y, CFG, surrogate=LinearToy(noise=0.5))
    parts = audit(LinearToy(), x, y, dataclasses.replace(CFG, attack_batch=5), surrogate=LinearToy(noise=0.5))
    for a, b in zip(whole.comparison, parts.comparison):
        truth = linear_robust(LinearToy(), x, y, a["eps"])
        per = torch.tensor(b["robust_per_image"]).bool()
        assert not (truth & ~per).any() and int((per != truth).sum()) <= 1
        assert abs(a["white_box"] - b["white_box"]) <= 1 / 32 + 1e-9
    assert {c.key: c.verdict for c in whole.checks} == {c.key: c.verdict for c in parts.checks}
    with pytest.raises(ValueError, match="attack_batch"):
        AuditConfig(attack_batch=-1)
