"""Shareable views: a page's settings live in the URL (``st.query_params``).

A page declares its URL parameters (:class:`UrlParam`: the name in the URL, the widget key it
feeds, the type, the limits) and wraps its widgets::

    url = UrlState("lab", attack_lab_params())
    url.seed()          # first load of the session: URL -> widget values (validated)
    ... widgets ...
    url.write()         # every run: current widget values -> URL
    url.show_notes()    # what was wrong with the URL, once

:meth:`UrlState.seed` runs once per session and page: every parameter present in the URL is
parsed and validated — numbers must be finite and are clamped to the widget's range (which is
bounded by :mod:`core.runtime.limits`), choices must be among the widget's options, lists are cut to
their maximum length, values longer than ``limits.MAX_URL_VALUE_CHARS`` are ignored — and then
written into ``st.session_state[widget_key]`` *before* the widget is created, so the widget
starts from it. A value that cannot be used never raises: the widget keeps its default and the
page shows a warning naming the parameter. :meth:`UrlState.write` puts the current values back,
so the address bar always holds the view and a copied link reopens it (the seed is a parameter,
so the numbers are the same). Parameters whose widget is not shown (``when`` is false) are
removed from the URL. Uploaded files cannot travel in a URL: pages say so
(:func:`share_caption`).

The helpers :func:`image_picker_params`, :func:`model_param` and :func:`attack_picker_params`
describe the widgets of ``ui.common``'s pickers, whose keys are derived from a prefix.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import streamlit as st

from core.runtime import limits
from core.data import safe_text
from core.attacks import ATTACKS, default_threat
from core.defenses import DEFENSES
from core.data.images import list_samples
from core.data.labelled_samples import labelled_samples
from core.models import list_models
from core.attacks.specs import ATTACK_SPECS, EPS_L2_MAX, EPS_LINF_MAX_K, GOALS, AttackParam
from ui.run import pin

Kind = str  # "int", "float", "bool", "choice", "list"
_OPENED_WITH = "_urlstate_opened_with_{}"  # the query parameters the page was opened with
_INT = re.compile(r"^[+-]?\d{1,12}$")


@dataclass(frozen=True)
class UrlParam:
    """One setting in the URL.

    ``key``: the widget's session-state key, or a function of the session state giving it (for
    widgets whose key depends on another setting). ``kind``: ``int``/``float`` (clamped to
    [``lo``, ``hi``], floats rounded to ``grid``), ``bool`` (1/0, true/false, yes/no, on/off),
    ``choice`` (the URL text must equal ``str`` of one of ``choices``; the widget receives the
    option itself), ``list`` (comma-separated items of kind ``item`` with ``choices``/limits,
    at most ``max_items``). ``url_to_widget``/``widget_to_url`` translate between the URL's value
    and the widget's (e.g. "bundled" ↔ "Bundled photo"). ``when``: a function of the session
    state saying whether the parameter applies (its widget is shown).
    """

    name: str
    key: str | Callable[[Mapping[str, Any]], str]
    kind: Kind
    lo: float | None = None
    hi: float | None = None
    grid: float | None = None
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    item: Kind = "float"
    max_items: int = 16
    url_to_widget: Callable[[Any], Any] | None = None
    widget_to_url: Callable[[Any], Any] | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def widget_key(self, state: Mapping[str, Any]) -> str:
        return self.key(state) if callable(self.key) else self.key

    def options(self) -> list[Any]:
        c = self.choices() if callable(self.choices) else self.choices
        return list(c or [])

    def applies(self, state: Mapping[str, Any]) -> bool:
        try:
            return True if self.when is None else bool(self.when(state))
        except Exception:
            return False


class UrlValueError(ValueError):
    """A URL value that cannot be used; the message is shown to the user."""


def _num(raw: str, p: UrlParam, kind: Kind, notes: list[str]) -> float | int:
    text = raw.strip()
    if kind == "int":
        if not _INT.match(text):
            raise UrlValueError("not a whole number")
        v: float | int = int(text)
    else:
        try:
            v = float(text)
        except ValueError:
            raise UrlValueError("not a number") from None
        if not math.isfinite(v):
            raise UrlValueError("not a finite number")
    lo, hi = p.lo, p.hi
    if lo is not None and v < lo:
        notes.append(f"{p.name}={text[:20]} is below {lo:g}; using {lo:g}")
        v = lo
    if hi is not None and v > hi:
        notes.append(f"{p.name}={text[:20]} is above {hi:g}; using {hi:g}")
        v = hi
    if kind == "int":
        return int(v)
    if p.grid:
        base = lo or 0.0
        v = base + round((v - base) / p.grid) * p.grid
        v = round(v, 10)
        if hi is not None:
            v = min(v, hi)
    return float(v)


def _choice(raw: str, options: Sequence[Any]) -> Any:
    for o in options:
        if str(o) == raw:
            return o
    raise UrlValueError("not one of the options")


def parse_value(raw: str, p: UrlParam) -> tuple[Any, list[str]]:
    """The widget value for a URL text, and notes on adjustments (clamping, dropped items).
    Raises :class:`UrlValueError` when the value cannot be used at all."""
    notes: list[str] = []
    if not isinstance(raw, str):
        raise UrlValueError("not text")
    if len(raw) > limits.MAX_URL_VALUE_CHARS:
        raise UrlValueError(f"longer than {limits.MAX_URL_VALUE_CHARS} characters")
    if p.kind in ("int", "float"):
        v: Any = _num(raw, p, p.kind, notes)
    elif p.kind == "bool":
        t = raw.strip().lower()
        if t in ("1", "true", "yes", "on"):
            v = True
        elif t in ("0", "false", "no", "off"):
            v = False
        else:
            raise UrlValueError("not 1/0 or true/false")
    elif p.kind == "choice":
        v = _choice(raw, p.options())
    elif p.kind == "list":
        items = [s.strip() for s in raw.split(",") if s.strip()]
        out: list[Any] = []
        for s in items:
            try:
                if p.item in ("int", "float"):
                    val = _num(s, p, p.item, notes)
                else:
                    val = _choice(s, p.options())
            except UrlValueError as e:
                notes.append(f"{p.name}: item “{s[:20]}” ignored ({e})")
                continue
            if val not in out:
                out.append(val)
        if len(out) > p.max_items:
            notes.append(f"{p.name}: only the first {p.max_items} items are used")
            out = out[: p.max_items]
        if items and not out:
            raise UrlValueError("no usable item")
        v = out
    else:  # pragma: no cover - a programming error in a page's declaration
        raise ValueError(f"unknown kind {p.kind!r}")
    if p.url_to_widget is not None:
        v = p.url_to_widget(v)
    return v, notes


def format_value(v: Any, p: UrlParam) -> str:
    """The URL text of a widget value."""
    if p.widget_to_url is not None:
        v = p.widget_to_url(v)
    if p.kind == "bool":
        return "1" if v else "0"
    if p.kind == "float":
        return f"{float(v):.6g}"
    if p.kind == "int":
        return str(int(v))
    if p.kind == "list":
        return ",".join((f"{float(u):.6g}" if p.item == "float" else str(u)) for u in v)
    return str(v)


class UrlState:
    """The URL parameters of one page (see the module docstring)."""

    def __init__(self, page: str, params: Sequence[UrlParam]) -> None:
        self.page = page
        self.params = list(params)
        self._flag = f"_urlstate_seeded_{page}"
        self._notes_key = f"_urlstate_notes_{page}"

    @property
    def names(self) -> set[str]:
        return {p.name for p in self.params}

    def seed(self) -> list[str]:
        """On the session's first run of this page: URL values → widget state (validated).
        Returns the notes (also kept for :meth:`show_notes`)."""
        state = st.session_state
        if state.get(self._flag):
            return []
        state[self._flag] = True
        notes: list[str] = []
        try:
            qp = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
        except Exception:  # a query string Streamlit could not parse: behave as if empty
            qp = {}
        state[_OPENED_WITH.format(self.page)] = {k: v[-1] for k, v in qp.items() if v and isinstance(v[-1], str)}
        seen: set[str] = set()
        for p in self.params:
            if p.name not in qp or not p.applies(state):
                continue
            values = qp[p.name]
            if not values:
                continue
            raw = values[-1]
            if len(values) > 1 and p.name not in seen:
                notes.append(f"{p.name} was given {len(values)} times; using the last value")
            seen.add(p.name)
            try:
                v, adj = parse_value(raw, p)
            except UrlValueError as e:
                notes.append(f"{p.name}=“{raw[:40]}” ignored ({e}); using the default")
                continue
            except Exception:  # never let a URL crash the page
                notes.append(f"{p.name}=“{raw[:40]}” ignored; using the default")
                continue
            notes.extend(adj)
            key = p.widget_key(state)
            state[key] = v
            pin(key)  # a per-image default (ui.run.input_default) keeps the link's value
        unknown = sorted(set(qp) - self.names)
        if unknown:
            shown = ", ".join(u[:30] for u in unknown[:8])
            notes.append(f"unknown parameter{'s' if len(unknown) > 1 else ''} ignored: {shown}")
        state[self._notes_key] = notes
        return notes

    def current(self) -> dict[str, str]:
        """The URL text of every applicable parameter whose widget has a value."""
        state = st.session_state
        out: dict[str, str] = {}
        for p in self.params:
            if p.name in out or not p.applies(state):
                continue
            key = p.widget_key(state)
            if key in state:
                try:
                    out[p.name] = format_value(state[key], p)
                except Exception:
                    continue
        return out

    def write(self) -> dict[str, str]:
        """Current widget values → URL (only this page's parameters; unknown ones are dropped)."""
        want = self.current()
        try:
            for k in list(st.query_params.keys()):
                if k not in want:
                    del st.query_params[k]
            for k, v in want.items():
                if st.query_params.get_all(k) != [v]:
                    st.query_params[k] = v
        except Exception:  # pragma: no cover - the URL is a convenience, never a failure
            pass
        return want

    def show_notes(self) -> None:
        """A warning listing what was wrong with the URL (once, on the first run)."""
        notes = st.session_state.pop(self._notes_key, None)
        if notes:
            st.warning("Some settings in the link could not be used as given:\n\n"
                       + "\n".join(f"- {safe_text.md(n, max_chars=300)}" for n in notes))  # they quote the URL


def share_caption(uploads: bool = True) -> None:
    """Tell the user the address bar holds the view."""
    st.caption("🔗 The address bar holds this page's settings and seed: copy it to share this view."
               + (" Uploaded files are not part of the link." if uploads else ""))


# --------------------------------------------------------------------------- shared pickers
SOURCE_TO_WIDGET = {"bundled": "Bundled photo", "labelled": "Labelled ImageNet photo", "upload": "Upload"}


def image_picker_params(prefix: str) -> list[UrlParam]:
    """``ui.common.image_picker(prefix)``: source (bundled/labelled/upload) and the photo."""
    return [
        UrlParam("src", f"{prefix}_src", "choice", choices=list(SOURCE_TO_WIDGET),
                 url_to_widget=lambda v: SOURCE_TO_WIDGET[v],
                 widget_to_url=lambda w: {b: a for a, b in SOURCE_TO_WIDGET.items()}.get(w, "bundled")),
        UrlParam("sample", f"{prefix}_sample", "choice", choices=lambda: [s.key for s in list_samples()],
                 when=lambda s: s.get(f"{prefix}_src", "Bundled photo") == "Bundled photo"),
        UrlParam("lsample", f"{prefix}_lsample", "choice",
                 choices=lambda: [s.file for s in labelled_samples("imagenet")],
                 when=lambda s: s.get(f"{prefix}_src") == SOURCE_TO_WIDGET["labelled"]),
    ]


def upload_note(prefix: str) -> None:
    """When the link that *opened* the page said the view used an upload, say that the file is not
    in the link (until a file is uploaded). The URL the page writes itself after an ordinary
    upload also says ``src=upload``; only the link read by :meth:`UrlState.seed` counts."""
    opened_with = st.session_state.get(_OPENED_WITH.format(prefix), {})
    if (st.session_state.get(f"{prefix}_src") == "Upload" and opened_with.get("src") == "upload"
            and st.session_state.get(f"{prefix}_upload") is None):
        st.info("This view was shared with an uploaded image, which a link cannot carry: upload it again "
                "(or switch to a bundled photo). All other settings come from the link.")


def model_param(prefix: str, task: str = "classification", name: str = "model") -> UrlParam:
    """``ui.common.model_picker(prefix)``."""
    return UrlParam(name, f"{prefix}_model", "choice", choices=lambda: [s.name for s in list_models(task)])


def effective_norm(state: Mapping[str, Any], prefix: str, default_attack: str = "PGD") -> str:
    """The norm ``ui.common.attack_picker(prefix)`` uses for the current attack."""
    attack = state.get(f"{prefix}_attack", default_attack)
    if attack not in ATTACKS:
        attack = default_attack
    norms = ATTACKS[attack].norms
    if len(norms) == 1:
        return norms[0]
    norm = state.get(f"{prefix}_norm", default_threat(attack).norm)
    return norm if norm in norms else norms[0]


def attack_picker_params(prefix: str, attacks: Sequence[str] | None = None, num_classes: int = 1000) -> list[UrlParam]:
    """``ui.common.attack_picker(prefix)``: the common settings (attack, norm, ε, goal, target
    class, seed) and every attack-specific one of :data:`core.attacks.specs.ATTACK_SPECS`, each
    applying while its attack (and norm) is chosen; values in the widgets' units (k/255 for L∞)."""
    names = list(attacks or ATTACKS)

    def norm_is(n: str) -> Callable[[Mapping[str, Any]], bool]:
        return lambda s: effective_norm(s, prefix) == n

    out = [
        UrlParam("attack", f"{prefix}_attack", "choice", choices=names),
        UrlParam("norm", f"{prefix}_norm", "choice", choices=["linf", "l2"],
                 when=lambda s: len(ATTACKS.get(s.get(f"{prefix}_attack", "PGD"), ATTACKS["PGD"]).norms) > 1),
        UrlParam("eps", f"{prefix}_eps_linf", "int", lo=0, hi=EPS_LINF_MAX_K, when=norm_is("linf")),
        UrlParam("eps", f"{prefix}_eps_l2", "float", lo=0.0, hi=EPS_L2_MAX, when=norm_is("l2")),
    ]
    # One URL parameter per (widget key): it applies while an attack that has it (for the current
    # norm) is chosen. Attacks sharing a key share its widget, range and URL name.
    seen: dict[str, AttackParam] = {}
    users: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for name in names:
        for p in ATTACK_SPECS[name].params:
            seen.setdefault(p.key, p)
            users.setdefault(p.key, []).append((name, p.norms))
    for k, p in seen.items():
        def applies(s: Mapping[str, Any], who=tuple(users[k])) -> bool:
            attack = s.get(f"{prefix}_attack", "PGD")
            return any(attack == a and effective_norm(s, prefix) in norms for a, norms in who)

        kind = "choice" if p.kind == "choice" else p.kind
        out.append(UrlParam(p.url, f"{prefix}_{p.key}", kind, lo=p.lo, hi=p.hi,
                            grid=p.step if (p.kind == "float" and not p.box) else None,
                            choices=list(p.choices) or None, when=applies))
    out += [
        UrlParam("goal", f"{prefix}_goal", "choice", choices=list(GOALS)),
        UrlParam("target", f"{prefix}_target", "int", lo=0, hi=num_classes - 1,
                 when=lambda s: s.get(f"{prefix}_goal") == "targeted"),
        UrlParam("seed", f"{prefix}_seed", "int", lo=0, hi=2**31 - 1),
    ]
    return out


def attack_lab_params() -> list[UrlParam]:
    """Every URL parameter of the Attack Lab (image, model, attack settings, defense)."""
    return [
        *image_picker_params("lab"),
        model_param("lab"),
        *attack_picker_params("lab"),
        UrlParam("defense", "lab_defense", "choice", choices=["None", *DEFENSES]),
        UrlParam("adaptive", "lab_adaptive", "bool", when=lambda s: s.get("lab_defense", "None") != "None"),
    ]


__all__ = ["UrlParam", "UrlState", "UrlValueError", "attack_lab_params", "attack_picker_params", "effective_norm",
           "format_value", "image_picker_params", "model_param", "parse_value", "share_caption", "upload_note"]
