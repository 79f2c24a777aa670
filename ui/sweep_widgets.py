"""Widgets shared by the Robustness curves and Batch evaluation pages: lists of numbers typed as
text, and a defense multiselect that also returns the settings."""
from __future__ import annotations

import math

import streamlit as st
from torch import nn

from core.defenses import Defense
from ui.defenses import defenses_with_settings


def parse_numbers(text: str, lo: float, hi: float, max_items: int) -> tuple[list[float], list[str]]:
    """Comma- or space-separated numbers → sorted distinct values clamped to [lo, hi] (at most
    ``max_items``), and a note for everything dropped or changed."""
    notes: list[str] = []
    vals: list[float] = []
    for part in str(text).replace(";", ",").replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = float(part)
        except ValueError:
            notes.append(f"“{part[:20]}” is not a number")
            continue
        if not math.isfinite(v):
            notes.append(f"“{part[:20]}” is not a finite number")
            continue
        if v < lo or v > hi:
            notes.append(f"{v:g} is outside {lo:g}…{hi:g}; using {min(max(v, lo), hi):g}")
            v = min(max(v, lo), hi)
        if v not in vals:
            vals.append(v)
    vals.sort()
    if len(vals) > max_items:
        notes.append(f"only the first {max_items} values are used")
        vals = vals[:max_items]
    return vals, notes


def format_numbers(vals: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in vals)


def numbers_input(label: str, key: str, default: str, lo: float, hi: float, max_items: int,
                  help: str | None = None) -> list[float]:
    """A text box for a list of numbers; problems are shown under it."""
    text = st.text_input(label, default, key=key, help=help, max_chars=400)
    vals, notes = parse_numbers(text, lo, hi, max_items)
    if notes:
        st.caption("⚠️ " + "; ".join(notes) + ".")
    return vals


def defenses_input(key: str, model: nn.Module, default: tuple[str, ...] = (),
                   label: str = "Defenses") -> tuple[dict[str, Defense], tuple[tuple[str, tuple], ...]]:
    """A multiselect of defenses with their settings: (built defenses, their settings for records);
    :func:`ui.defenses.defenses_with_settings`."""
    return defenses_with_settings(key, model, default, label)


__all__ = ["defenses_input", "format_numbers", "numbers_input", "parse_numbers"]
