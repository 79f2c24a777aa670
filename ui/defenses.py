"""Widgets for defenses, built from the declarative ``DEFENSE_PARAMS`` of :mod:`core.defenses`.

``defense_settings(name, model, key)`` renders one defense's settings and returns its keyword
arguments (and preset); ``defense_picker(key, model)`` lets the user choose several defenses
and returns them built. The Attack Lab can reuse both for its defense toggles.
"""
from __future__ import annotations

from typing import Any

import streamlit as st
from torch import nn

from core.defenses import DEFENSE_PARAMS, DEFENSES, Defense, make_defense
from core.defenses.specs import ParamSpec


def slug(name: str) -> str:
    """A widget-key-safe version of a defense name."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v == float("inf"):
        return "∞"
    return str(v)


def param_widget(spec: ParamSpec, model: nn.Module | None, key: str) -> Any:
    """One widget for one ``ParamSpec``; returns the constructor value."""
    k = f"{key}_{spec.name}"
    choices = list(spec.choices)
    if spec.choices_from_model is not None and model is not None:
        try:
            choices = list(spec.choices_from_model(model)) or choices
        except Exception:  # a model without the probing API: keep the static choices
            pass
    if spec.kind in ("int", "k255"):
        v = st.slider(spec.label, int(spec.min), int(spec.max), int(spec.default), int(spec.step or 1), key=k,
                      help=spec.help or None)
    elif spec.kind == "float":
        v = st.slider(spec.label, float(spec.min), float(spec.max), float(spec.default), float(spec.step or 0.01),
                      key=k, help=spec.help or None)
    elif spec.kind == "choice":
        default = spec.default if spec.default in choices else choices[0]
        v = st.selectbox(spec.label, choices, index=choices.index(default), format_func=_fmt, key=k,
                         help=spec.help or None)
    elif spec.kind == "multichoice":
        default = [c for c in spec.default if c in choices]
        v = st.multiselect(spec.label, choices, default=default, key=k, help=spec.help or None)
    else:
        v = st.checkbox(spec.label, bool(spec.default), key=k, help=spec.help or None)
    return spec.to_value(v)


def defense_settings(name: str, model: nn.Module | None, key: str) -> tuple[dict[str, Any], str | None]:
    """The settings widgets of one defense: (constructor keywords, preset or None)."""
    cls = DEFENSES[name]
    preset = None
    if hasattr(cls, "paper_settings"):
        if st.checkbox("Paper settings (slow: ~25 s per image on a CPU)", False, key=f"{key}_paper",
                       help="The paper's eight views, 20 steps, step size 1.0 and its noise."):
            preset = "paper"
    params: dict[str, Any] = {}
    for spec in DEFENSE_PARAMS.get(name, ()):
        if preset == "paper" and spec.name in ("views", "steps", "noise"):
            continue
        params[spec.name] = param_widget(spec, model, key)
    return params, preset


def defense_picker(key: str, model: nn.Module, default: tuple[str, ...] = ("JPEG", "Bit-depth reduction"),
                   label: str = "Defenses to compare") -> dict[str, Defense]:
    """A multiselect of defenses with an expander of settings for each; returns them built
    (settings that a defense rejects are reported and that defense is left out)."""
    return defenses_with_settings(key, model, default, label)[0]


def defenses_with_settings(key: str, model: nn.Module, default: tuple[str, ...] = (),
                           label: str = "Defenses") -> tuple[dict[str, Defense], tuple[tuple[str, tuple], ...]]:
    """:func:`defense_picker` that also returns each built defense's settings as
    ``(name, ((key, value), …))`` for records (a paper preset appears as ``("preset", "paper")``)."""
    names = st.multiselect(label, list(DEFENSES), default=[d for d in default if d in DEFENSES], key=f"{key}_names")
    built: dict[str, Defense] = {}
    record: list[tuple[str, tuple]] = []
    for name in names:
        with st.expander(f"{name} settings"):
            st.caption(DEFENSES[name].summary)
            params, preset = defense_settings(name, model, f"{key}_{slug(name)}")
        try:
            built[name] = make_defense(name, model, preset=preset, **params)
        except (ValueError, KeyError) as e:
            st.error(f"{name}: {e}")
            continue
        items: list[tuple[str, Any]] = list(params.items())
        if preset:
            items.append(("preset", preset))
        record.append((name, tuple(items)))
    return built, tuple(record)
