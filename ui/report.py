"""The "Download report" widget: an HTML report and a JSON file of the same numbers.

Any page that computed something can offer a report in three lines (the hook for the other
pages)::

    from core.report import Report
    from ui.report import report_download

    with st.expander("Download report"):
        report_download(lambda: my_report(...), key="mypage_report", file_stem="mypage")

where ``my_report`` builds a :class:`core.viz.report.Report` (settings, seeds, figures, images,
tables, numbers) from the page's stored results. The report is built only when a button is
clicked (Streamlit's deferred download data, on a worker thread: the builder must not call
Streamlit), once per click, and the click does not rerun the page.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable

import streamlit as st

from core.viz.report import Report


def _stem(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")
    return s[:80] or "report"


class _Once:
    """Build the report at most once for both buttons of one page run (thread-safe)."""

    def __init__(self, build: Callable[[], Report]) -> None:
        self.build = build
        self.lock = threading.Lock()
        self.report: Report | None = None

    def get(self) -> Report:
        with self.lock:
            if self.report is None:
                self.report = self.build()
            return self.report


def report_download(build: Callable[[], Report], key: str, file_stem: str = "report") -> None:
    """Two download buttons (HTML report, JSON numbers) whose files are made when clicked."""
    once = _Once(build)
    stem = _stem(file_stem)
    c1, c2 = st.columns(2)
    c1.download_button("⬇️ Report (HTML, opens without the app)", data=lambda: once.get().to_html(),
                       file_name=f"{stem}.html", mime="text/html", key=f"{key}_html", on_click="ignore",
                       width="stretch")
    c2.download_button("⬇️ Numbers (JSON)", data=lambda: once.get().to_json(), file_name=f"{stem}.json",
                       mime="application/json", key=f"{key}_json", on_click="ignore", width="stretch")
    st.caption("The HTML file holds the figures, images, settings, seeds, library versions and device, and "
               "embeds the JSON; the JSON file has the same numbers.")


__all__ = ["report_download"]
