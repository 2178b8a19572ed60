"""Save PNG, copy and star with the exact pixels; writes in the worker."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')
from ui_helpers import FakeEngine, make_window, settle  # noqa: E402


def test_copy_to_clipboard(qtbot, win):
    from PyQt6.QtWidgets import QApplication
    QApplication.clipboard().clear()
    win.exporter.copy_to_clipboard()         # the exact render of the recipe on screen (in the worker)
    qtbot.waitUntil(lambda: not QApplication.clipboard().image().isNull(), timeout=15000)
    img = QApplication.clipboard().image()
    assert (img.width(), img.height()) == (16, 16)
    assert 'copied' in win.status_label.text()


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
    real_save = render_worker.write_image

    def save_png(*a, **k):
        threads.append(threading.current_thread())
        return real_save(*a, **k)
    monkeypatch.setattr(render_worker, 'write_image', save_png)
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


def test_exports_record_their_synthesis_path_and_the_reference_option(qtbot, win, tmp_path, tiny_ckpt):
    """Exports are fast by default and say so in the file ('fast'); File > Reference synthesis for
    exports (remembered in the settings) makes them render with the reference ('ref'). Either
    file re-renders to its own pixels."""
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.png import load_png, read_recipe
    from explorer.engine.recipe import Recipe
    from explorer.engine.rendering import render
    assert win.info.synthesis_path == 'fast' and not win.exporter.reference_exports
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        a = win.exporter.save_png(tmp_path / 'a.png')
    win.exporter.reference_action.setChecked(True)
    assert win.settings.value('export/reference_synthesis', False, type=bool)
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        b = win.exporter.save_png(tmp_path / 'b.png')
    ra, rb = Recipe.from_dict(read_recipe(a)), Recipe.from_dict(read_recipe(b))
    assert (ra.synthesis, rb.synthesis) == ('fast', 'ref')
    G = load_generator(tiny_ckpt, device='cpu')
    assert np.array_equal(load_png(a), to_uint8(render(G, ra)))
    assert np.array_equal(load_png(b), to_uint8(render(G, rb)))
