"""Stored latents in the Mixing grid tab (issue #16): the Latents list adds one as a row or a
column; the grid shows its name (and a remove button) instead of a seed box and renders its
tiles; a cell opens that mix in Explore (one undo step); a saved grid PNG reopens with it."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

import torch  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.grid_spec import cell_recipe  # noqa: E402
from explorer.engine.rendering import render  # noqa: E402
from explorer.engine.stored_latents import StoredLatent  # noqa: E402
from explorer.ui.panels.grid import LatentHeader  # noqa: E402


def grid_done(win):
    g = win.grid_panel
    return win.grid.spec is not None and len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols)


def stored(G, name='my projection'):
    z = torch.from_numpy(np.random.RandomState(5).randn(1, G.z_dim).astype(np.float32))
    with torch.no_grad():
        w = G.mapping(z, None)[0].numpy()
    return StoredLatent.from_array(w + 0.3 * np.random.RandomState(6).randn(*w.shape).astype(np.float32), name=name)


def test_latent_row_shows_its_name_and_tiles_and_opens_in_explore(qtbot, win, tmp_path):
    G = load_generator(win.info.path)
    lat = stored(G)
    g = win.grid_panel
    g.set_rows_cols([1], [3, 4])
    win.latents_panel.add(lat, select=True)
    win.latents_panel.grid_row_btn.click()
    assert win.tabs.currentWidget() is g
    assert g.rows == [1, lat.ref]
    header = g.row_spins[1]
    assert isinstance(header, LatentHeader) and header.name.text() == 'my projection'
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    spec = win.grid.spec
    assert spec.latents == (lat,)
    for c, col in enumerate(spec.cols):
        single = to_uint8(render(G, cell_recipe(spec, G.num_ws, lat.ref, col)))
        assert np.array_equal(g.tiles[('cell', 1, c)], single), c
    assert not np.array_equal(g.tiles[('row', 1, -1)], g.tiles[('row', 0, -1)])
    # Saved and reopened: the latent comes back as a named row.
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        out = win.grid.save(tmp_path / 'grid.png')
    # A click on a cell of the latent row: that mix in Explore, one undo step.
    before = win.recipe
    g.tile_widgets[('cell', 1, 0)].clicked.emit()
    assert win.tabs.currentIndex() == 0
    assert win.recipe.seeds == (lat.ref,) and win.recipe.mix_seeds == (3,) and win.recipe.latents == (lat,)
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)
    win.undo()
    assert win.recipe == before
    # Its remove button takes it out of the grid.
    win.tabs.setCurrentWidget(g)
    g.row_spins[1].remove.click()
    assert g.rows == [1] and win.grid.spec.latents == ()
    assert not any(isinstance(h, LatentHeader) for h in g.row_spins)
    assert win.opener.open_recipe(out)
    assert g.rows == [1, lat.ref] and isinstance(g.row_spins[1], LatentHeader)
    assert win.grid.spec.latents == (lat,)
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)


def test_latent_column_and_a_latent_of_another_model(qtbot, win):
    G = load_generator(win.info.path)
    lat = stored(G, name='col face')
    g = win.grid_panel
    g.set_rows_cols([2], [3])
    win.latents_panel.add(lat, select=True)
    win.latents_panel.grid_col_btn.click()
    win.latents_panel.grid_col_btn.click()          # not twice
    assert g.cols == [3, lat.ref] and g.col_spins[1].name.text() == 'col face'
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    spec = win.grid.spec
    single = to_uint8(render(G, cell_recipe(spec, G.num_ws, 2, lat.ref)))
    assert np.array_equal(g.tiles[('cell', 0, 1)], single)
    # Removing the only column left turns it into a seed box rather than an empty grid.
    g.col_spins[1].remove.click()
    g.set_rows_cols([2], [lat.ref])
    g.col_spins[0].remove.click()
    assert len(g.cols) == 1 and isinstance(g.cols[0], int)
    # A latent that does not fit the model is one dialog; the grid is unchanged.
    errors = []
    win.show_error = lambda title, text: errors.append(text)
    other = StoredLatent.from_array(np.ones((G.num_ws + 1, G.w_dim), np.float32), name='foreign')
    assert not win.latents.add_to_grid(other, 'row')
    assert errors and 'foreign' in errors[0] and other.ref not in g.rows


def test_batch_export_of_every_stored_latent(qtbot, win, tmp_path):
    from explorer.engine.png import load_png, read_recipe
    from explorer.engine.recipe import Recipe
    from explorer.ui.batch import BatchDialog
    G = load_generator(win.info.path)
    a, b = stored(G, name='face a.npz'), StoredLatent.from_array(np.zeros(G.w_dim, np.float32), name='zero W')
    foreign = StoredLatent.from_array(np.ones((G.num_ws + 1, G.w_dim), np.float32), name='foreign')
    for lat in (a, b, foreign):
        win.latents_panel.add(lat)
    win.apply_changes({'psi': 0.6})
    assert win.batch.stored_latents() == [a, b]         # the one of another model is left out
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as sig:
        assert win.batch.export_latents(tmp_path / 'out') == 2
    paths, error = sig.args
    assert error == '' and sorted(p.name for p in paths) == sorted([f'latent_face_a_{a.key[:8]}.png',
                                                                    f'latent_zero_W_{b.key[:8]}.png'])
    for lat, p in zip((a, b), paths):
        rec = Recipe.from_dict(read_recipe(p))
        assert rec.seeds == (lat.ref,) and rec.latents == (lat,) and rec.psi == pytest.approx(0.6)
        assert np.array_equal(load_png(p), to_uint8(render(G, rec)))
    # The dialog offers it (with the count) and says what seeds do to a stored-latent base.
    dlg = BatchDialog(win, 5, n_latents=2, base_is_latent=True)
    assert dlg.use_latents.isEnabled() and '(2)' in dlg.use_latents.text() and not dlg.base_note.isHidden()
    dlg.close()
    dlg = BatchDialog(win, 5)
    assert not dlg.use_latents.isEnabled() and dlg.base_note.isHidden()
    dlg.close()
