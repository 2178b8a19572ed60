"""The latent controls in the window: class picker, StyleGAN3 transform, pad animation."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')
from ui_helpers import FakeEngine, fake_info, make_window, settle  # noqa: E402

from explorer.engine.checkpoint import save_generator  # noqa: E402


def test_class_picker_for_conditional_model(qtbot, tmp_path):
    import torch

    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8)).eval()
    path = save_generator(G, tmp_path / 'cond.pt')
    w = make_window(qtbot, checkpoint=str(path), device='cpu')
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        assert not w.latent_panel.class_box.isHidden()
        assert w.latent_panel.class_combo.count() == 3
        assert w.recipe.class_idx == 0
        first = w.frame.copy()
        w.latent_panel.class_combo.setCurrentIndex(2)
        assert w.last_request.recipe.class_idx == 2
        settle(qtbot, w)
        assert not np.array_equal(first, w.frame)
    finally:
        w.shutdown()


def test_unconditional_model_hides_class_picker(win):
    assert win.latent_panel.class_box.isHidden()
    assert win.latent_panel.transform_box.isHidden()
    assert win.recipe.class_idx is None


def test_stylegan3_transform_controls(qtbot):
    engine = FakeEngine()
    engine.load = lambda path, progress=None, sha256=None: dataclasses.replace(fake_info(), is_stylegan3=True)
    w = make_window(qtbot, engine=engine)
    try:
        qtbot.waitUntil(lambda: w.info is not None, timeout=5000)
        lp = w.latent_panel
        assert not lp.transform_box.isHidden()
        lp.tx.setValue(0.25)
        assert w.last_request.recipe.translate == (0.25, 0.0)
        lp.ty.setValue(-0.5)
        assert w.last_request.recipe.translate == (0.25, -0.5)
        lp.rot.setValue(30)
        assert w.last_request.recipe.rotate == 30.0
    finally:
        w.shutdown()


def test_latent_pad_animation_blends_seeds(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(10)
    lp.speed.setValue(3.0)
    lp.animate.setChecked(True)
    qtbot.waitUntil(lambda: len(win.recipe.seeds) == 4, timeout=5000)
    assert win.recipe.seeds == (10, 11, 110, 111)
    assert 0 < win.recipe.seed_weights[1] < 1
    lp.animate.setChecked(False)
    assert not lp._timer.isActive()
