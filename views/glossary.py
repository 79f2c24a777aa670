"""Glossary: every term the pages use, with its equation, each under its own anchor
(``glossary#pgd`` opens the page at PGD)."""
from __future__ import annotations

import streamlit as st

from core.teaching.glossary import GLOSSARY, PAGE_TERMS
from core.teaching.presets import PAGE_TITLES

st.title("📖 Glossary")
st.markdown("The terms the pages use, in a few lines each, with the equation where it helps. Every entry has an "
            "anchor: the 📖 links on the pages and in the tour open this page at the term.")

used_on: dict[str, list[str]] = {}
for page, slugs in PAGE_TERMS.items():
    for s in slugs:
        used_on.setdefault(s, []).append(PAGE_TITLES[page])

query = st.text_input("Find a term", "", key="glossary_filter", placeholder="e.g. BPDA, radius, channel").strip().lower()
shown = {s: t for s, t in GLOSSARY.items()
         if not query or query in t.term.lower() or query in t.short.lower() or query in t.body.lower()}
if not shown:
    st.info("No term matches; clear the search box to see them all.")
st.markdown(" · ".join(f"[{t.term.split(' (')[0]}](#{s})" for s, t in shown.items()))

for slug, t in shown.items():
    st.subheader(t.term, anchor=slug, divider="gray")
    st.markdown(f"*{t.short}*")
    st.markdown(t.body)
    if t.latex:
        st.latex(t.latex)
    extra = []
    if t.see:
        extra.append("See also: " + ", ".join(f"[{GLOSSARY[s].term.split(' (')[0]}](#{s})" for s in t.see))
    if slug in used_on:
        extra.append("Used on: " + ", ".join(used_on[slug]))
    if extra:
        st.caption(" · ".join(extra))
