"""Nothing stale on screen: a red error line gives way to the next normal status line, a
new training run starts with an empty preview and speed line, and a bad seed range in Batch
export is reported inside the dialog, which stays open with the input."""

from __future__ import annotations

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from ui_helpers import FakeEngine, make_window, settle  # noqa: E402


@pytest.fixture
def win(fake_win):
    return fake_win


def is_red(label) -> bool:
    return '#d33' in label.styleSheet()


def fail_a_load(qtbot, win):
    win.engine.fail_load = 'not a checkpoint'
    with qtbot.waitSignal(win.errorShown, timeout=10000):
        win.open_checkpoint('/tmp/broken.pt')
    win.last_error_box.close()
    win.engine.fail_load = None
    assert is_red(win.status_label) and 'Could not load' in win.status_label.text()


def test_batch_export_status_is_not_red_after_a_failed_load(qtbot, win, tmp_path):
    fail_a_load(qtbot, win)
    with qtbot.waitSignal(win.worker.batchFinished, timeout=10000):
        win.batch.export([1, 2], str(tmp_path))
    assert 'Batch export' in win.status_label.text() and not is_red(win.status_label)


def test_a_render_clears_the_red_line(qtbot, win):
    fail_a_load(qtbot, win)
    with qtbot.waitSignal(win.frameShown, timeout=10000):
        win.latent_panel.seed.setValue(7)
    assert not is_red(win.status_label) and 'Render' in win.status_label.text()


def test_batch_dialog_keeps_a_bad_range_and_says_why(qtbot, win):
    from explorer.ui.batch import BatchDialog
    dlg = BatchDialog(win, 5)
    qtbot.addWidget(dlg)
    dlg.open()
    dlg.range.setText('12-3')
    dlg.use_range.setChecked(True)
    dlg.accept()
    assert dlg.isVisible() and dlg.result() != dlg.DialogCode.Accepted
    assert dlg.error.isVisible() and 'backwards' in dlg.error.text()
    assert dlg.range.text() == '12-3'
    dlg.outdir.setText('  ')
    dlg.range.setText('3-5')
    dlg.accept()
    assert dlg.isVisible() and 'output folder' in dlg.error.text()
    dlg.outdir.setText('/tmp/out')
    dlg.accept()
    assert not dlg.isVisible() and dlg.result() == dlg.DialogCode.Accepted and dlg.seeds() == [3, 4, 5]


def test_new_run_starts_without_the_old_preview_and_speed_line(qtbot, tmp_path, one_thread):
    import numpy as np

    from explorer.ui.app import make_app
    make_app()
    from explorer.training.jobs import TrainingJob
    from explorer.ui.training_panel import TrainingPanel
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.on_preview(np.full((16, 32, 3), 200, np.uint8), 3.5)
    panel.on_progress({'kimg': 3.5, 'total_kimg': 10.0, 'images_per_sec': 42.0, 'loss_G': 1.0, 'tick': 3})
    assert '42.0 img/s' in panel.stats.text() and panel.preview.frame is not None
    worker = panel.start(TrainingJob(data=str(tmp_path / 'missing'), outdir=str(tmp_path / 'run')))
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    assert panel.state == 'error' and 'missing' in panel.status.text()
    assert panel.preview.frame is None and panel.stats.text() == ''
    assert '3.50 kimg' not in panel.preview_label.text()


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
