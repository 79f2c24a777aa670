"""Entry point of the robustness explorer: page config, navigation, shared sidebar.

Run with ``streamlit run app.py`` (the README's first command does everything).
"""
from __future__ import annotations

import streamlit as st

from ui.tour import shell

st.set_page_config(page_title="Robustness Explorer", page_icon="🛡️", layout="wide")

# One line per page: (file, title, icon). Pages are thin: widgets -> core -> figures.
# They live in views/, not pages/: Streamlit treats a pages/ folder beside the entry point as its
# legacy multipage app and, when a shared link to a sub-page is a fresh server's first request,
# serves that file without running this script (no navigation, tour or presenter mode).
# Icons are Material Symbols, which Streamlit bundles (emoji need a colour-emoji font).
PAGES = [
    ("views/home.py", "Home", ":material/home:"),  # first = the default page: paths into the guided tour
    ("views/attack_lab.py", "Attack Lab", ":material/swords:"),
    ("views/defenses.py", "Defenses", ":material/shield:"),
    ("views/certify.py", "Certify", ":material/verified:"),
    ("views/segmentation.py", "Segmentation", ":material/person:"),
    ("views/saliency.py", "Saliency", ":material/local_fire_department:"),
    ("views/channels.py", "Channels", ":material/bar_chart:"),
    ("views/feature_maps.py", "Feature maps", ":material/grid_view:"),
    ("views/zoo.py", "Model zoo", ":material/pets:"),
    ("views/curves.py", "Robustness curves", ":material/show_chart:"),
    ("views/batch.py", "Batch evaluation", ":material/folder_open:"),
    ("views/audit.py", "Robustness audit", ":material/fact_check:"),
    ("views/glossary.py", "Glossary", ":material/menu_book:"),
]

nav = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES])
shell(nav.url_path)  # shared sidebar: presenter mode; a pending preset for this page; the guided-tour panel
nav.run()
