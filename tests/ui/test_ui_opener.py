"""Opening things in the window: dropped files, checkpoints loading in the worker, startup errors."""

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PyQt6.QtGui import QDropEvent  # noqa: E402
from ui_helpers import FakeEngine, make_window, settle  # noqa: E402

from explorer.engine.checkpoint import save_generator  # noqa: E402


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
