"""The segmentation page's pixel maps go to the browser as lossless PNGs: decoded, they must be
exactly the map they draw (flipped pixels) or its colour-scale rendering (equivariance error)."""
from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from core.viz.dense.segmentation import (ERROR_COLOURS, ERROR_LUT, FLIP_RGB, error_heatmaps, error_image,
                                   flipped_figure, flipped_map)


def _decoded(trace) -> np.ndarray:
    head, data = trace.source.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_flipped_figure_sends_each_map_pixel_exact_and_small():
    g = torch.Generator().manual_seed(0)
    ref = (torch.rand(1, 1, 256, 256, generator=g) > 0.5).float()
    other = ref.clone()
    other[..., 10:40, 20:30] = 1 - other[..., 10:40, 20:30]  # a block of flips both ways
    fig = flipped_figure(ref, [other, ref], ["attacked", "same"])
    f = flipped_map(ref, other)
    assert (f != 0).sum() == 300 and set(np.unique(f)) <= {-1, 0, 1}
    np.testing.assert_array_equal(_decoded(fig.data[0]), FLIP_RGB[f + 1])
    np.testing.assert_array_equal(_decoded(fig.data[1]), np.broadcast_to(FLIP_RGB[1], (256, 256, 3)))
    gained, lost = int((f > 0).sum()), int((f < 0).sum())
    assert fig.layout.annotations[0].text == f"attacked (+{gained} / −{lost} px)"
    # a noisy reference mask, yet the figure is far below the ~300 KB the value heatmaps took
    assert len(fig.to_json()) < 60_000


def test_error_heatmaps_colour_every_pixel_on_the_shared_scale():
    a = torch.linspace(0, 2, 64 * 64).reshape(1, 64, 64)
    b = torch.zeros(1, 64, 64)
    fig = error_heatmaps([a, b], ["flip", "identity"])
    np.testing.assert_array_equal(_decoded(fig.data[0]), error_image(a[0].numpy(), 2.0))
    assert (_decoded(fig.data[1]) == ERROR_LUT[0]).all()  # zero error: the scale's first colour
    assert tuple(ERROR_LUT[0]) == (0, 0, 4) and tuple(ERROR_LUT[-1]) == (252, 255, 164)
    assert (error_image(np.array([[0.0, 1.0, 2.0, 3.0]]), 2.0)[0] == ERROR_LUT[[0, 128, 255, 255]]).all()
    bar = fig.data[-1]  # the colour bar spans the shared scale
    assert bar.marker.cmin == 0 and bar.marker.cmax == 2.0 and bar.marker.showscale
    assert [c for _, c in bar.marker.colorscale] == [c for _, c in ERROR_COLOURS]
    assert "mean error 1.000" in fig.layout.annotations[0].text


def test_iou_change_figure_values_in_the_hover_and_the_legend_under_the_title():
    from core.viz.dense.segmentation import iou_change_figure

    rows = [{"class": "background", "IoU clean": 0.97, "IoU attacked": 0.5, "change": -0.47, "IoU defended": 0.9},
            {"class": "Coat", "IoU clean": None, "IoU attacked": 0.0, "change": None, "IoU defended": 0.25}]
    fig = iou_change_figure(rows)
    assert [t.name for t in fig.data] == ["clean", "attacked", "defended"]
    assert [list(t.y) for t in fig.data] == [[0.97, 0], [0.5, 0.0], [0.9, 0.25]]
    assert [list(t.customdata) for t in fig.data] == [["0.970", "—"], ["0.500", "0.000"], ["0.900", "0.250"]]
    assert all(t.text is None for t in fig.data)  # no labels on the bars
    # the legend starts at the left edge, above the plot, and the title is above it
    assert fig.layout.legend.x == 0 and fig.layout.legend.yanchor == "bottom" and fig.layout.margin.t >= 60
    # without a defended prediction there are two series
    assert len(iou_change_figure([{k: v for k, v in r.items() if k != "IoU defended"} for r in rows]).data) == 2
