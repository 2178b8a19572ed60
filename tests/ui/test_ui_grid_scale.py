"""Mixing grid tab: square tiles fitted to the tab and zoomable, the grid's own psi beside
Explore's noise, 'tile k/N' progress and a Cancel that stops the worker between tiles."""


import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QWheelEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from ui_helpers import GridEngine  # noqa: E402


@pytest.fixture
def make_win(qtbot):
    wins = []

    def make(engine, size=(1280, 800)):
        from explorer.ui.main_window import MainWindow
        w = MainWindow(engine=engine)
        qtbot.addWidget(w)
        wins.append(w)
        w.resize(*size)
        w.show()
        qtbot.waitUntil(lambda: w.info is not None and w.frame is not None, timeout=10000)
        return w
    yield make
    for w in wins:
        w.shutdown()


def grid_done(win):
    g = win.grid_panel
    return win.grid.spec is not None and len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols)


def tile_rects(g):
    vp = g.scroll.viewport()
    return [(t.mapTo(vp, QPoint(0, 0)), t.width(), t.height()) for t in g.tile_widgets.values()]


def test_tiles_fit_the_tab_and_grow_with_the_window(qtbot, make_win):
    win = make_win(GridEngine(), (1280, 800))
    g = win.grid_panel
    g.set_rows_cols([1, 2, 3], [4, 5, 6, 7])
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=10000)
    qtbot.wait(50)
    vp = g.scroll.viewport()
    rects = tile_rects(g)
    assert all(w == h == g.tile_size for _, w, h in rects)         # square
    # The whole grid is visible, no scrolling ...
    assert not g.scroll.horizontalScrollBar().isVisible() and not g.scroll.verticalScrollBar().isVisible()
    right = max(p.x() + w for p, w, _ in rects)
    bottom = max(p.y() + h for p, _, h in rects)
    assert right <= vp.width() and bottom <= vp.height()
    # ... and it fills the tab in at least one direction (not fixed ~116 px tiles).
    assert right > 0.85 * vp.width() or bottom > 0.85 * vp.height()
    small = g.tile_size
    assert small > 130
    win.resize(1700, 1050)
    qtbot.waitUntil(lambda: g.tile_size > small + 40, timeout=5000)
    assert all(w == h == g.tile_size for _, w, h in tile_rects(g))
    assert not g.tile_widgets[('cell', 2, 3)].pixmap().isNull()
    assert g.tile_widgets[('cell', 2, 3)].pixmap().width() == g.tile_size - 4     # re-scaled, not stretched


def test_zoom_slider_ctrl_wheel_and_fit(qtbot, make_win):
    win = make_win(GridEngine())
    g = win.grid_panel
    g.set_rows_cols([1, 2], [3, 4])
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=10000)
    fit = g.fit_tile()
    assert g.tile_size == fit
    g.zoom.setValue(200)
    assert g.tile_size == 2 * fit
    qtbot.waitUntil(lambda: g.scroll.horizontalScrollBar().isVisible() or g.scroll.verticalScrollBar().isVisible(),
                    timeout=5000)
    g.fit_btn.click()
    assert g.zoom.value() == 100 and g.tile_size == fit
    vp = g.scroll.viewport()

    def wheel(dy, mods):
        pos = QPointF(vp.width() / 2, vp.height() / 2)
        ev = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, dy),
                         Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, ev)
    wheel(120, Qt.KeyboardModifier.ControlModifier)
    assert g.zoom.value() == 125 and g.tile_size > fit
    wheel(-120, Qt.KeyboardModifier.ControlModifier)
    wheel(-120, Qt.KeyboardModifier.ControlModifier)
    assert g.zoom.value() == 80 and g.tile_size < fit
    wheel(-120, Qt.KeyboardModifier.NoModifier)         # a plain wheel scrolls, it does not zoom
    assert g.zoom.value() == 80


def test_grid_has_its_own_psi_and_shows_explores_noise(qtbot, make_win):
    eng = GridEngine()
    win = make_win(eng)
    g = win.grid_panel
    g.set_rows_cols([1], [2])
    win.truncation_panel.psi.setValue(0.7)
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=10000)
    assert g.psi.value() == pytest.approx(0.7) and win.grid.spec.psi == pytest.approx(0.7)    # defaults to Explore's
    assert 'const' in g.noise_label.text()
    g.psi.setValue(0.4)
    assert win.grid.spec.psi == pytest.approx(0.4)
    qtbot.waitUntil(lambda: eng.specs and eng.specs[-1].psi == pytest.approx(0.4), timeout=10000)
    win.truncation_panel.psi.setValue(0.9)         # Explore's psi no longer moves the grid's
    assert win.grid.spec.psi == pytest.approx(0.4) and g.psi.value() == pytest.approx(0.4)
    win.apply_changes({'noise_mode': 'none', 'noise_strength': 0.5})
    assert 'none' in g.noise_label.text() and '0.50' in g.noise_label.text()
    assert win.grid.spec.noise_mode == 'none'
    g.psi_follow.click()                           # follow Explore again
    assert win.grid.spec.psi == pytest.approx(0.9) and g.psi.value() == pytest.approx(0.9)
    win.truncation_panel.psi.setValue(0.8)
    assert win.grid.spec.psi == pytest.approx(0.8)
    # A cell opens with the grid's psi.
    g.psi.setValue(0.3)
    qtbot.waitUntil(lambda: grid_done(win), timeout=10000)
    g.tile_widgets[('cell', 0, 0)].clicked.emit()
    assert win.recipe.psi == pytest.approx(0.3)


def test_cancel_stops_the_grid_between_tiles(qtbot, make_win):
    eng = GridEngine(delay=0.05)
    win = make_win(eng)
    g = win.grid_panel
    g.set_rows_cols([1, 2, 3], [4, 5, 6, 7])       # 19 tiles, about 1 s
    win.tabs.setCurrentWidget(g)
    total = g.total_tiles()
    assert g.cancel_btn.isVisible() and g.progress.isVisible()
    qtbot.waitUntil(lambda: len(g.tiles) >= 3, timeout=10000)
    assert f'/{total}' in g.status.text() and 'tile' in g.status.text()
    g.cancel_btn.click()
    with eng.lock:
        at_cancel = eng.produced
    shown = len(g.tiles)
    qtbot.wait(400)                                 # ~8 more tiles' time
    assert eng.produced <= at_cancel + 1            # at most the tile in flight
    assert len(g.tiles) == shown                    # nothing arrives after Cancel
    assert 'Cancelled' in g.status.text()
    assert not g.cancel_btn.isVisible() and not g.progress.isVisible() and g.render_btn.isVisible()
    # Leaving and re-entering the tab does not restart it; Render grid does.
    n_specs = len(eng.specs)
    win.tabs.setCurrentIndex(0)
    win.tabs.setCurrentWidget(g)
    qtbot.wait(100)
    assert len(eng.specs) == n_specs
    g.render_btn.click()
    qtbot.waitUntil(lambda: grid_done(win), timeout=10000)
    assert 'done' in g.status.text() and not g.cancel_btn.isVisible() and not g.progress.isVisible()
