"""Layout invariants of figures that had visual glitches: a 0 % bar must still show, a chart title
must not share the top margin with subplot titles, and image-grid captions must fit between rows."""
from __future__ import annotations

import numpy as np
import torch

from core.viz.curves import batch_figure
from core.viz.defenses import defense_comparison_figure, image_grid_figure
from core.viz.dense.segmentation import TITLE_LINE_PX, image_grid


def test_zero_bar_has_a_label_outside_and_a_marker():
    rows = [dict(name="JPEG", p_ref=0.0, correct=False, pred_name="loupe", elapsed_s=0.1),
            dict(name="none", p_ref=0.9, correct=True, pred_name="espresso", elapsed_s=0.2)]
    fig = defense_comparison_figure(rows)
    bar, tick = fig.data
    # the value is P(reference class), the prediction is named apart (not "31 % → consomme")
    assert bar.text[0] == "0%<br>says loupe" and bar.text[1] == "90%<br>says espresso"
    assert tuple(bar.textposition) == ("outside", "inside")
    assert list(tick.y) == [0.0, 0.9] and tick.mode == "markers" and tick.marker.size >= 20
    assert not fig.layout.showlegend


def test_chart_title_clears_subplot_titles():
    titled = image_grid_figure(torch.rand(3, 3, 8, 8), titles=["a", "b", "c"], title="Images")
    assert titled.layout.margin.t >= 70 and titled.layout.title.yref == "container"
    plain = image_grid_figure(torch.rand(2, 3, 8, 8), title="Images")  # no subplot titles
    assert plain.layout.margin.t == 50
    untitled = image_grid_figure(torch.rand(2, 3, 8, 8), titles=["a", "b"])
    assert untitled.layout.margin.t >= 30  # room for the subplot titles themselves
    summary = [dict(defense="none", kind="clean", eps=0.0, accuracy=1.0, success_rate=None),
               dict(defense="none", kind="attack", eps=1 / 255, accuracy=0.5, success_rate=0.5)]
    assert batch_figure(summary, "linf", title="FGSM").layout.margin.t >= 70


def test_image_grid_row_gap_fits_two_line_captions():
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    panels = [("top", img)] * 3 + [("first line<br>second line", img)] * 3
    fig = image_grid(panels, rows=2, height=240)
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    top_row, bottom_row = fig.layout.yaxis.domain, fig.layout.yaxis4.domain
    gap_px = (top_row[0] - bottom_row[1]) * plot_px
    assert gap_px >= 2 * TITLE_LINE_PX  # both caption lines fit below the images of the first row
