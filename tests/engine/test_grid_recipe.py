"""A grid PNG carries its grid (rows, cols, layers, psi, ...) and reopens as that grid:
engine round trip, CLI ``mix`` (plain, upscaled, labelled), and File > Open recipe in the GUI."""

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from explorer.engine.grid_spec import GridSpec, compose_grid, grid_export_image, grid_recipe, label_grid
from explorer.engine.png import load_png, read_export_info, read_recipe, save_png
from explorer.errors import UserError


def _tiles(spec, h=16, ch=3):
    rng = np.random.default_rng(0)
    keys = [('col', -1, c) for c in range(len(spec.cols))] + [('row', r, -1) for r in range(len(spec.rows))]
    keys += [('cell', r, c) for r in range(len(spec.rows)) for c in range(len(spec.cols))]
    return {k: rng.integers(0, 256, (h, h, ch), dtype=np.uint8) for k in keys}


def test_grid_recipe_round_trips_through_a_png(tmp_path):
    spec = GridSpec(rows=(1, 2, 4294967295), cols=(4, 5), layers=(0, 1, 3), psi=0.6, cutoff=4, class_idx=None,
                    noise_mode='none', noise_strength=0.5)
    tiles = _tiles(spec)
    out = save_png(tmp_path / 'g.png', compose_grid(spec, tiles, (16, 16, 3)), grid_recipe(spec, '0-1,3', 'm.pt', 'ab'))
    d = read_recipe(out)
    assert d['checkpoint'] == 'm.pt' and d['checkpoint_sha256'] == 'ab' and d['grid']['styles'] == '0-1,3'
    assert GridSpec.from_dict(d['grid']) == spec
    assert read_export_info(out) == {}


@pytest.mark.parametrize('bad', [{'rows': [1]}, {'rows': [], 'cols': [1]}, {'rows': ['x'], 'cols': [1]},
                                 {'rows': [1], 'cols': [2], 'noise_mode': 'loud'}, {'rows': [-1], 'cols': [2]},
                                 [1, 2]])
def test_damaged_grid_settings_are_one_clear_error(bad):
    with pytest.raises(UserError, match='grid'):
        GridSpec.from_dict(bad)


def test_older_gui_grid_pngs_are_read(tmp_path):
    """The GUI used to write only a Python-repr text chunk; such PNGs open as grids too."""
    info = PngImagePlugin.PngInfo()
    info.add_text('stylegan-explorer-grid', str({'rows': (1, 2), 'cols': (3,), 'layers': (0, 1), 'psi': 0.7}))
    Image.new('RGB', (48, 48)).save(tmp_path / 'old.png', pnginfo=info)
    spec = GridSpec.from_dict(read_recipe(tmp_path / 'old.png')['grid'])
    assert spec == GridSpec(rows=(1, 2), cols=(3,), layers=(0, 1), psi=0.7, synthesis='ref')   # old: reference


def test_labels_put_seed_numbers_around_an_unchanged_grid():
    spec = GridSpec(rows=(1, 22), cols=(333, 4444, 5), layers=(0,))
    tiles = _tiles(spec, h=32)
    grid = compose_grid(spec, tiles, (32, 32, 3))
    out = label_grid(grid, spec, 32)
    H, W = out.shape[:2]
    top, left = H - grid.shape[0], W - grid.shape[1]
    assert top > 0 and left > 0
    assert np.array_equal(out[top:, left:], grid)
    dark = out.min(axis=2) < 128
    for c in range(len(spec.cols)):     # some ink above every column, none above the row-face column
        x0 = left + (c + 1) * 32
        assert dark[:top, x0:x0 + 32].any(), c
    assert not dark[:top, left:left + 32].any()
    for r in range(len(spec.rows)):     # and left of every row
        y0 = top + (r + 1) * 32
        assert dark[y0:y0 + 32, :left].any(), r
    # Other seeds, other labels.
    other = label_grid(grid, GridSpec(rows=(7, 8), cols=(9, 10, 11), layers=(0,)), 32)
    assert not np.array_equal(other[:top], out[:top])
    # One-channel models stay one channel.
    assert label_grid(grid[:, :, :1], spec, 32).shape[2] == 1


def test_grid_export_image_upscales_then_labels():
    spec = GridSpec(rows=(1,), cols=(2, 3), layers=(0,))
    tiles = _tiles(spec)
    img, export = grid_export_image(spec, tiles, (16, 16, 3), upscale=2, labels=True)
    assert export == {'upscale': 2, 'resample': 'lanczos', 'native_size': [48, 32], 'labels': True}
    assert img.shape[0] > 64 and img.shape[1] > 96
    plain, export = grid_export_image(spec, tiles, (16, 16, 3))
    assert export == {} and np.array_equal(plain, compose_grid(spec, tiles, (16, 16, 3)))


