"""Side-by-side panels and the defended views (JPEG, CIFS-lite) on a tiny model."""
from __future__ import annotations

import pytest
import torch

from core.defenses.cifs_lite import cifs_lite_forward
from core.defenses.transforms import jpeg
from core.explain import defended, saliency, saliency_panels
from explain_tiny import TinyNet, no_hooks_left

torch.set_num_threads(1)


@pytest.fixture()
def setup():
    net = TinyNet(k=4, seed=7).float()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 16, 16, generator=g)
    xa = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return net, x, xa


def test_cifs_lite_view_reproduces_the_defense(setup):
    net, x, xa = setup
    view = defended.defended_view(net, "CIFS-lite (untrained, exploratory)", cifs_temperature=0.5)
    with torch.no_grad():
        torch.testing.assert_close(view.model(xa), cifs_lite_forward(net, xa, 0.5)[0])
    assert view.transform(xa) is xa
    with pytest.raises(RuntimeError):
        view.model.train()
    # Grad-CAM works through the wrapper (the stage API is kept) and leaves no hooks
    m = saliency.gradcam_map(view.model, xa, 1)
    assert m.shape == (1, 16, 16) and no_hooks_left(net)


def test_jpeg_view_and_panels(setup):
    net, x, xa = setup
    view = defended.defended_view(net, "JPEG re-encoding", jpeg_quality=50)
    torch.testing.assert_close(view.transform(xa), jpeg(xa, 50))
    panels = saliency_panels.build_panels(net, x, xa, view, target_mode="own")
    assert [p.key for p in panels] == ["clean", "adversarial", "defended"]
    torch.testing.assert_close(panels[2].image, jpeg(xa, 50))
    with torch.no_grad():
        for p in panels:
            assert p.target == p.pred == int(net(p.image).argmax())
    fixed = saliency_panels.build_panels(net, x, xa, view, target_mode="clean")
    assert {p.target for p in fixed} == {panels[0].pred}
    maps = saliency_panels.panel_maps(panels, "input_x_gradient")
    assert len(maps) == 3 and maps[0].shape == (16, 16)
    rows = saliency_panels.agreement_rows(panels, maps, signed=True, frac=0.2)
    assert [r["compared with clean"] for r in rows] == ["Adversarial", "Defended (JPEG q=50)"]
    same = saliency_panels.agreement_rows(panels[:1] * 2, [maps[0], maps[0]], signed=True)
    assert same[0]["Spearman ρ"] == pytest.approx(1.0) and same[0]["top-10% IoU"] == 1.0
    with pytest.raises(KeyError):
        defended.defended_view(net, "Randomized smoothing")
