"""The attack shown while it runs (core/evaluation/live_attack.py): the best example so far, the update budget,
and that watching an attack does not change it."""
from __future__ import annotations

import math

import pytest
import torch

from core.attacks import ThreatModel, make_attack
from core.evaluation.lab import run_attack_lab
from core.evaluation.live_attack import LiveState, LiveWatch
from core.runtime.progress import Cancelled
from tests.attacks.test_attacks import conv_net, images


def _pgd(steps: int = 20) -> ThreatModel:
    return ThreatModel(norm="linf", eps=8 / 255, step=2 / 255, steps=steps, random_start=True)


def test_watching_does_not_change_the_attack_and_keeps_the_best_iterate():
    model, x = conv_net(3), images(1, seed=4)
    label = int(model(x).argmax())
    plain = run_attack_lab(model, x, label, "PGD", _pgd(), seed=7)
    live = LiveState(x_clean=x, label=label)
    seen: list[int] = []
    watched = run_attack_lab(model, x, label, "PGD", _pgd(), seed=7, live=live,
                             on_update=lambda s: seen.append(s.step))
    assert torch.equal(plain.result.x_adv, watched.result.x_adv)  # the same bits with and without watching
    assert live.finished is watched and live.total == 20 and live.step == 19
    # The best iterate is the recorded step with the highest objective, and its logits are that step's.
    losses = torch.stack([r.loss[0] for r in watched.result.trajectory])
    assert live.best_step == int(losses.argmax())
    assert live.best_objective == pytest.approx(float(losses.max()))
    assert torch.allclose(live.best_logits.softmax(1)[0, :5].sort(descending=True).values[:1],
                          watched.result.trajectory[live.best_step].topk_probs[0, :1])
    # It lies in the ε-ball and the box.
    d = live.best_x - x
    assert float(d.abs().max()) <= 8 / 255 + 1e-6 and 0 <= float(live.best_x.min()) and float(live.best_x.max()) <= 1
    # Updates went to the page (never on the last step: the finished result follows).
    assert seen and seen == live.shown_steps and max(seen) < 19


class FakeClock:
    """A clock the test moves: each attack step costs 1 s, each page update ``cost`` s."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("cost", [0.05, 0.5, 3.0])
def test_updates_stay_within_their_budget(cost):
    clock = FakeClock()
    state = LiveState(x_clean=torch.zeros(1, 3, 4, 4), label=0, total=100)

    def draw(s):
        clock.t += cost

    watch = LiveWatch(state, draw, budget=0.1, clock=clock)
    watch.start()
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    for step in range(100):
        clock.t += 1.0  # one attack step
        watch(step, torch.zeros(1, 3, 4, 4), logits, torch.tensor([float(step)]))
    attack_time = clock.t - state.update_s
    # At most 10 % of the attack's own time, plus the first update (its cost is unknown beforehand).
    assert state.update_s <= 0.1 * attack_time + cost + 1e-9
    assert state.updates >= 1
    if cost == 0.05:
        assert state.updates == 99  # cheap updates: steps 0–98, every step but the last (the bound never binds)
    if cost == 3.0:
        assert state.updates <= 4  # 3 s each within 10 % of ~100 s: the first, then at most three more
    # The best iterate follows the objective (which grows every step here).
    assert state.best_step == 99 and state.best_objective == 99.0
    assert state.p_label == pytest.approx(math.exp(2) / (math.exp(2) + math.exp(1) + 1))
    assert state.wrong_class == 1


def test_min_interval_spaces_the_updates_in_time():
    clock = FakeClock()
    state = LiveState(x_clean=torch.zeros(1, 3, 4, 4), label=0, total=100)
    watch = LiveWatch(state, lambda s: None, budget=1.0, clock=clock, min_interval=0.25)
    watch.start()
    for step in range(100):
        clock.t += 0.1  # one attack step; free updates
        watch(step, torch.zeros(1, 3, 4, 4), torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0.0]))
    # 0.3 s after the start, then every 0.3 s (the first step at least 0.25 s after the last update)
    assert state.shown_steps == list(range(2, 99, 3))
    with pytest.raises(ValueError):
        LiveWatch(state, None, min_interval=-1.0)


def test_the_browser_render_cost_is_charged_to_every_update():
    # free updates on the server, 0.1 s each in the browser, 10 % budget: an update fits only once the
    # attack has run 1 s per update (the first one included), so a 1 s attack gets none
    def run(steps: int) -> LiveState:
        clock = FakeClock()
        state = LiveState(x_clean=torch.zeros(1, 3, 4, 4), label=0, total=steps)
        watch = LiveWatch(state, lambda s: None, budget=0.1, clock=clock, render_cost=0.1)
        watch.start()
        for step in range(steps):
            clock.t += 0.125  # one attack step of 1/8 s (exact in binary)
            watch(step, torch.zeros(1, 3, 4, 4), torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0.0]))
        return state

    assert run(8).updates == 0  # a 1 s attack, like PGD-10 in the Attack Lab: no redraw
    # k renders fit once the attack has run k seconds: steps 7, 15, ... (1 s, 2 s, ...), never the last step
    assert run(50).shown_steps == [7, 15, 23, 31, 39, 47]
    with pytest.raises(ValueError):
        LiveWatch(LiveState(x_clean=torch.zeros(1, 3, 4, 4), label=0), None, render_cost=-0.1)


def test_a_stop_leaves_the_best_example_so_far():
    model, x = conv_net(5), images(1, seed=9)
    label = int(model(x).argmax())
    live = LiveState(x_clean=x, label=label)
    calls = {"n": 0}

    def progress(done, total, msg=""):
        calls["n"] += 1
        if calls["n"] == 6:
            raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled):
        run_attack_lab(model, x, label, "PGD", _pgd(30), seed=1, live=live, progress=progress)
    assert not live.done and live.step == 5 and 0 <= live.best_step <= 5
    # The kept example is the best of the six steps seen, computed again from scratch.
    full = make_attack("PGD", _pgd(30)).run(model, x, torch.tensor([label]), seed=1)
    losses = torch.stack([r.loss[0] for r in full.trajectory[:6]])
    assert live.best_step == int(losses.argmax())


def test_the_live_caption_carries_the_step_and_both_confidences():
    # one message per frame (ui/live_attack.py): the picture's caption carries what the text line did
    from ui.live_attack import LIVE_CAPTION, live_caption

    s = LiveState(x_clean=torch.zeros(1, 3, 4, 4), label=1, total=10, step=3, p_label=0.25, wrong_class=2,
                  p_wrong=0.625, best_step=2)
    text = live_caption(s, ["a", "cat *", "dog_x"])
    assert text.startswith(LIVE_CAPTION.format(step=4, total=10))
    assert r"P(true: cat \*) = **25%**" in text and r"P(leading wrong: dog\_x) = **62%**" in text
    assert "best so far: step 3" in text
