"""Zoom, pan and the pixel readout of the main view (issue #20 item 2).

The window shows a tiny 16 px checkpoint (``win`` from conftest); events go to the view's
viewport as a user's would."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QImage, QMouseEvent, QPainter, QWheelEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from ui_helpers import settle  # noqa: E402


def shown(qtbot, win, size=(1400, 900)):
    win.show()
    win.resize(*size)
    qtbot.waitExposed(win)
    QApplication.processEvents()
    settle(qtbot, win)
    assert win.view.zoom is None and not win.shown_preview
    return win.view


def mouse(view, kind, pos, button=Qt.MouseButton.LeftButton):
    vp = view.viewport()
    types = {'press': QEvent.Type.MouseButtonPress, 'move': QEvent.Type.MouseMove,
             'release': QEvent.Type.MouseButtonRelease}
    held = Qt.MouseButton.NoButton if kind == 'release' else button
    ev = QMouseEvent(types[kind], QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                     Qt.MouseButton.NoButton if kind == 'move' else button, held,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def wheel(view, pos, notches):
    vp = view.viewport()
    ev = QWheelEvent(QPointF(pos), QPointF(vp.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, int(120 * notches)),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def at(view, x, y):
    """The viewport point (whole pixels) showing continuous image point (x, y)."""
    return view.widget_pos(x, y).toPoint()


def grab(view):
    img = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    return np.frombuffer(img.constBits().asstring(bpl * h), np.uint8).reshape(h, bpl)[:, :w * 3].reshape(h, w, 3)


def test_wheel_zooms_about_the_pointer_and_whole_zooms_are_exact_and_sharp(qtbot, win):
    view = shown(qtbot, win)
    fitted = view.scale()
    assert fitted > 16                          # fit fills the view (16 px image)
    assert view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform     # fitted: smooth
    for pos, notches in ((at(view, 5.3, 9.7), 1), (at(view, 11.2, 2.4), -2), (at(view, 3.6, 12.8), -3)):
        before = view.image_pos(pos)
        s0 = view.scale()
        wheel(view, pos, notches)
        assert view.zoom is not None and view.scale() == pytest.approx(s0 * 1.25 ** notches, rel=1e-6)
        after = view.image_pos(pos)
        assert after == pytest.approx(before, abs=1e-6)     # the point under the pointer stays
    assert win.zoom_box.currentText().endswith('%')          # a wheel zoom between the levels
    wheel(view, at(view, 8, 8), 40)
    assert view.scale() == pytest.approx(64)                 # the most the wheel goes to

    # 1:1, 2:1, 4:1 (the status bar's combo): that many screen pixels per image pixel, pixel exact.
    frame = win.frame
    for text, k in (('1:1', 1), ('2:1', 2), ('4:1', 4), ('8:1', 8)):
        i = win.zoom_box.findText(text)
        win.zoom_box.setCurrentIndex(i)
        win.zoom_box.activated.emit(i)
        assert view.zoom == k and view.scale() == pytest.approx(k, abs=1e-6)
        assert view.nearest() and not view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform
        a, b = view.widget_pos(0, 0), view.widget_pos(16, 16)
        assert (b.x() - a.x(), b.y() - a.y()) == pytest.approx((16 * k, 16 * k), abs=0.51)
    QApplication.processEvents()
    shot = grab(view)
    x0, y0 = at(view, 0, 0).x(), at(view, 0, 0).y()
    for px, py in ((0, 0), (7, 3), (15, 15), (9, 12)):
        block = shot[y0 + 8 * py + 1:y0 + 8 * py + 7, x0 + 8 * px + 1:x0 + 8 * px + 7]
        assert (block == frame[py, px]).all(), (px, py)     # a crisp square of the pixel's colour

    # A preview at a whole zoom is still smooth; Fit restores the fitted scale and smoothing.
    view.set_frame(np.zeros((4, 4, 3), np.uint8))
    assert not view.nearest() and view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform
    view.set_frame(frame)
    i = win.zoom_box.findText('Fit')
    win.zoom_box.activated.emit(i)
    assert view.zoom is None and view.scale() == pytest.approx(fitted)
    assert view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform


def test_pan_readout_and_fit_on_a_new_model(qtbot, win, tiny_ckpt):
    view = shown(qtbot, win)
    view.set_zoom(2)
    # Left-button drag pans outside Drag mode; the middle button does too.
    for button, d in ((Qt.MouseButton.LeftButton, QPoint(37, -21)), (Qt.MouseButton.MiddleButton, QPoint(-60, 45))):
        p0 = QPointF(view.widget_pos(0, 0))
        start = at(view, 8, 8)
        mouse(view, 'press', start, button)
        mouse(view, 'move', start + d / 2, button)
        mouse(view, 'move', start + d, button)
        mouse(view, 'release', start + d, button)
        p1 = QPointF(view.widget_pos(0, 0))
        assert (p1.x() - p0.x(), p1.y() - p0.y()) == pytest.approx((d.x(), d.y()), abs=1.01)
        assert view.scale() == pytest.approx(2)
    # The readout: the pixel under the pointer and its value in the frame on screen.
    frame = win.frame
    assert frame.shape == (16, 16, 3)
    for px, py in ((0, 0), (5, 11), (15, 2)):
        mouse(view, 'move', at(view, px + 0.5, py + 0.5), Qt.MouseButton.NoButton)
        r, g, b = frame[py, px]
        assert win.pixel_label.text() == f'x {px}, y {py} · RGB {r} {g} {b}'
    known = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    view.set_frame(known)               # a new frame under the still pointer: the readout follows
    assert win.pixel_label.text() == 'x 15, y 2 · RGB {} {} {}'.format(*known[2, 15])
    mouse(view, 'move', at(view, 9.5, 4.5), Qt.MouseButton.NoButton)
    assert win.pixel_label.text() == 'x 9, y 4 · RGB {} {} {}'.format(*known[4, 9])
    mouse(view, 'move', at(view, -3, 4.5), Qt.MouseButton.NoButton)    # outside the image
    assert win.pixel_label.text() == ''
    # Panning from the fitted view keeps the fitted scale to start from.
    view.fit()
    fitted = view.scale()
    mouse(view, 'press', at(view, 8, 8))
    mouse(view, 'release', at(view, 8, 8) + QPoint(10, 0))
    assert view.zoom == pytest.approx(fitted) and view.scale() == pytest.approx(fitted)
    # A new model (the same file, loaded again) starts fitted.
    view.set_zoom(4)
    loaded = []
    win.modelLoaded.connect(loaded.append)
    win.open_checkpoint(tiny_ckpt)
    qtbot.waitUntil(lambda: bool(loaded), timeout=15000)
    assert view.zoom is None and view.scale() == pytest.approx(fitted)
    assert win.zoom_box.currentText() == 'Fit'


def test_drag_mode_points_map_to_image_pixels_at_2_to_1_and_the_middle_button_pans(qtbot, win):
    view = shown(qtbot, win)
    win.drag.set_mode(True)
    assert view.pointer_mode
    view.set_zoom(2, anchor=at(view, 3, 3))
    assert view.scale() == pytest.approx(2)

    def click(px, py, button=Qt.MouseButton.LeftButton):
        pos = at(view, px + 0.5, py + 0.5)
        mouse(view, 'press', pos, button)
        mouse(view, 'release', pos, button)

    click(2, 3)
    click(9, 4)
    assert win.drag.points.pairs == [[(2, 3), (9, 4)]]
    # The middle button pans (no point added); points still land on their pixels afterwards.
    p0 = QPointF(view.widget_pos(0, 0))
    start = at(view, 12, 12)
    mouse(view, 'press', start, Qt.MouseButton.MiddleButton)
    mouse(view, 'move', start + QPoint(25, 17), Qt.MouseButton.MiddleButton)
    mouse(view, 'release', start + QPoint(25, 17), Qt.MouseButton.MiddleButton)
    p1 = QPointF(view.widget_pos(0, 0))
    assert (p1.x() - p0.x(), p1.y() - p0.y()) == pytest.approx((25, 17), abs=1.01)
    assert win.drag.points.pairs == [[(2, 3), (9, 4)]] and not win.drag.points.dangling()
    # The wheel zooms in Drag mode too (Drag does not use it).
    wheel(view, at(view, 8, 8), 4)
    assert view.scale() == pytest.approx(2 * 1.25 ** 4)
    click(14, 13)
    click(0, 15)
    assert win.drag.points.pairs == [[(2, 3), (9, 4)], [(14, 13), (0, 15)]]
    # Right click removes a point as before (no zoom menu in Drag mode).
    click(14, 13, Qt.MouseButton.RightButton)
    assert win.drag.points.pairs == [[(2, 3), (9, 4)]]
