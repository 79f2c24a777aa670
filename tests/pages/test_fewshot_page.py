"""The Segmentation page's few-shot task driven headless with Streamlit's AppTest."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.train.fewshot import weights_path

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "segmentation.py")


@pytest.mark.skipif(not weights_path("proto", 0).exists(), reason="few-shot weights not shipped")
def test_fewshot_task_attacks_an_episode_and_shows_dice_per_model():
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.radio(key="seg_task").set_value("fewshot").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1  # the episode: support and query
    at.selectbox(key="seg_fs_episode").set_value(4).run()
    at.selectbox(key="seg_fs_attack").set_value("Dense PGD").run()
    at.slider(key="seg_fs_steps").set_value(5).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # the episode and the per-model grid
    table = at.dataframe[0].value
    assert "Prototype CNN (PANet-style)" in set(table["model"])
    assert table["clean Dice"].between(0, 1).all() and table["attacked Dice"].between(0, 1).all()
    # the standard CNN on this episode: the attack does not raise its Dice
    row = table[table["model"] == "Prototype CNN (PANet-style)"].iloc[0]
    assert row["attacked Dice"] <= row["clean Dice"] + 1e-6


@pytest.mark.skipif(not weights_path("proto", 0).exists(), reason="few-shot weights not shipped")
def test_fewshot_task_with_a_support_from_another_scene_and_a_drawn_box():
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.radio(key="seg_task").set_value("fewshot").run()
    at.selectbox(key="seg_fs_episode").set_value(4).run()
    at.selectbox(key="seg_fs_support_4").set_value(1).run()  # another scene of the same class
    at.radio(key="seg_fs_mask").set_value("a box I draw").run()
    assert not at.exception, at.exception
    at.slider(key="seg_fs_rows_4_1").set_value((10, 10)).run()  # an empty box: a clear error, no crash
    assert not at.exception, at.exception
    assert any("Widen the box" in e.value for e in at.error)
    at.slider(key="seg_fs_rows_4_1").set_value((8, 40)).run()
    at.selectbox(key="seg_fs_attack").set_value("Dense PGD").run()
    at.slider(key="seg_fs_steps").set_value(5).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["clean Dice"].between(0, 1).all() and table["attacked Dice"].between(0, 1).all()