@pytest.fixture
def ckpt(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


def test_cli_mix_png_holds_the_grid(ckpt, tmp_path, capsys):
    from explorer import cli
    out = tmp_path / 'mix.png'
    assert cli.main(['mix', '--checkpoint', ckpt, '--rows', '1,2', '--cols', '3,4,5', '--styles', 'middle',
                     '--psi', '0.7', '--out', str(out), '--device', 'cpu']) == 0
    d = read_recipe(out)
    spec = GridSpec.from_dict(d['grid'])
    assert spec.rows == (1, 2) and spec.cols == (3, 4, 5) and spec.psi == 0.7 and d['grid']['styles'] == 'middle'
    plain = load_png(out)
    assert plain.shape == (3 * 16, 4 * 16, 3)
    big = tmp_path / 'big.png'
    assert cli.main(['mix', '--checkpoint', ckpt, '--rows', '1,2', '--cols', '3,4,5', '--styles', 'middle',
                     '--psi', '0.7', '--out', str(big), '--upscale', '2', '--labels', '--device', 'cpu']) == 0
    assert GridSpec.from_dict(read_recipe(big)['grid']) == spec
    assert read_export_info(big) == {'upscale': 2, 'resample': 'lanczos', 'native_size': [64, 48], 'labels': True}
    img = load_png(big)
    assert img.shape[0] > 2 * 48 and img.shape[1] > 2 * 64
    capsys.readouterr()


# ------------------------------------------------------------------ GUI
pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')


@pytest.fixture
def win(qtbot, ckpt):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=ckpt, device='cpu')
    qtbot.addWidget(w)
    w.ckpt = ckpt
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def grid_done(win):
    g = win.grid_panel
    return win.grid.spec is not None and len(g.tiles) == g.total_tiles()


@pytest.mark.parametrize('labels', [False, True])
def test_gui_grid_png_reopens_as_the_grid(qtbot, win, tmp_path, labels):
    g = win.grid_panel
    g.set_rows_cols([1, 2], [3, 4])
    g.set_group('custom', '0,2')
    g.psi.setValue(0.55)                       # the grid's own psi
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    spec = win.grid.spec
    assert spec.psi == pytest.approx(0.55) and spec.layers == (0, 2)
    tiles = dict(g.tiles)
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:     # written in the worker
        out = win.grid.save(tmp_path / 'grid.png', labels=labels)
    assert saved.args == [str(out), '']
    assert read_export_info(out).get('labels', False) == labels
    # Change everything, go back to Explore, then open the PNG.
    g.set_rows_cols([9], [8])
    g.set_group('coarse')
    g.follow_explore_psi()
    win.tabs.setCurrentIndex(0)
    assert win.opener.open_recipe(out)
    assert win.last_error_box is None
    assert win.tabs.currentWidget() is g
    assert g.rows == [1, 2] and g.cols == [3, 4] and g.group.currentData() == 'custom'
    assert g.psi.value() == pytest.approx(0.55) and g.psi_own
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert win.grid.spec == spec.replace(synthesis='fast')      # the file records the concrete path
    assert win.recipe.synthesis == 'fast'                       # Explore's, as for a single image
    for k, img in tiles.items():
        assert np.array_equal(g.tiles[k], img), k


def test_gui_opens_a_cli_mix_png(qtbot, win, tmp_path, capsys):
    from explorer import cli
    out = tmp_path / 'mix.png'
    assert cli.main(['mix', '--checkpoint', win.ckpt, '--rows', '5', '--cols', '6,7', '--styles', 'middle',
                     '--psi', '0.8', '--noise-mode', 'none', '--out', str(out), '--device', 'cpu']) == 0
    capsys.readouterr()
    assert win.opener.open_recipe(out)
    assert win.last_error_box is None
    g = win.grid_panel
    assert win.tabs.currentWidget() is g
    assert g.rows == [5] and g.cols == [6, 7] and g.group.currentData() == 'middle'
    assert win.recipe.noise_mode == 'none'
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert win.grid.spec.psi == pytest.approx(0.8) and win.grid.spec.noise_mode == 'none'
    # The GUI re-renders the same pixels the CLI wrote.
    from explorer.engine.grid_spec import compose_grid as compose
    assert np.array_equal(compose(win.grid.spec, g.tiles, g.tiles[('col', -1, 0)].shape), load_png(out))
