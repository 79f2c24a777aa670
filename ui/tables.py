"""Tables for the pages: missing values shown as "—" instead of Streamlit's literal "None"."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd
import streamlit as st

MISSING = "—"


def show_table(rows: Sequence[dict], *, percent: Iterable[str] = (), key: str | None = None) -> None:
    """``rows`` as a dataframe; columns in ``percent`` as percentages; a missing value (None,
    NaN) as "—". The formatting is display-only: the table's data keeps its numbers."""
    df = pd.DataFrame(list(rows))
    pct = [c for c in percent if c in df.columns]
    floats = [c for c in df.columns if c not in pct and pd.api.types.is_float_dtype(df[c])]
    styler = df.style.format(na_rep=MISSING).format(
        {**{c: (lambda v: MISSING if pd.isna(v) else f"{v:.4g}") for c in floats},
         **{c: (lambda v: MISSING if pd.isna(v) else f"{v:.1%}") for c in pct}})
    st.dataframe(styler, hide_index=True, width="stretch", key=key)


__all__ = ["MISSING", "show_table"]
