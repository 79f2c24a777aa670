"""Tables for the pages: missing values shown as "—" instead of Streamlit's literal "None"."""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable, Iterable, Sequence

import pandas as pd
import streamlit as st

MISSING = "—"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def show_table(rows: Sequence[dict], *, percent: Iterable[str] = (), decimals: dict[str, int] | None = None,
               key: str | None = None) -> None:
    """``rows`` as a dataframe; columns in ``percent`` as percentages, columns in ``decimals``
    with that many decimals, other floats with four significant digits, a missing value (None,
    NaN) as "—".

    Streamlit's grid draws a missing cell as "None" whatever a Styler's display value says, so a
    column with a missing value is sent as text already formatted; a column without one keeps its
    numbers (sortable) and is formatted for display only."""
    df = pd.DataFrame(list(rows))
    pct = [c for c in percent if c in df.columns]
    fixed = {c: d for c, d in (decimals or {}).items() if c in df.columns}

    def fmt(col: str) -> Callable[[Any], str]:
        if col in pct:
            return lambda v: MISSING if _missing(v) else f"{v:.1%}"
        if col in fixed:
            return lambda v: MISSING if _missing(v) else f"{v:.{fixed[col]}f}"
        if pd.api.types.is_float_dtype(df[col]):
            return lambda v: MISSING if _missing(v) else f"{v:.4g}"
        return lambda v: MISSING if _missing(v) else str(v)

    formats = {}
    for col in df.columns:
        if df[col].map(_missing).any():
            df[col] = df[col].map(fmt(col))
        elif col in pct or col in fixed or pd.api.types.is_float_dtype(df[col]):
            formats[col] = fmt(col)
    st.dataframe(df.style.format(formats), hide_index=True, width="stretch", key=key)


__all__ = ["MISSING", "show_table"]
