"""Explorer window extras: class picker, StyleGAN3 transform, noise-detail view, latent-pad
animation, undo coalescing, drag-and-drop, recent list, clipboard, render errors."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PyQt6.QtGui import QDropEvent  # noqa: E402
from ui_helpers import FakeEngine, fake_info  # noqa: E402

from explorer.engine.checkpoint import save_generator  # noqa: E402


def make_window(qtbot, **kw):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(**kw)
    qtbot.addWidget(w)
    return w


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win.last_request is not None and win._shown_id == win.last_request.request_id,
                    timeout=15000)


@pytest.fixture
def tiny_ckpt(tiny_G, tmp_path):
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


@pytest.fixture
def win(qtbot, tiny_ckpt):
    w = make_window(qtbot, checkpoint=tiny_ckpt, device='cpu')
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


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


def test_slider_drag_is_one_undo_step(win):
    start = win.recipe
    for v in range(200, 140, -5):
        win.truncation_panel.psi.slider.setValue(v)
    assert win.recipe.psi == pytest.approx(0.45)
    win.undo()
    assert win.recipe == start


def test_drop_png_restores_recipe_and_drop_checkpoint_loads(qtbot, win, tiny_G, tmp_path):
    win.latent_panel.seed.setValue(12)
    settle(qtbot, win)
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        png = win.exporter.save_png(tmp_path / 'a.png')
    win.latent_panel.seed.setValue(13)

    def drop(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier)
        win.dropEvent(ev)

    drop(png)
    assert win.recipe.seeds == (12,)
    other = save_generator(tiny_G, tmp_path / 'other.pt')
    with qtbot.waitSignal(win.modelLoaded, timeout=15000):
        drop(other)
    assert win.info.name == 'other.pt'
    assert 'other.pt' in win.windowTitle()
    recent = [a.text() for a in win.opener.recent_menu.actions()]
    assert recent[0].endswith('other.pt') and any(t.endswith('tiny.pt') for t in recent)


def test_copy_to_clipboard(qtbot, win):
    from PyQt6.QtWidgets import QApplication
    QApplication.clipboard().clear()
    win.exporter.copy_to_clipboard()         # the exact render of the recipe on screen (in the worker)
    qtbot.waitUntil(lambda: not QApplication.clipboard().image().isNull(), timeout=15000)
    img = QApplication.clipboard().image()
    assert (img.width(), img.height()) == (16, 16)
    assert 'copied' in win.status_label.text()


def test_render_error_shows_in_status_line(qtbot):
    engine = FakeEngine()
    w = make_window(qtbot, engine=engine)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=5000)
        engine.fail_render = 'out of memory'
        with qtbot.waitSignal(w.errorShown, timeout=5000):
            w.latent_panel.seed.setValue(4)
        assert 'out of memory' in w.status_label.text()
        engine.fail_render = None
        w.latent_panel.seed.setValue(5)
        settle(qtbot, w)
        assert 'ms' in w.status_label.text()
    finally:
        w.shutdown()


def test_bad_checkpoint_on_startup_reports_error(qtbot):
    engine = FakeEngine()
    engine.fail_load = 'truncated or corrupt file'
    w = make_window(qtbot, engine=engine, checkpoint='/nowhere/bad.pt')
    try:
        qtbot.waitUntil(lambda: w.last_error_box is not None, timeout=5000)
        assert 'truncated or corrupt file' in w.last_error_box.text()
        assert w.info is None and w.last_request is None
    finally:
        w.shutdown()


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


def test_batch_dialog_seed_choices(qtbot, win):
    from explorer.errors import UserError
    from explorer.ui.batch import BatchDialog
    d = BatchDialog(win, 7)
    qtbot.addWidget(d)
    d.count.setValue(3)
    assert d.seeds() == [7, 8, 9]
    d.use_range.setChecked(True)
    d.range.setText('2-4,10')
    assert d.seeds() == [2, 3, 4, 10]
    d.range.setText('4-2')
    with pytest.raises(UserError):
        d.seeds()


def test_loading_runs_in_worker_with_progress(qtbot):
    engine = FakeEngine()
    real_load = engine.load

    def slow_load(path, progress=None, sha256=None):
        progress(1, 2, 'reading')
        with engine.gate:
            return real_load(path, progress)
    engine.load = slow_load
    engine.gate.acquire()
    w = make_window(qtbot, engine=engine, checkpoint='/models/slow.pt')
    try:
        qtbot.wait(50)                              # the UI keeps running while the worker loads
        assert w.progress_bar.isVisibleTo(w) and w.info is None
        assert 'Loading' in w.status_label.text()
        engine.gate.release()
        qtbot.waitUntil(lambda: w.info is not None, timeout=5000)
        assert not w.progress_bar.isVisibleTo(w)
        assert w.windowTitle() == 'slow.pt — StyleGAN Explorer'
    finally:
        if engine.gate.locked():
            engine.gate.release()
        w.shutdown()


@pytest.mark.parametrize('exact', [True, False])
def test_save_png_into_a_file_as_folder_reports_cleanly(qtbot, win, tmp_path, monkeypatch, exact):
    """QA: Save PNG to 'afile/x.png' showed 'NotADirectoryError: [Errno 20] ...' (worker path) or let the
    OSError escape the slot (exact frame written in place), and left 'Saving …' in the status line."""
    from PyQt6.QtWidgets import QFileDialog
    (tmp_path / 'afile').write_text('')
    target = str(tmp_path / 'afile' / 'x.png')
    monkeypatch.setattr(QFileDialog, 'getSaveFileName', staticmethod(lambda *a, **k: (target, '')))
    if exact:
        win.frame_exact, win.shown_preview, win.frame_recipe = True, False, win._shown_request.recipe
    else:
        win.frame_exact = False
    win.last_error_box = None
    win.exporter.save_png_dialog()
    qtbot.waitUntil(lambda: getattr(win, 'last_error_box', None) is not None, timeout=15000)
    assert win.last_error_box.text() == f'cannot write {target}: Not a directory'
    assert 'Could not save' in win.status_label.text()


def test_exact_frame_on_screen_is_saved_by_the_worker(qtbot, tmp_path, monkeypatch):
    """Save PNG with the exact full frame on screen: no second render, and the file is encoded
    and written on the worker thread, not the UI thread."""
    import threading

    from explorer.engine.png import load_png, read_recipe
    from explorer.workers import render_worker
    threads = []
    real_save = render_worker.save_png

    def save_png(*a, **k):
        threads.append(threading.current_thread())
        return real_save(*a, **k)
    monkeypatch.setattr(render_worker, 'save_png', save_png)
    engine = FakeEngine()
    w = make_window(qtbot, engine=engine)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=5000)
        w.latent_panel.seed.setValue(9)
        settle(qtbot, w)
        assert w.frame_exact and not w.shown_preview and w.frame_recipe.seeds == (9,)
        rendered = len(engine.rendered)
        with qtbot.waitSignal(w.pngSaved, timeout=5000) as saved:
            out = w.exporter.save_png(tmp_path / 'e.png')
        assert saved.args == [str(out), ''] and w.status_label.text() == f'Saved {out}'
        assert len(engine.rendered) == rendered
        assert threads and all(t is not threading.main_thread() for t in threads)
        assert np.array_equal(load_png(out), w.frame) and read_recipe(out)['seeds'] == [9]
    finally:
        w.shutdown()
