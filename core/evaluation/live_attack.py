"""An attack shown while it runs: the current iterate, the best example so far, and updates
whose cost is bounded.

The Attack Lab shows the adversarial image, the amplified perturbation and the model's
confidence in the true and in the leading wrong class *during* the attack, and a Stop keeps the
best example found so far. This module holds the part of that which is not Streamlit:

* :class:`LiveState` — what the attack has found so far for image 0: the latest iterate and its
  probabilities, the best iterate (highest attack objective: for an untargeted attack the
  cross-entropy of the true class; for a targeted one minus that of the target) with its logits
  and step, and, once the run ends, the finished :class:`core.evaluation.lab.LabRun`. A page keeps it as
  its partial result, so a Stop leaves the best example on the page.
* :class:`LiveWatch` — the :data:`core.attacks.base.StepWatch` an attack calls after every step.
  It updates the state at every step (a clone of the iterate only when it improves the best),
  and calls the page's ``on_update`` only while the time spent in updates stays within
  ``budget`` (10 %) of the attack's elapsed time: an update is started only when the updates so
  far plus the last update's cost fit in ``budget`` × elapsed. So updates cost at most 10 % of
  the attack (plus, at worst, the very first update), however slow drawing is, and a fast model
  gets frequent updates. ``render_cost`` is what an update costs the attack beyond its own time
  and that the server cannot measure: in a browser page, every update is a page render on the
  machine the attack runs on (the Attack Lab charges 0.05 s, ui/live_attack.py). It is charged to
  every update, the first included, so with it the bound holds for the whole update and nothing
  is redrawn in the attack's first render_cost / budget seconds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import torch

UPDATE_BUDGET = 0.10  # the share of the attack's time that live updates may take


@dataclass
class LiveState:
    """The attack's progress on image 0 (see the module docstring). Tensors are on the CPU."""

    x_clean: torch.Tensor  # (1, C, H, W)
    label: int
    total: int = 0  # steps the attack will take
    step: int = -1  # the last step seen (0-based)
    x_current: torch.Tensor | None = None
    p_label: float = math.nan  # the model's probability of the label, current iterate
    wrong_class: int = -1  # the most likely class other than the label, current iterate
    p_wrong: float = math.nan
    best_x: torch.Tensor | None = None
    best_step: int = -1
    best_objective: float = -math.inf
    best_logits: torch.Tensor | None = None  # (1, classes)
    updates: int = 0  # how often on_update ran
    update_s: float = 0.0  # time spent in on_update
    attack_s: float = 0.0  # the attack's elapsed time at the last step
    shown_steps: list[int] = field(default_factory=list)  # the steps on_update showed
    finished: Any = None  # the LabRun once the run has ended

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def best_p_label(self) -> float:
        return float(self.best_logits.softmax(1)[0, self.label]) if self.best_logits is not None else math.nan


class Throttle:
    """The rule that bounds live updates (see the module docstring): an update is due only when the
    updates so far, each charged ``render_cost`` on top of its own time, plus the last update's cost fit
    in ``budget`` × the work's elapsed time (the updates' time excluded), and at least ``min_interval``
    after the last one ended. Used by :class:`LiveWatch` and by any other page that shows work while it
    runs (the few-shot task's attack)."""

    def __init__(self, budget: float = UPDATE_BUDGET, clock: Callable[[], float] = time.perf_counter,
                 min_interval: float = 0.0, render_cost: float = 0.0) -> None:
        if not 0 < budget <= 1:
            raise ValueError("budget must be in (0, 1]")
        if not min_interval >= 0:
            raise ValueError("min_interval must be >= 0 seconds")
        if not render_cost >= 0:
            raise ValueError("render_cost must be >= 0 seconds")
        self.budget, self.clock = float(budget), clock
        self.min_interval, self.render_cost = float(min_interval), float(render_cost)
        self.t0: float | None = None
        self.spent = 0.0  # seconds spent in updates
        self.count = 0  # updates made
        self.last_cost = 0.0
        self.last_shown: float | None = None  # when the last update ended (the start before the first)

    def start(self) -> None:
        self.t0 = self.last_shown = self.clock()

    def elapsed(self, now: float | None = None) -> float:
        if self.t0 is None:
            self.start()
        return (self.clock() if now is None else now) - self.t0

    def due(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        work = self.elapsed(now) - self.spent
        if self.spent + self.count * self.render_cost + self.last_cost + self.render_cost > self.budget * work:
            return False
        return not (self.min_interval and now - self.last_shown < self.min_interval)

    def run(self, update: Callable[[], None]) -> float:
        """Make one update and charge its cost; returns the cost in seconds."""
        t = self.clock()
        update()
        self.last_shown = self.clock()
        self.last_cost = self.last_shown - t
        self.spent += self.last_cost
        self.count += 1
        return self.last_cost


class LiveWatch:
    """The step callback that fills a :class:`LiveState` and calls ``on_update`` within budget
    (:class:`Throttle`)."""

    def __init__(self, state: LiveState, on_update: Callable[[LiveState], None] | None = None,
                 budget: float = UPDATE_BUDGET, clock: Callable[[], float] = time.perf_counter,
                 min_interval: float = 0.0, render_cost: float = 0.0) -> None:
        self.throttle = Throttle(budget, clock, min_interval, render_cost)
        self.state, self.on_update, self.clock = state, on_update, clock

    def start(self) -> None:
        """Mark the start of the attack (called by :func:`core.evaluation.lab.run_attack_lab`)."""
        self.throttle.start()

    def __call__(self, step: int, x_iter: torch.Tensor, logits: torch.Tensor, objective: torch.Tensor) -> None:
        s = self.state
        if self.throttle.t0 is None:
            self.start()
        with torch.no_grad():
            x0 = x_iter[:1].detach().float().cpu()
            lg = logits[:1].detach().float().cpu()
            p = lg.softmax(1)[0]
            others = p.clone()
            others[s.label] = -1.0
            s.step, s.x_current = int(step), x0
            s.p_label, s.wrong_class, s.p_wrong = float(p[s.label]), int(others.argmax()), float(others.max())
            obj = float(objective[:1].detach().float().cpu()[0])
            if obj > s.best_objective or s.best_x is None:
                s.best_objective, s.best_x, s.best_step, s.best_logits = obj, x0.clone(), int(step), lg.clone()
        now = self.clock()
        s.attack_s = self.throttle.elapsed(now)
        if self.on_update is None or (s.total and step >= s.total - 1):
            return  # the last step: the finished result is drawn next
        if not self.throttle.due(now):
            return
        self.throttle.run(lambda: self.on_update(s))
        s.update_s, s.updates = self.throttle.spent, self.throttle.count
        s.shown_steps.append(int(step))


__all__ = ["LiveState", "LiveWatch", "Throttle", "UPDATE_BUDGET"]
