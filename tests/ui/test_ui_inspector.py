"""Look inside, in the window: the Inspect tab (asked only while visible, latest wins, every layer
selectable), the zoomable view and its readout, Compare (pin A, split / side by side /
difference, PSNR) and the Performance tab."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QPointF  # noqa: E402
from ui_helpers import FakeEngine  # noqa: E402

from explorer.engine import compare  # noqa: E402
from explorer.engine.activation_view import InspectOptions  # noqa: E402
from explorer.engine.checkpoint import save_generator  # noqa: E402
from explorer.engine.inspect import hook_count  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.workers.render_worker import RenderWorker  # noqa: E402


@pytest.fixture
def win(qtbot, tiny_G, tmp_path):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=str(save_generator(tiny_G, tmp_path / 'tiny.pt')), device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        w.show()
        yield w
    finally:
        w.shutdown()


def open_tab(win, title):
    i = [win.tabs.tabText(k) for k in range(win.tabs.count())].index(title)
    win.tabs.setCurrentIndex(i)


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id and not win.shown_preview, timeout=15000)


def test_worker_inspect_latest_wins_and_skips_repeats(qtbot):
    engine = FakeEngine()
    w = RenderWorker(engine)
    w.start()
    try:
        got = []
        w.inspectReady.connect(lambda i, res, err: got.append((i, res, err)))
        engine.gate.acquire()
        w.inspect(1, Recipe(seeds=(1,)), 'b8.conv1', InspectOptions())
        assert engine.started.wait(5)
        w.inspect(2, Recipe(seeds=(2,)), 'b8.conv1', InspectOptions())
        w.inspect(3, Recipe(seeds=(3,)), 'b4.conv1', InspectOptions(mode='pca'))
        engine.gate.release()
        qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
        assert w.inspected_ids == [1, 3] and [g[0] for g in got] == [1, 3]
        assert got[1][1].image.shape == (4, 4, 3) and got[1][2] == ''
        w.inspect(4, Recipe(seeds=(3,)), 'b4.conv1', InspectOptions(mode='pca'))    # same as 3: skipped
        w.inspect(5, Recipe(seeds=(3,)), 'nope', InspectOptions())                  # an error, reported
        qtbot.waitUntil(lambda: len(got) == 3, timeout=5000)
        assert got[2][0] == 5 and got[2][1] is None and got[2][2]
        assert w.inspected_ids == [1, 3, 5]
    finally:
        w.stop()


def test_inspector_asks_only_while_visible_and_every_layer_has_its_resolution(qtbot, win):
    ctl = win.look_inside.inspector
    worker = win.worker
    qtbot.waitUntil(lambda: len(ctl.panel.layers) == 8, timeout=10000)
    win.latent_panel.seed.setValue(5)
    settle(qtbot, win)
    assert worker.inspected_ids == [] and ctl.requested == []      # tab closed: nothing asked
    open_tab(win, 'Inspect')
    qtbot.waitUntil(lambda: ctl.panel.result is not None, timeout=10000)
    assert ctl.panel.result.recipe.seeds == (5,)
    for layer in ctl.panel.layers:
        ctl.panel.select(layer.name)
        qtbot.waitUntil(lambda: ctl.panel.result.layer.name == layer.name, timeout=10000)
        assert ctl.panel.result.image.shape == (layer.height, layer.width, 3)
        assert ctl.panel.view.image.shape[:2] == (layer.height, layer.width)
    ctl.panel.select('b16.conv1')
    ctl.panel.mode.setCurrentIndex(1)           # one channel
    ctl.panel.channel.setValue(3)
    qtbot.waitUntil(lambda: ctl.panel.result.options.channel == 3, timeout=10000)
    ctl.panel.fft.setChecked(True)
    qtbot.waitUntil(lambda: ctl.panel.result.options.fft, timeout=10000)
    assert ctl.panel.readout_text(8, 8).startswith('fx +0, fy +0')
    assert 'mean' in ctl.panel.stats_label.text() and 'clamped' in ctl.panel.stats_label.text()
    assert hook_count(win.engine.G) == 0
    # a new frame while the tab is open is inspected too
    win.latent_panel.seed.setValue(6)
    qtbot.waitUntil(lambda: ctl.panel.result.recipe.seeds == (6,), timeout=10000)
    # closed again: renders go on, no inspection is asked for
    open_tab(win, 'Explore')
    asked = len(ctl.requested)
    win.latent_panel.seed.setValue(7)
    settle(qtbot, win)
    qtbot.wait(100)
    assert len(ctl.requested) == asked and hook_count(win.engine.G) == 0


def test_zoom_view_integer_zoom_pan_and_readout(qtbot):
    from explorer.ui.zoom_view import ZoomView
    v = ZoomView()
    qtbot.addWidget(v)
    v.resize(200, 200)
    img = np.zeros((10, 20, 3), np.uint8)
    img[3, 7] = (1, 2, 3)
    v.set_image(img)
    assert v.scale() == pytest.approx(10.0) and v.nearest()     # fits 200 px wide: exactly 10:1
    v.set_zoom(4)
    assert v.scale() == 4 and v.nearest()
    origin, _ = v._placement()
    assert v.pixel_at(QPointF(origin.x() + 7 * 4 + 1, origin.y() + 3 * 4 + 1)) == (7, 3)
    assert v.pixel_at(QPointF(origin.x() - 1, origin.y())) == (-1, -1)
    v.set_zoom(2.5)
    assert not v.nearest()
    v.fit()
    assert v.zoom is None
    seen = []
    v.hovered.connect(lambda x, y: seen.append((x, y)))
    from PyQt6.QtCore import QEvent, Qt
    from PyQt6.QtGui import QMouseEvent
    pos = QPointF(7 * 10 + 5, 50 + 3 * 10 + 5)      # fit: 10:1, centred vertically (50 px above)
    v.mouseMoveEvent(QMouseEvent(QEvent.Type.MouseMove, pos, pos, Qt.MouseButton.NoButton,
                                 Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    assert seen == [(7, 3)]
    # a left drag pans by the distance moved (the zoom stays)
    for kind, p, buttons in ((QEvent.Type.MouseButtonPress, pos, Qt.MouseButton.LeftButton),
                             (QEvent.Type.MouseMove, pos + QPointF(20, 0), Qt.MouseButton.LeftButton)):
        ev = QMouseEvent(kind, p, p, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        (v.mousePressEvent if kind == QEvent.Type.MouseButtonPress else v.mouseMoveEvent)(ev)
    assert v.scale() == pytest.approx(10.0) and v.pixel_at(pos + QPointF(20, 0)) == (7, 3)


def test_compare_pin_split_side_by_side_and_difference(qtbot, win):
    ctl = win.look_inside.compare
    open_tab(win, 'Compare')
    a = win.frame.copy()
    ctl.pin()
    assert np.array_equal(ctl.widget.a, a)
    win.latent_panel.seed.setValue(win.latent_panel.seed.value() + 1)
    settle(qtbot, win)
    qtbot.waitUntil(lambda: ctl.widget.b is not None and not np.array_equal(ctl.widget.b, a), timeout=10000)
    b = ctl.widget.b
    w = ctl.widget
    w.mode.setCurrentIndex(0)       # split, dragged to a quarter of the width
    w.view.leftDragged.emit(a.shape[1] * 0.25, 0.0)
    shown = w.view.image
    x = round(0.25 * a.shape[1])
    assert np.array_equal(shown[:, :x], a[:, :x]) and np.array_equal(shown[:, x:], b[:, x:])
    assert w.psnr == pytest.approx(compare.psnr(a, b)) and 'PSNR' in w.info.text()
    w.mode.setCurrentIndex(1)
    assert w.view.image.shape[1] == 2 * a.shape[1] + 4
    w.mode.setCurrentIndex(2)
    diff, _ = compare.difference(a, b)
    assert np.array_equal(w.view.image, diff) and w.view.image.max() == 255


def test_performance_tab_graphs_frames_and_caps_fps(qtbot, win):
    ctl = win.look_inside.performance
    open_tab(win, 'Performance')
    n = len(ctl.panel.times)
    for s in (11, 12):
        win.latent_panel.seed.setValue(s)
        settle(qtbot, win)
    assert len(ctl.panel.times) >= n + 2
    assert ctl.panel.samples['render_ms'][-1] > 0 and ctl.panel.samples['screen_ms'][-1] > 0
    assert 'exact' in ctl.panel.path_label.text() or 'fast' in ctl.panel.path_label.text()
    assert 'MiB' in ctl.panel.mem_label.text() and 'CPU' in ctl.panel.device_label.text()
    ctl.panel.cap.setValue(20)
    assert win.worker.min_frame_s == pytest.approx(0.05)
    ctl.panel.cap.setValue(0)
    assert win.worker.min_frame_s == 0


def test_performance_graph_shows_the_first_frame_as_a_dot_on_a_frame_axis(qtbot):
    from explorer.ui.performance_panel import PerformancePanel
    panel = PerformancePanel()
    qtbot.addWidget(panel)
    panel.add_frame({'synthesis_ms': 30.0, 'mapping_ms': 1.0, 'total_ms': 31.0}, 40.0, now=1.0)
    panel.redraw()
    curve = panel.curves['render_ms']
    assert curve.opts['symbol'] == 'o'                       # a single sample: drawn as a dot
    assert panel.plot.viewRange()[0][0] >= -0.5               # frames count from 0, no negative axis
    for i in range(3):
        panel.add_frame({'synthesis_ms': 30.0 + i, 'mapping_ms': 1.0, 'total_ms': 31.0}, 40.0, now=2.0 + i)
    panel.redraw()
    assert curve.opts['symbol'] is None                       # a line from two frames on
