"""The "show only what the noise adds" view is auto-contrasted (issue 14 item 12).

With a fixed x4 gain on uint8 differences it was almost black on the default model (mean
0.3/255): what noise adds there is a fraction of a grey level. The gain now comes from the
float difference itself (its 99.5th percentile shows white, clamped to 1..1000) and the
view shows the gain it used.
"""


import numpy as np
import pytest
import torch

from explorer.engine.checkpoint import save_generator
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import render
from explorer.engine.session import Session as RenderEngine

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')
from ui_helpers import settle  # noqa: E402

from explorer.engine.checkpoint import save_generator  # noqa: E402


def levels(img):
    return (img[0].float() * 127.5 + 128).clamp(0, 255).permute(1, 2, 0).numpy()


def test_auto_gain_maps_the_percentile_to_white():
    from explorer.engine.view import auto_gain, noise_detail
    rng = np.random.default_rng(0)
    diff = rng.uniform(0, 2.0, size=(64, 64, 3)).astype(np.float32)     # up to 2 levels
    g = auto_gain(diff)
    assert g == pytest.approx(255 / np.percentile(diff, 99.5), rel=1e-5)
    display, used = noise_detail(diff, np.zeros_like(diff))
    assert used == pytest.approx(g)
    assert 0.004 <= (display == 255).mean() <= 0.01                   # the brightest ~0.5% saturate
    assert display.mean() > 60


def test_auto_gain_limits():
    from explorer.engine.view import NOISE_MAX_GAIN, auto_gain, format_gain
    assert auto_gain(np.zeros((8, 8, 3))) == 1.0                        # nothing added: no gain
    assert auto_gain(np.full((8, 8, 3), 1e-5)) == 1.0                   # rounding, not noise
    assert auto_gain(np.full((8, 8, 3), 255.0)) == 1.0                  # strong noise: as it is
    assert auto_gain(np.full((8, 8, 3), 300.0)) == 1.0                  # never attenuates
    assert auto_gain(np.full((8, 8, 3), 0.01)) == NOISE_MAX_GAIN        # clamped
    sparse = np.zeros((64, 64, 3), np.float32)
    sparse[3, 4, 1] = 0.5                                               # detail in one spot only
    assert auto_gain(sparse) == pytest.approx(510.0)
    big = np.random.default_rng(1).uniform(0, 4, size=(1100, 1100, 3)).astype(np.float32)
    assert auto_gain(big) == pytest.approx(255 / np.percentile(big, 99.5), rel=0.01)   # sampled
    assert format_gain(4.0) == '×4' and format_gain(37.4) == '×37' and format_gain(1.54) == '×1.5'


def test_fixed_gain_still_possible():
    from explorer.engine.view import noise_detail
    a = np.full((2, 2, 3), 10.0)
    display, g = noise_detail(a, a - 3, gain=4.0)
    assert g == 4.0 and (display == 12).all()


@pytest.fixture
def faint_G(tiny_G):
    """tiny_G with the faint noise of the default model (a small fraction of a level)."""
    with torch.no_grad():
        for name, p in tiny_G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.002)
    return tiny_G


def test_engine_noise_view_is_visible_for_faint_noise(faint_G, tmp_path):
    eng = RenderEngine('cpu')
    eng.load(save_generator(faint_G, tmp_path / 'faint.pt'))
    recipe = Recipe(seeds=(3,))
    display, frame, t = eng.render_noise_detail(recipe)
    img, plain = render(eng.G, recipe), render(eng.G, recipe.replace(noise_mode='none'))
    diff = np.abs(levels(img) - levels(plain))
    old = np.clip(np.abs(frame.astype(int) - eng.render(recipe.replace(noise_mode='none'), path='exact')[0]) * 4,
                  0, 255)
    assert old.mean() < 5                                   # the old fixed x4 view: black
    assert display.mean() > 20                              # now: plainly visible
    from explorer.engine.view import NOISE_MAX_GAIN, auto_gain
    gain = t['noise_gain']
    assert 1 < gain <= NOISE_MAX_GAIN and gain == pytest.approx(auto_gain(diff), rel=1e-4)
    assert np.abs(display.astype(float) - np.clip(diff * gain, 0, 255)).max() <= 1.0
    assert np.array_equal(frame, eng.render(recipe, path='exact')[0])   # Save PNG keeps the exact image
    assert t['path'] == 'exact' and not t['preview']


def test_engine_noise_view_without_noise_is_black(tiny_G, tmp_path):
    eng = RenderEngine('cpu')
    eng.load(save_generator(tiny_G, tmp_path / 'g.pt'))
    display, _, t = eng.render_noise_detail(Recipe(seeds=(1,), layer_noise=(0.0,) * tiny_G.num_ws))
    assert display.max() == 0 and t.get('noise_gain') == 1.0


def test_window_shows_the_gain(qtbot, faint_G, tmp_path):
    pytest.importorskip('PyQt6')
    pytest.importorskip('pytestqt')
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=str(save_generator(faint_G, tmp_path / 'faint.pt')), device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        npn = w.noise_panel
        assert npn.detail_gain.isHidden()
        npn.show_detail.setChecked(True)
        qtbot.waitUntil(lambda: 'noise detail ×' in w.status_label.text(), timeout=15000)
        assert w.view.frame.mean() > 20
        assert not npn.detail_gain.isHidden() and 'gain ×' in npn.detail_gain.text()
        npn.show_detail.setChecked(False)
        qtbot.waitUntil(lambda: 'noise detail' not in w.status_label.text(), timeout=15000)
        assert npn.detail_gain.isHidden()
    finally:
        w.shutdown()


def test_noise_detail_view(qtbot, win):
    win.noise_panel.show_detail.setChecked(True)
    assert win.last_request.option('view') == 'noise'
    assert win.last_request.recipe == win.recipe      # a view option, not a recipe change
    settle(qtbot, win)
    shown = win.view.frame
    assert not np.array_equal(shown, win.frame)       # the view shows the diff ...
    assert shown.max() > 0
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.rendering import render
    G = load_generator(win.info.path)
    assert np.array_equal(win.frame, to_uint8(render(G, win.recipe)))   # ... Save PNG keeps the image
    win.noise_panel.all_zero.click()
    settle(qtbot, win)
    assert win.view.frame.max() == 0                  # no noise, nothing added
    win.noise_panel.show_detail.setChecked(False)
    assert win.last_request.option('view') is None


def test_learned_noise_strengths_and_zero_warning(qtbot, win, tmp_path):
    from explorer.engine.networks_stylegan2 import Generator
    info = win.info
    assert info.layer_noise_learned[0] == pytest.approx(0.5)      # tiny_G fills 0.5
    assert info.layer_noise_learned[-1] is None                   # torgb takes no noise
    assert win.noise_panel.zero_warning.isHidden()
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8)).eval()   # fresh init: strengths 0
    with qtbot.waitSignal(win.modelLoaded, timeout=15000):
        win.open_checkpoint(str(save_generator(G, tmp_path / 'untrained.pt')))
    assert not win.noise_panel.zero_warning.isHidden()
