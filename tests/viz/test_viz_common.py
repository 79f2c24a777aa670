"""core/viz/common.py: pictures placed side by side (the Attack Lab's live frames)."""
from __future__ import annotations

import numpy as np
import pytest

from core.viz.common import side_by_side


def test_side_by_side_places_the_pictures_left_to_right_with_a_gap():
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.full((2, 1, 3), 7, np.uint8)
    out = side_by_side(a, b, gap=2, fill=255)
    assert out.shape == (2, 3 + 2 + 1, 3) and out.dtype == np.uint8
    assert (out[:, :3] == 0).all() and (out[:, 3:5] == 255).all() and (out[:, 5:] == 7).all()
    assert np.array_equal(side_by_side(a), a)  # one picture: unchanged


def test_side_by_side_refuses_pictures_of_different_heights():
    with pytest.raises(ValueError, match="same height"):
        side_by_side(np.zeros((2, 2, 3), np.uint8), np.zeros((3, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="at least one"):
        side_by_side()
