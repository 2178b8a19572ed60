"""The Directions panel in the explorer window with a tiny real generator: computing sets in the
worker, sigma sliders -> Recipe.edits (undo, PNG recipe), layer ranges, set files and their
checks, the sweep strip, the set shipped beside a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.engine import directions as D  # noqa: E402
from explorer.engine.checkpoint import load_generator, save_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.png import read_recipe  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import render  # noqa: E402
from explorer.engine.stored_latents import Edit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _window(qtbot, checkpoint):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=checkpoint, device='cpu')
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.frame is not None, timeout=20000)
    return w


@pytest.fixture
def win(qtbot, tiny_ckpt):
    w = _window(qtbot, tiny_ckpt)
    try:
        yield w
    finally:
        w.shutdown()


def compute(qtbot, win, method='sefa', count=5):
    p = win.directions_panel
    p.method.setCurrentIndex(p.method.findData(method))
    p.count.setValue(count)
    with qtbot.waitSignal(win.worker.directionsReady, timeout=20000) as sig:
        p.compute_btn.click()
    assert sig.args[1] == '' and p.dset is not None
    return p


def settle(qtbot, win):
    """Wait until the newest request is on screen at full resolution (the worker skips a request
    equal to the last one it rendered: then the frame shown is already that request's)."""
    def done():
        req, shown = win.last_request, win._shown_request
        return (win._shown_id == req.request_id or (shown is not None and shown.key() == req.key())) \
            and not win.shown_preview
    qtbot.waitUntil(done, timeout=15000)


def test_compute_sefa_in_the_worker_fills_the_list(qtbot, win):
    p = win.directions_panel
    seen = []
    win.worker.progress.connect(lambda kind, done, total, text: seen.append((kind, done, total)))
    p.compute_layers.setCurrentIndex(p.compute_layers.findData('coarse'))
    compute(qtbot, win, 'sefa', 4)
    coarse = win.info.group('coarse')
    assert p.dset.method == 'sefa' and len(p.rows) == 4 and p.dset.layers == coarse
    assert [r.name.text() for r in p.rows] == ['SeFa 0', 'SeFa 1', 'SeFa 2', 'SeFa 3']
    assert any(k == 'directions' and total > 0 for k, _, total in seen), seen
    assert not p.busy and p.progress.isHidden() and p.compute_btn.isEnabled()
    assert p.dset.std is not None and (p.dset.std > 0).all()
    assert p.dset.checkpoint_sha256 == win.info.sha256
    assert all(p.layers_text(k) == 'coarse' for k in range(4))


def test_cancel_stops_pca(qtbot, win):
    p = win.directions_panel
    progressed = []
    win.worker.progress.connect(lambda kind, *a: progressed.append(kind))
    with qtbot.waitSignal(win.worker.directionsReady, timeout=60000) as sig:
        win.directions.compute('pca', None, 5, D.MAX_PCA_SAMPLES)     # far longer than the test
        assert p.busy and not p.cancel_btn.isHidden() and not p.compute_btn.isEnabled()
        qtbot.waitUntil(lambda: 'directions' in progressed, timeout=20000)
        p.cancel_btn.click()
    assert sig.args == [None, 'cancelled']
    assert p.dset is None and not p.rows and 'Cancelled' in p.message.text()
    assert not p.busy and p.progress.isHidden() and p.compute_btn.isEnabled()


def test_slider_edits_the_recipe_in_sigma_units_undo_and_png(qtbot, win, tmp_path):
    p = compute(qtbot, win, 'sefa', 4)
    settle(qtbot, win)
    before = win.frame.copy()
    p.rows[2].value.setValue(1.5)
    (e,) = win.recipe.edits
    assert e.amount == pytest.approx(1.5 * p.dset.std[2])
    assert e.layers == p.dset.layers_of(2) and e.name == 'SeFa 2'
    np.testing.assert_array_equal(e.array(), p.dset.directions[2])
    win.undo()
    assert win.recipe.edits == () and all(r.value.value() == 0 for r in p.rows)
    win.redo()
    assert win.recipe.edits == (e,) and p.rows[2].value.value() == 1.5
    settle(qtbot, win)
    assert win.last_request.recipe.edits == (e,)
    assert np.abs(win.frame.astype(int) - before.astype(int)).max() > 0      # the edit reached the view
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        win.exporter.save_png(tmp_path / 'edited.png')
    assert Recipe.from_dict(read_recipe(tmp_path / 'edited.png')).edits == (e,)
    p.rows[0].value.setValue(-2.0)
    assert len(win.recipe.edits) == 2 and p.rows[2].value.value() == 1.5
    p.rows[2].reset.click()
    assert [x.name for x in win.recipe.edits] == ['SeFa 0'] and p.rows[2].value.value() == 0
    p.reset_all.click()
    assert win.recipe.edits == ()


def test_layer_presets_and_typed_ranges_change_the_edit(qtbot, win):
    p = compute(qtbot, win, 'sefa', 3)
    p.rows[1].value.setValue(1.0)
    assert win.recipe.edits[0].layers == tuple(range(win.info.num_ws))
    combo = p.rows[1].layers
    assert combo.findText('fine') == -1               # a 16 px model has no fine layers: not offered
    combo.textActivated.emit('middle')                # a preset picked from the list
    assert win.recipe.edits[0].layers == win.info.group('middle') == (3, 4, 5)
    assert p.layers_text(1) == 'middle'
    combo.setEditText('0-1,4')
    combo.lineEdit().editingFinished.emit()           # typed and Enter
    assert win.recipe.edits[0].layers == (0, 1, 4)
    combo.setEditText('0-99')
    combo.lineEdit().editingFinished.emit()
    assert 'out of range' in p.message.text() and win.recipe.edits[0].layers == (0, 1, 4)
    assert p.layers_text(1) == '0-1,4'
    p.choose_layers(0, 'coarse')                      # no edit yet: the row remembers it for later
    assert len(win.recipe.edits) == 1
    p.rows[0].value.setValue(0.5)
    assert win.recipe.edits[1].layers == win.info.group('coarse')


def test_sets_of_another_shape_are_refused_and_other_checkpoints_warned(qtbot, win, tmp_path, tiny_G):
    p = compute(qtbot, win, 'sefa', 3)
    old = p.dset
    wide = D.DirectionSet(directions=np.eye(3, 8, dtype=np.float32), layers=(0,), method='pca',
                          names=('a', 'b', 'c'), num_ws=win.info.num_ws)
    wide.save(tmp_path / 'wide.npz')
    assert not p.load_set(tmp_path / 'wide.npz')
    assert 'w_dim 8' in p.message.text() and 'w_dim 16' in p.message.text() and not p.message.isHidden()
    assert p.dset is old and len(p.rows) == 3
    deep = D.DirectionSet(directions=old.directions, layers=(0,), method='pca', names=old.names, num_ws=12)
    deep.save(tmp_path / 'deep.npz')
    assert not p.load_set(tmp_path / 'deep.npz') and '12 style layers' in p.message.text() and p.dset is old
    other = D.sefa(tiny_G, None, num=2, checkpoint_sha256='cd' * 32, std_samples=256)
    other.replace(names=('yaw', 'smile')).save(tmp_path / 'other.npz')
    assert p.load_set(tmp_path / 'other.npz')
    assert 'another checkpoint' in p.message.text()
    assert [r.name.text() for r in p.rows] == ['yaw', 'smile'] and 'other.npz' in p.source_label.text()


def test_renamed_directions_and_layer_choices_are_saved(qtbot, win, tmp_path):
    p = compute(qtbot, win, 'pca', 3)
    p.rows[1].value.setValue(1.0)
    p.rows[1].name.setText('smile')
    p.rows[1].name.editingFinished.emit()
    assert p.dset.names[1] == 'smile' and win.recipe.edits[0].name == 'smile'
    p.choose_layers(2, 'middle')
    p.save_set(tmp_path / 'mine.npz')
    back = D.DirectionSet.load(tmp_path / 'mine.npz')
    assert back.names == ('PC 0', 'smile', 'PC 2') and back.method == 'pca'
    assert back.layers_of(2) == win.info.group('middle') and back.layers_of(0) == tuple(range(win.info.num_ws))
    np.testing.assert_allclose(back.std, p.dset.std)
    p.reset_all.click()
    assert p.load_set(tmp_path / 'mine.npz') and p.message.text() == ''
    assert [r.name.text() for r in p.rows] == ['PC 0', 'smile', 'PC 2'] and p.layers_text(2) == 'middle'


def test_sweep_strip_renders_seven_thumbnails_around_the_current_image(qtbot, win, tiny_ckpt):
    win.show()
    p = compute(qtbot, win, 'sefa', 3)
    win.controls.setCurrentWidget(p)
    win.truncation_panel.psi.setValue(0.8)
    p.rows[1].value.setValue(2.0)               # selects row 1; the sweep replaces this edit
    qtbot.waitUntil(lambda: p.sweep.complete() and p.selected == 1, timeout=30000)
    images = p.sweep.images
    assert len(images) == 7 and 'SeFa 1' in p.sweep.title()
    G = load_generator(tiny_ckpt, device='cpu')
    base = win.recipe.replace(edits=())
    middle = to_uint8(render(G, base))
    assert np.abs(images[3].astype(int) - middle.astype(int)).max() <= 1
    end = base.replace(edits=(Edit.make('SeFa 1', p.dset.vector(1), 3 * p.dset.std[1], p.row_layers[1]),))
    assert np.abs(images[6].astype(int) - to_uint8(render(G, end)).astype(int)).max() <= 1
    assert np.abs(images[0].astype(int) - images[3].astype(int)).mean() > 1
    p.sweep.sigmaClicked.emit(-1.0)             # a click on a thumbnail moves the slider there
    assert win.recipe.edits[0].amount == pytest.approx(-p.dset.std[1])


def test_set_beside_the_checkpoint_loads_with_it(qtbot, tiny_G, tmp_path):
    ckpt = save_generator(tiny_G, tmp_path / 'faces.pt')
    named = D.sefa(tiny_G, None, num=3, std_samples=256)
    named = named.replace(method='named', names=('yaw', 'smile', 'age'), layer_ranges=((0, 1), (2, 3, 4), ()))
    named.save(tmp_path / 'faces_directions.npz')
    w = _window(qtbot, str(ckpt))
    try:
        p = w.directions_panel
        assert p.dset is not None and [r.name.text() for r in p.rows] == ['yaw', 'smile', 'age']
        assert 'faces_directions.npz' in p.source_label.text()
        assert p.layers_text(0) == 'set: 0-1' and p.layers_text(1) == 'set: 2-4' and p.layers_text(2) == 'all'
        p.rows[1].value.setValue(1.0)
        assert w.recipe.edits[0].layers == (2, 3, 4) and w.recipe.edits[0].name == 'smile'
    finally:
        w.shutdown()


def test_model_change_drops_edits_it_cannot_take(qtbot, win, tmp_path):
    from explorer.engine.networks_stylegan2 import Generator
    p = compute(qtbot, win, 'sefa', 2)
    p.rows[0].value.setValue(1.0)
    wider = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                      mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    path = save_generator(wider.eval(), tmp_path / 'w8.pt')
    with qtbot.waitSignal(win.modelLoaded, timeout=20000):
        win.open_checkpoint(str(path))
    assert win.recipe.edits == () and p.dset is None and not p.rows
    settle(qtbot, win)
    assert 'Render failed' not in win.status_label.text()


def test_default_model_opens_with_its_named_directions(qtbot):
    shipped = ROOT / 'checkpoints' / 'portraits64_directions.npz'
    if not shipped.is_file():
        pytest.skip('checkpoints/portraits64_directions.npz is not in this tree')
    w = _window(qtbot, str(ROOT / 'checkpoints' / 'portraits64.pt'))
    try:
        p = w.directions_panel
        expected = D.DirectionSet.load(shipped).names
        assert p.dset is not None and p.dset.method == 'named'
        assert tuple(r.name.text() for r in p.rows) == expected[:len(p.rows)]
        assert p.message.text() == ''           # made on this very checkpoint: no warning
        settle(qtbot, w)
        before = w.frame.copy()
        p.rows[0].value.setValue(2.0)
        settle(qtbot, w)
        assert np.abs(w.frame.astype(int) - before.astype(int)).mean() > 0.5
    finally:
        w.shutdown()


def test_grid_tiles_take_the_recipe_edits(tiny_G):
    from explorer.engine.grid_spec import GridSpec, cell_recipe
    from explorer.engine.mixing import iter_grid
    d = D.sefa(tiny_G, None, num=1, std_samples=0)
    edit = Edit.make('SeFa 0', d.vector(0), 2.5, (0, 1, 2))
    spec = GridSpec(rows=(1, 2), cols=(3,), layers=(3, 4, 5), psi=0.7, edits=(edit,))
    assert GridSpec.from_dict(spec.to_dict()) == spec
    tiles = {(k, r, c): img for k, r, c, img in iter_grid(tiny_G, spec)}
    cell = to_uint8(render(tiny_G, cell_recipe(spec, tiny_G.num_ws, 2, 3)))
    assert cell_recipe(spec, tiny_G.num_ws, 2, 3).edits == (edit,)
    np.testing.assert_array_equal(tiles[('cell', 1, 0)], cell)
    plain = {(k, r, c): img for k, r, c, img in iter_grid(tiny_G, spec.__class__(**{**spec.__dict__, 'edits': ()}))}
    assert np.abs(plain[('cell', 1, 0)].astype(int) - cell.astype(int)).mean() > 1
