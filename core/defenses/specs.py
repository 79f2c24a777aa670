"""Declarative descriptions of each defense's settings, so that any page (the Defenses page,
the Attack Lab's toggles) can render widgets for them without knowing the defense."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable

ParamKind = Literal["int", "float", "k255", "choice", "multichoice", "bool"]


@dataclass(frozen=True)
class ParamSpec:
    """One constructor keyword of a defense.

    ``kind``: ``int``/``float`` (slider from ``min`` to ``max`` by ``step``), ``k255`` (a value in
    [0, 1] shown as k/255; ``default``/``min``/``max``/``step`` are in k units), ``choice`` (one of
    ``choices``), ``multichoice`` (a tuple of ``choices``), ``bool``. ``choices_from_model``,
    when given, computes the choices from the model (e.g. its stage names).
    """

    name: str
    label: str
    kind: ParamKind
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple = ()
    help: str = ""
    choices_from_model: Callable[[Any], list] | None = None

    def to_value(self, widget_value: Any) -> Any:
        """The constructor value for a widget's value (k/255 → [0, 1] scale, lists → tuples)."""
        if self.kind == "k255":
            return float(widget_value) / 255
        if self.kind == "multichoice":
            return tuple(widget_value)
        if self.kind == "int":
            return int(widget_value)
        if self.kind == "float":
            return float(widget_value)
        return widget_value

    def default_value(self) -> Any:
        return self.to_value(self.default)
