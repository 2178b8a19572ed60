"""Mixing grid tab: cells equal single mixes rendered one by one; editing; click opens the mix."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.engine.checkpoint import load_generator, save_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.grid_spec import cell_recipe  # noqa: E402
from explorer.engine.png import load_png
from explorer.engine.rendering import render  # noqa: E402


@pytest.fixture
def win(qtbot, tiny_G, tmp_path):
    ckpt = str(save_generator(tiny_G, tmp_path / 'tiny.pt'))
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
    return len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols)


def test_grid_cells_equal_single_mixes(qtbot, win, tmp_path):
    g = win.grid_panel
    g.set_rows_cols([1, 2], [3, 4, 5])
    g.set_group('middle')
    win.truncation_panel.preset_07.click()
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    spec = win.grid.spec
    assert spec.rows == (1, 2) and spec.cols == (3, 4, 5)
    assert spec.layers == win.info.group('middle') and spec.psi == pytest.approx(0.7)
    G = load_generator(win.ckpt)
    for r, row_seed in enumerate(spec.rows):
        for c, col_seed in enumerate(spec.cols):
            single = to_uint8(render(G, cell_recipe(spec, G.num_ws, row_seed, col_seed)))
            assert np.array_equal(g.tiles[('cell', r, c)], single), (r, c)
    # Headers are the plain faces.
    from explorer.engine.recipe import Recipe
    plain = to_uint8(render(G, Recipe(seeds=(4,), psi=0.7)))
    assert np.array_equal(g.tiles[('col', -1, 1)], plain)
    # Save grid PNG = composed tiles.
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:     # written in the worker
        out = win.grid.save(tmp_path / 'grid.png')
    assert saved.args == [str(out), '']
    img = load_png(out)
    h = G.img_resolution
    assert img.shape == (3 * h, 4 * h, 3)
    assert np.array_equal(img[2 * h:3 * h, 3 * h:4 * h], g.tiles[('cell', 1, 2)])
    # Clicking a cell opens that mix in the main view.
    g.tile_widgets[('cell', 1, 0)].clicked.emit()
    assert win.tabs.currentIndex() == 0
    assert win.recipe.seeds == (2,) and win.recipe.mix_seeds == (3,)
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)
    assert np.array_equal(win.frame, g.tiles[('cell', 1, 0)])


def test_grid_editing_changes_spec(qtbot, win):
    g = win.grid_panel
    win.tabs.setCurrentWidget(g)
    g.set_rows_cols([1], [2])
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    g.add_row.click()
    g.add_col.click()
    assert len(win.grid.spec.rows) == 2 and len(win.grid.spec.cols) == 2
    g.col_spins[0].setValue(40)
    assert win.grid.spec.cols[0] == 40
    g.row_spins[1].setValue(41)
    assert win.grid.spec.rows[1] == 41
    g.del_col.click()
    assert win.grid.spec.cols == (40,)
    g.set_group('custom', '0-1')
    assert win.grid.spec.layers == (0, 1)
    g.set_group('all')
    assert win.grid.spec.layers == tuple(range(win.info.num_ws))
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert set(g.tiles) == {('col', -1, 0), ('row', 0, -1), ('row', 1, -1), ('cell', 0, 0), ('cell', 1, 0)}
    # Sliders still render while on the grid tab, and change the grid's settings.
    win.truncation_panel.psi.setValue(0.5)
    assert win.grid.spec.psi == pytest.approx(0.5)
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)


def test_invalid_custom_layers_clear_the_old_tiles(qtbot, win):
    """An invalid layer range shows its error next to empty tiles, not the previous grid's."""
    from explorer.errors import ExplorerError
    g = win.grid_panel
    g.set_rows_cols([1], [2])
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert all(not w.pixmap().isNull() for w in g.tile_widgets.values())
    g.set_group('custom', '0-99')
    assert 'out of range' in g.status.text()
    assert not g.tiles and all(w.pixmap().isNull() for w in g.tile_widgets.values())
    with pytest.raises(ExplorerError):
        win.grid.image()                # nothing stale to save either
    # Fixing the range renders the grid again.
    g.custom.setText('0-1')
    g.custom.editingFinished.emit()
    assert 'out of range' not in g.status.text()
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert win.grid.spec.layers == (0, 1)
    assert all(not w.pixmap().isNull() for w in g.tile_widgets.values())
