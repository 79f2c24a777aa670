"""Entry point of the robustness explorer: page config, navigation, shared sidebar.

Run with ``streamlit run app.py`` (the README's first command does everything).
"""
from __future__ import annotations

import streamlit as st

from core.teaching.pages import PAGES
from ui import timings
from ui.tour import shell

st.set_page_config(page_title="Robustness Explorer", page_icon="🛡️", layout="wide")

# The page list is core/teaching/pages.py (navigation order, titles, icons). Pages are thin: widgets -> core -> figures.
nav = st.navigation([st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES], expanded=True)  # every page, no "View more"
shell(nav.url_path)  # shared sidebar: presenter mode; a pending preset for this page; the guided-tour panel
with timings.script_run(nav.url_path):  # where the time goes, only for bench/page_latency.py (EXPLORER_TIMINGS)
    nav.run()
