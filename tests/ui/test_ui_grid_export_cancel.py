"""Saving a mixing grid that the worker renders again for the export (File > Reference synthesis
for exports): the status bar's progress bar and Cancel; a cancelled export writes nothing, says so,
and leaves the worker ready; the view renders between the export's tiles."""

import dataclasses

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from ui_helpers import GridEngine  # noqa: E402

from explorer.engine.png import read_recipe  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402


class SlowGridEngine(GridEngine):
    """A model whose recipes render on the fast path (so a reference export renders the grid
    again); grid tiles one at a time, ``delay`` seconds each, honouring ``interrupt``."""

    def __init__(self):
        super().__init__(honour_interrupt=True)

    @property
    def grid_specs(self):
        return self.specs

    def load(self, path, progress=None, sha256=None):
        return dataclasses.replace(super().load(path, progress, sha256), synthesis_path='fast')


@pytest.fixture
def slow_win(qtbot):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    eng = SlowGridEngine()
    w = MainWindow(engine=eng)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.info is not None and w.frame is not None, timeout=10000)
        yield w, eng
    finally:
        w.shutdown()


def show_grid(qtbot, win):
    g = win.grid_panel
    g.set_rows_cols([1, 2, 3, 4], [5, 6, 7, 8, 9])      # 29 tiles
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: win.grid.spec is not None and len(g.tiles) == g.total_tiles(), timeout=10000)


def test_cancel_stops_a_grid_export_and_writes_nothing(qtbot, slow_win, tmp_path):
    win, eng = slow_win
    show_grid(qtbot, win)
    win.exporter.reference_action.setChecked(True)
    eng.delay = 0.1                                 # ~3 s for the export's 29 tiles
    path = tmp_path / 'grid.png'
    n_specs = len(eng.grid_specs)
    win.grid.save(path)
    assert win.grid.exporting
    assert win.cancel_btn.isVisible() and win.progress_bar.isVisible()
    qtbot.waitUntil(lambda: len(eng.grid_specs) > n_specs and eng.produced >= 29 + 2, timeout=10000)
    assert eng.grid_specs[-1].synthesis == 'ref'
    assert 'tile' in win.status_label.text() and 'reference synthesis' in win.status_label.text()
    # The view renders between the export's tiles.
    win.tabs.setCurrentIndex(0)
    win.restore_recipe(Recipe(seeds=(42,)))
    qtbot.waitUntil(lambda: win.frame is not None and win.frame[0, 0, 0] == 42, timeout=10000)
    assert win.grid.exporting
    with qtbot.waitSignal(win.pngSaved, timeout=10000) as saved:
        win.cancel_btn.click()
        with eng.lock:
            at_cancel = eng.produced
    assert saved.args == [str(path), 'cancelled']
    qtbot.wait(300)                                 # ~3 more tiles' time
    assert eng.produced <= at_cancel + 1            # at most the tile in flight
    assert at_cancel < 2 * 29
    assert list(tmp_path.iterdir()) == []           # no file, no temporary file
    assert 'Grid export cancelled' in win.status_label.text()
    assert not win.cancel_btn.isVisible() and not win.progress_bar.isVisible()
    assert not win.grid.exporting and getattr(win, 'last_error_box', None) is None
    # The worker is idle and ready: renders go on, and the next export is written whole.
    assert win.worker.isRunning() and not win.worker._jobs
    win.restore_recipe(Recipe(seeds=(43,)))
    qtbot.waitUntil(lambda: win.frame[0, 0, 0] == 43, timeout=10000)
    eng.delay = 0.0
    with qtbot.waitSignal(win.pngSaved, timeout=10000) as saved:
        win.grid.save(path)
    assert saved.args == [str(path), '']
    assert read_recipe(path)['grid']['synthesis'] == 'ref'
    assert f'Saved {path}' in win.status_label.text()
    assert not win.cancel_btn.isVisible() and not win.progress_bar.isVisible()


def test_the_status_bar_cancel_leaves_a_grid_export_alone_when_none_runs(qtbot, slow_win, tmp_path):
    """Cancel in the status bar also serves batch export; without a grid export it cancels none
    (the next grid export is written whole)."""
    win, eng = slow_win
    show_grid(qtbot, win)
    win.exporter.reference_action.setChecked(True)
    win.cancel_btn.click()
    with qtbot.waitSignal(win.pngSaved, timeout=10000) as saved:
        win.grid.save(tmp_path / 'grid.png')
    assert saved.args == [str(tmp_path / 'grid.png'), '']
