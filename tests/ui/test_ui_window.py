"""Explorer window with a tiny real generator: controls -> RenderRequest, checkpoints,
export -> open recipe, undo/redo, favourites, keyboard."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import Qt  # noqa: E402

from explorer.engine.png import load_png, read_recipe  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402


@pytest.fixture
def win(qtbot, tiny_ckpt):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=tiny_ckpt, device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def settle(qtbot, win):
    """Wait until the newest submitted request is on screen at full resolution (on a loaded
    machine a burst of changes may come back as a preview first; its refine follows)."""
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id and not win.shown_preview,
                    timeout=15000)


def activate(qtbot, win):
    from PyQt6.QtWidgets import QApplication
    win.show()
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)


def r(win) -> Recipe:
    return win.last_request.recipe


def test_window_title_and_status(win):
    assert win.windowTitle() == 'tiny.pt — StyleGAN Explorer'
    assert 'tiny.pt' in win.info_label.text() and '16×16' in win.info_label.text()
    assert 'CPU' in win.info_label.text()
    assert win.frame.shape == (16, 16, 3)
    assert 'ms' in win.status_label.text() and 'fps' in win.status_label.text()


def test_latent_controls_change_request(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(42)
    assert r(win).seeds == (42,) and r(win).seed_weights == (1.0,)
    lp.next_btn.click()
    assert r(win).seeds == (43,)
    lp.prev_btn.click()
    lp.prev_btn.click()
    assert r(win).seeds == (41,)
    lp.random_btn.click()
    assert len(r(win).seeds) == 1
    lp.seed.setValue(5)
    lp.pad.drag_by(-0.25, -0.5)        # drag left/up by pixels -> move +x, +y in seed space
    rec = r(win)
    assert rec.seeds == (5, 6, 105, 106)
    assert rec.seed_weights == pytest.approx((0.375, 0.125, 0.375, 0.125))
    assert sum(rec.seed_weights) == pytest.approx(1.0)
    settle(qtbot, win)
    assert win.frame_recipe == rec


def test_truncation_controls_change_request(win):
    tp = win.truncation_panel
    tp.psi.slider.setValue(tp.psi.slider.value() - 50)
    assert r(win).psi == pytest.approx(0.5)
    tp.preset_07.click()
    assert r(win).psi == pytest.approx(0.7)
    tp.psi.setValue(-1.0)
    assert r(win).psi == -1.0
    tp.preset_1.click()
    assert r(win).psi == 1.0
    n = win.info.num_ws
    assert tp.cutoff.maximum() == n and r(win).cutoff is None
    tp.cutoff.setValue(2)
    assert r(win).cutoff == 2
    tp.cutoff.setValue(n)
    assert r(win).cutoff is None


def test_noise_controls_change_request(qtbot, win):
    npn = win.noise_panel
    npn.mode.setCurrentIndex(2)
    assert r(win).noise_mode == 'none'
    npn.mode.setCurrentIndex(1)
    assert r(win).noise_mode == 'random'
    npn.noise_seed.setValue(9)
    assert r(win).noise_seed == 9
    npn.strength.setValue(1.5)
    assert r(win).noise_strength == 1.5
    assert len(npn.rows) == win.info.num_ws
    npn.rows[1].setValue(0.0)
    assert r(win).layer_noise == (1.0, 0.0) + (1.0,) * (win.info.num_ws - 2)
    npn.rows[2].setValue(2.0)
    assert r(win).layer_noise[1:3] == (0.0, 2.0)
    npn.all_one.click()
    assert r(win).layer_noise is None
    npn.coarse_only.click()
    coarse = set(win.info.group('coarse'))
    assert r(win).layer_noise == tuple(1.0 if i in coarse else 0.0 for i in range(win.info.num_ws))
    npn.all_zero.click()
    assert r(win).layer_noise == (0.0,) * win.info.num_ws
    npn.all_one.click()
    npn.mode.setCurrentIndex(0)
    npn.reroll.click()
    assert r(win).noise_mode == 'random' and r(win).noise_seed == 10
    # Per-layer noise visibly changes the pixels.
    settle(qtbot, win)
    before = win.frame.copy()
    for s in npn.rows:
        if s.isEnabled():
            s.setValue(0.0)
    settle(qtbot, win)
    assert not np.array_equal(before, win.frame)


def test_layer_controls_change_request(qtbot, win):
    lp = win.layers_panel
    n = win.info.num_ws
    assert len(lp.source_combos) == n and len(lp.blend_sliders) == n
    assert lp.grid.itemAtPosition(1, 0).widget().text().strip().startswith('0  4x4')
    lp.seed_before = r(win).seeds[0]
    lp.preset_buttons['coarse'].click()          # no source yet: adds seed + 1
    rec = r(win)
    coarse = win.info.group('coarse')
    assert rec.mix_seeds == (rec.seeds[0] + 1,)
    assert tuple(i for i, s in enumerate(rec.layer_source) if s == 0) == coarse
    lp.blend_sliders[0].setValue(0.25)
    assert r(win).layer_blend[0] == 0.25
    lp.source_combos[n - 1].setCurrentIndex(1)   # last row -> source 1
    assert r(win).layer_source[n - 1] == 0
    lp.mix_spins[0].setValue(77)
    assert r(win).mix_seeds == (77,)
    lp.add_src.click()
    assert len(r(win).mix_seeds) == 2
    lp.source_combos[1].setCurrentIndex(2)
    assert r(win).layer_source[1] == 1
    lp.preset_buttons['none'].click()
    assert set(r(win).layer_source) == {-1}
    lp.preset_source.setCurrentIndex(1)
    lp.preset_buttons['all'].click()
    assert r(win).layer_source == (1,) * n
    lp.remove_source(0)
    assert r(win).mix_seeds == (len(r(win).mix_seeds) and r(win).mix_seeds[0],)
    assert r(win).layer_source == (0,) * n
    settle(qtbot, win)
    assert 'failed' not in win.status_label.text().lower()


def test_bad_checkpoint_keeps_old_model(qtbot, win, tmp_path):
    bad = tmp_path / 'broken.pt'
    bad.write_bytes(b'PK\x03\x04 this is not a real zip')
    old_info, old_title = win.info, win.windowTitle()
    with qtbot.waitSignal(win.errorShown, timeout=15000):
        win.open_checkpoint(str(bad))
    assert win.last_error_box is not None
    assert 'broken.pt' in win.last_error_box.text()
    assert win.info is old_info and win.windowTitle() == old_title
    assert win.engine.info is old_info
    win.last_error_box.close()
    win.latent_panel.seed.setValue(3)   # the old model still renders
    settle(qtbot, win)
    assert win.frame_recipe.seeds == (3,)


def test_export_then_open_recipe_restores_pixels(qtbot, win, tmp_path):
    win.latent_panel.seed.setValue(11)
    win.truncation_panel.psi.setValue(0.7)
    win.noise_panel.mode.setCurrentIndex(1)
    win.noise_panel.noise_seed.setValue(4)
    win.noise_panel.rows[1].setValue(1.7)
    win.layers_panel.preset_buttons['middle'].click()
    settle(qtbot, win)
    wanted_recipe = win.recipe
    # The view may come from the fast path; the PNG holds the pixels of the recipe's synthesis path.
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.rendering import render
    wanted = to_uint8(render(load_generator(win.info.path), wanted_recipe))
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:
        out = win.exporter.save_png(tmp_path / 'x.png')
    assert saved.args == [str(out), '']
    assert np.array_equal(load_png(out), wanted)
    assert read_recipe(out)['checkpoint'] == 'tiny.pt'
    # Change everything, then restore from the PNG.
    win.latent_panel.seed.setValue(99)
    win.truncation_panel.preset_1.click()
    win.noise_panel.mode.setCurrentIndex(0)
    win.layers_panel.preset_buttons['none'].click()
    settle(qtbot, win)
    assert not np.array_equal(win.frame, wanted)
    assert win.opener.open_recipe(out)
    assert win.recipe == wanted_recipe.replace(synthesis='fast')     # the path the file records
    settle(qtbot, win)
    assert win.frame_exact and np.array_equal(win.frame, wanted)      # a restored recipe renders exactly
    # Widgets show the restored state.
    assert win.latent_panel.seed.value() == 11
    assert win.truncation_panel.psi.value() == pytest.approx(0.7)
    assert win.noise_panel.noise_seed.value() == 4


def test_undo_redo(qtbot, win):
    activate(qtbot, win)
    start = win.recipe
    win.latent_panel.seed.setValue(21)
    win.history.break_coalescing()
    win.truncation_panel.preset_07.click()
    assert r(win).psi == pytest.approx(0.7)
    win.view.setFocus()     # (a focused text box keeps Ctrl+Z for its own text undo)
    qtbot.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.recipe.psi == 1.0 and win.recipe.seeds == (21,)
    assert win.truncation_panel.psi.value() == 1.0
    win.undo()
    assert win.recipe == start and win.latent_panel.seed.value() == start.seeds[0]
    qtbot.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.recipe.seeds == (21,)
    win.redo()
    assert win.recipe.psi == pytest.approx(0.7)
    assert r(win) == win.recipe


def test_favourites_star_and_restore(qtbot, win):
    win.latent_panel.seed.setValue(8)
    settle(qtbot, win)
    win.exporter.star_current()
    fav = win.recipe
    qtbot.waitUntil(lambda: win.favourites_panel.list.count() == 1, timeout=15000)   # exact render
    win.latent_panel.seed.setValue(9)
    item = win.favourites_panel.list.item(0)
    assert not item.icon().isNull()
    win.favourites_panel.list.itemClicked.emit(item)
    assert win.recipe == fav and r(win) == fav


def test_keyboard_shortcuts(qtbot, win, monkeypatch, tmp_path):
    activate(qtbot, win)
    win.setFocus()
    win.latent_panel.seed.setValue(30)
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_Right)
    assert r(win).seeds == (31,)
    qtbot.keyClick(win.view, Qt.Key.Key_Left)
    qtbot.keyClick(win.view, Qt.Key.Key_Left)
    assert r(win).seeds == (29,)
    qtbot.keyClick(win.view, Qt.Key.Key_Up)
    assert r(win).seeds == (30,)
    qtbot.keyClick(win.view, Qt.Key.Key_R)
    assert len(r(win).seeds) == 1
    # A focused slider keeps its arrow keys.
    win.controls.setCurrentIndex(0)
    before = r(win).seeds
    win.truncation_panel.psi.slider.setFocus()
    qtbot.keyClick(win.truncation_panel.psi.slider, Qt.Key.Key_Right)
    assert r(win).seeds == before and r(win).psi == pytest.approx(1.01)
    assert win.act_open.shortcut().toString() == 'Ctrl+O'
    assert win.act_undo.shortcut().toString() == 'Ctrl+Z'
    assert 'Ctrl+Shift+Z' in [s.toString() for s in win.act_redo.shortcuts()]
    # S saves the shown frame (the file dialog answered by the test).
    from explorer.ui import exporter
    target = tmp_path / 'pressed_s.png'
    monkeypatch.setattr(exporter.QFileDialog, 'getSaveFileName', lambda *a, **k: (str(target), ''))
    settle(qtbot, win)
    win.view.setFocus()
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        qtbot.keyClick(win.view, Qt.Key.Key_S)
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.rendering import render
    exact = to_uint8(render(load_generator(win.info.path), win.frame_recipe))
    assert target.exists() and np.array_equal(load_png(target), exact)


def test_batch_export_with_progress(qtbot, win, tmp_path):
    win.truncation_panel.preset_07.click()
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as blocker:
        win.batch.export([3, 4, 5], tmp_path / 'batch')
    paths, error = blocker.args
    assert error == '' and len(paths) == 3
    assert read_recipe(paths[0])['psi'] == pytest.approx(0.7)
    assert not win.progress_bar.isVisible()


def test_batch_export_cancel(qtbot, win, tmp_path):
    win.worker.cancel_batch_soon = True
    win.worker.progress.connect(lambda kind, done, total, text: win.batch.cancel() if done >= 1 else None)
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as blocker:
        win.batch.export(list(range(50)), tmp_path / 'batch')
    assert blocker.args[1] == 'cancelled'
    assert len(list((tmp_path / 'batch').glob('*.png'))) < 50
