"""Entry point of the robustness explorer: page config, navigation, shared sidebar.

Run with ``streamlit run app.py`` (the README's first command does everything).
"""
from __future__ import annotations

import streamlit as st

from ui.tour import shell

st.set_page_config(page_title="Robustness Explorer", page_icon="🛡️", layout="wide")

# One line per page: (file, title, icon). Pages are thin: widgets -> core -> figures.
PAGES = [
    ("pages/home.py", "Home", "🏠"),  # first = the default page: paths into the guided tour
    ("pages/attack_lab.py", "Attack Lab", "⚔️"),
    ("pages/defenses.py", "Defenses", "🛡️"),
    ("pages/certify.py", "Certify", "📜"),
    ("pages/segmentation.py", "Segmentation", "👤"),
    ("pages/saliency.py", "Saliency", "🔥"),
    ("pages/channels.py", "Channels", "📊"),
    ("pages/feature_maps.py", "Feature maps", "🧩"),
    ("pages/zoo.py", "Model zoo", "🦓"),
    ("pages/curves.py", "Robustness curves", "📈"),
    ("pages/batch.py", "Batch evaluation", "🗂️"),
    ("pages/glossary.py", "Glossary", "📖"),
]

nav = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES])
shell(nav.url_path)  # shared sidebar: presenter mode; a pending preset for this page; the guided-tour panel
nav.run()
