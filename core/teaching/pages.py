"""The app's pages, in navigation order: one list that ``app.py`` (navigation), the presets and
the guided tour (page keys, titles, files) read.

Each page has a short key that doubles as its widget-key prefix (``"lab"`` → ``lab_model``…).
The files live in ``views/``, not ``pages/``: Streamlit treats a ``pages/`` folder beside the entry
point as its legacy multipage app and, when a shared link to a sub-page is a fresh server's first
request, serves that file without running ``app.py`` (no navigation, tour or presenter mode).
Icons are Material Symbols, which Streamlit bundles (emoji need a colour-emoji font).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    key: str  # widget-key prefix and the presets' page key
    path: str  # the view's file, relative to the project root
    title: str
    icon: str


PAGES: tuple[Page, ...] = (
    Page("home", "views/home.py", "Home", ":material/home:"),  # first = the default page
    Page("lab", "views/attack_lab.py", "Attack Lab", ":material/swords:"),
    Page("def", "views/defenses.py", "Defenses", ":material/shield:"),
    Page("cert", "views/certify.py", "Certify", ":material/verified:"),
    Page("seg", "views/segmentation.py", "Segmentation", ":material/person:"),
    Page("sal", "views/saliency.py", "Saliency", ":material/local_fire_department:"),
    Page("ch", "views/channels.py", "Channels", ":material/bar_chart:"),
    Page("fm", "views/feature_maps.py", "Feature maps", ":material/grid_view:"),
    Page("zoo", "views/zoo.py", "Model zoo", ":material/pets:"),
    Page("cur", "views/curves.py", "Robustness curves", ":material/show_chart:"),
    Page("bat", "views/batch.py", "Batch evaluation", ":material/folder_open:"),
    Page("audit", "views/audit.py", "Robustness audit", ":material/fact_check:"),
    Page("claims", "views/claims.py", "Claims, checked", ":material/gavel:"),
    Page("glossary", "views/glossary.py", "Glossary", ":material/menu_book:"),
)

PAGE_PATHS: dict[str, str] = {p.key: p.path for p in PAGES}
PAGE_TITLES: dict[str, str] = {p.key: p.title for p in PAGES}

__all__ = ["PAGES", "PAGE_PATHS", "PAGE_TITLES", "Page"]
