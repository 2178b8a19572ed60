"""Upscaled PNG export: Lanczos x2/x4/x8, recorded beside the recipe; the recipe stays native."""

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.engine.png import check_upscale, load_png, read_export_info, read_recipe, save_png, upscale_image
from explorer.engine.recipe import Recipe
from explorer.errors import UserError


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('factor', [2, 4, 8])
def test_save_png_upscaled_is_lanczos_and_recipe_stays_native(tmp_path, factor):
    px = _pixels((16, 12, 3))
    rec = Recipe(seeds=(7,), psi=0.7).to_dict()
    out = save_png(tmp_path / 'x.png', px, rec, upscale=factor)
    with Image.open(out) as im:
        assert im.mode == 'RGB' and im.size == (12 * factor, 16 * factor)
    want = np.asarray(Image.fromarray(px).resize((12 * factor, 16 * factor), Image.Resampling.LANCZOS))
    assert np.array_equal(load_png(out), want)
    assert read_recipe(out) == rec                      # re-rendering it gives the native image
    assert Recipe.from_dict(read_recipe(out)) == Recipe(seeds=(7,), psi=0.7)
    info = read_export_info(out)
    assert info == {'upscale': factor, 'resample': 'lanczos', 'native_size': [12, 16]}


def test_native_png_has_no_export_record_and_keeps_exact_pixels(tmp_path):
    px = _pixels((8, 8, 3), 1)
    out = save_png(tmp_path / 'n.png', px, Recipe().to_dict())
    assert read_export_info(out) == {}
    assert np.array_equal(load_png(out), px)


def test_one_channel_upscale_stays_grey(tmp_path):
    px = _pixels((8, 8, 1), 2)
    big = upscale_image(px, 2)
    assert big.shape == (16, 16, 1)
    out = save_png(tmp_path / 'l.png', px, Recipe().to_dict(), upscale=2)
    with Image.open(out) as im:
        assert im.mode == 'L' and im.size == (16, 16)


@pytest.mark.parametrize('bad', [0, -2, 3.5, 17, 'x'])
def test_bad_upscale_is_one_clear_error(bad):
    with pytest.raises(UserError, match='upscale'):
        check_upscale(bad)


def test_cli_render_upscale(tmp_path, capsys):
    from explorer import cli
    from explorer.engine.checkpoint import load_generator, save_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.networks_stylegan2 import Generator
    from explorer.engine.rendering import render
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    ckpt = save_generator(G, tmp_path / 'tiny.pt')
    assert cli.main(['render', '--checkpoint', str(ckpt), '--seeds', '3', '--psi', '0.7', '--upscale', '4',
                     '--outdir', str(tmp_path / 'out'), '--device', 'cpu']) == 0
    out = tmp_path / 'out' / 'seed0003.png'
    img = load_png(out)
    assert img.shape == (64, 64, 3)
    rec = Recipe.from_dict(read_recipe(out))
    assert rec.seeds == (3,) and rec.psi == 0.7
    native = to_uint8(render(load_generator(ckpt), rec))
    assert native.shape == (16, 16, 3)
    assert np.array_equal(img, upscale_image(native, 4))
    assert read_export_info(out)['upscale'] == 4
    with pytest.raises(SystemExit) as e:
        cli.main(['render', '--checkpoint', str(ckpt), '--seeds', '3', '--upscale', '3', '--outdir', str(tmp_path)])
    assert e.value.code == 2
    capsys.readouterr()


# ------------------------------------------------------------------ GUI
@pytest.fixture
def win(qtbot, tiny_G, tmp_path):
    pytest.importorskip('PyQt6')
    pytest.importorskip('pytestqt')
    from explorer.engine.checkpoint import save_generator
    from explorer.ui.main_window import MainWindow
    ckpt = str(save_generator(tiny_G, tmp_path / 'tiny.pt'))
    w = MainWindow(checkpoint=ckpt, device='cpu')
    qtbot.addWidget(w)
    w.ckpt = ckpt
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def test_gui_save_png_export_size(qtbot, win, tmp_path):
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.rendering import render
    win.latent_panel.step_seed(+1)
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)
    assert win.exporter.upscale == 1
    win.exporter.size_actions[4].trigger()           # File > Export size > x4
    assert win.exporter.upscale == 4 and int(win.settings.value('export/upscale')) == 4
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as sig:
        win.exporter.save_png(tmp_path / 'big.png')
    assert sig.args[1] == ''
    img = load_png(tmp_path / 'big.png')
    assert img.shape == (64, 64, 3)
    rec = Recipe.from_dict(read_recipe(tmp_path / 'big.png'))
    assert rec.seeds == win.recipe.seeds
    native = to_uint8(render(load_generator(win.ckpt), rec))
    assert np.array_equal(img, upscale_image(native, 4))
    assert read_export_info(tmp_path / 'big.png')['upscale'] == 4
    # Native again: the exact pixels of the render.
    win.exporter.set_upscale(1)
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        win.exporter.save_png(tmp_path / 'native.png')
    assert np.array_equal(load_png(tmp_path / 'native.png'), native)
    assert read_export_info(tmp_path / 'native.png') == {}


def test_gui_batch_export_size(qtbot, win, tmp_path):
    from explorer.ui.batch import BatchDialog
    win.exporter.set_upscale(8)
    dlg = BatchDialog(win, 3, win.exporter.upscale)
    assert dlg.size.currentData() == 8
    dlg.size.setCurrentIndex(dlg.size.findData(2))
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as sig:
        win.batch.export([3, 4], tmp_path / 'out', dlg.size.currentData())
    paths, error = sig.args
    assert error == '' and len(paths) == 2
    for p in paths:
        assert load_png(p).shape == (32, 32, 3)
        assert read_export_info(p)['upscale'] == 2
        assert 'export' not in read_recipe(p)
    dlg.deleteLater()
