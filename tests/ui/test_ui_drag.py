"""Drag to edit in the GUI (issue #19): points on the main view, the mask brush, drag jobs in
the render worker, the result as a stored-latent recipe (one undo step).

A tiny 16 px StyleGAN2 saved as a checkpoint; the window renders on the exact path
(Session(fast=False)) so its frames compare bit for bit with the engine's."""

import math

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

import torch  # noqa: E402
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.stored_latents import is_ref  # noqa: E402
from explorer.ui.drag_controller import DragPoints, status_text  # noqa: E402

R = 16


@pytest.fixture
def win(qtbot, tiny_ckpt):
    from explorer.engine.session import Session
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=Session('cpu', fast=False), checkpoint=tiny_ckpt)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id and not win.shown_preview
                    and win.frame_recipe == win.recipe, timeout=15000)


def image_square(win):
    """(left, top, side) of the image on the view's viewport, from the view box's geometry alone:
    the image keeps its aspect, so it is the largest square centred in the view box."""
    view = win.view
    rect = view.mapFromScene(view.viewbox.sceneBoundingRect()).boundingRect()
    side = min(rect.width(), rect.height())
    return rect.x() + (rect.width() - side) / 2, rect.y() + (rect.height() - side) / 2, side


def at_point(win, x, y):
    """The viewport point (whole screen pixels) nearest continuous image point (x, y)."""
    left, top, side = image_square(win)
    s = side / R
    return QPoint(round(left + x * s), round(top + y * s))


def at_pixel(win, px, py):
    """The viewport point at the centre of image pixel (px, py)."""
    return at_point(win, px + 0.5, py + 0.5)


def mouse(win, kind, pos, button=Qt.MouseButton.LeftButton):
    vp = win.view.viewport()
    types = {'press': QEvent.Type.MouseButtonPress, 'move': QEvent.Type.MouseMove,
             'release': QEvent.Type.MouseButtonRelease}
    buttons = Qt.MouseButton.NoButton if kind == 'release' else button
    ev = QMouseEvent(types[kind], QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                     Qt.MouseButton.NoButton if kind == 'move' else button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def click(win, pos, button=Qt.MouseButton.LeftButton):
    mouse(win, 'press', pos, button)
    mouse(win, 'release', pos, button)


def drag_mode(qtbot, win, size=(1400, 900)):
    win.resize(*size)
    QApplication.processEvents()
    qtbot.wait(50)
    win.drag.set_mode(True)
    assert win.view.pointer_mode and win.drag.panel.mode.isChecked()


def test_clicks_add_handle_then_target_at_image_pixels_at_two_window_sizes(qtbot, win):
    for size, pairs in (((1400, 900), [((2, 3), (9, 4)), ((14, 13), (0, 15))]),
                        ((1000, 700), [((5, 11), (6, 1))])):
        drag_mode(qtbot, win, size)
        left, top, side = image_square(win)
        assert side > 200          # the view fills its area; a pixel spans many screen pixels
        win.drag.reset_points()
        for h, t in pairs:
            click(win, at_pixel(win, *h))
            assert win.drag.points.dangling()
            click(win, at_pixel(win, *t))
        assert win.drag.points.pairs == [[h, t] for h, t in pairs]
        assert win.drag.points.complete() == ([h for h, _ in pairs], [t for _, t in pairs])
        # Just inside the top-left corner of pixel (7, 8), just inside the bottom-right one of (12, 3).
        win.drag.reset_points()
        s = side / R
        click(win, QPoint(math.ceil(left + 7 * s + 1), math.ceil(top + 8 * s + 1)))
        click(win, QPoint(math.floor(left + 13 * s - 2), math.floor(top + 4 * s - 2)))
        assert win.drag.points.pairs == [[(7, 8), (12, 3)]]
        # Outside the image: nothing is added.
        click(win, QPoint(round(left - 5), round(top + side / 2)))
        assert len(win.drag.points.pairs) == 1 and not win.drag.points.dangling()
    # The overlay draws the points at pixel centres.
    xs, ys = win.view.handles_item.getData()
    assert list(xs) == [7.5] and list(ys) == [8.5]


def test_dragging_a_point_moves_it_and_right_click_removes_the_pair(qtbot, win):
    drag_mode(qtbot, win)
    click(win, at_pixel(win, 3, 3))
    click(win, at_pixel(win, 10, 3))
    click(win, at_pixel(win, 3, 12))
    click(win, at_pixel(win, 10, 12))
    # Grab the first target and drag it down to (10, 7), through a move outside the image (clamped).
    mouse(win, 'press', at_pixel(win, 10, 3))
    mouse(win, 'move', at_pixel(win, 30, 5))
    assert win.drag.points.pairs[0][1] == (15, 5)
    mouse(win, 'move', at_pixel(win, 10, 7))
    mouse(win, 'release', at_pixel(win, 10, 7))
    assert win.drag.points.pairs == [[(3, 3), (10, 7)], [(3, 12), (10, 12)]]
    # A move with no button down changes nothing.
    mouse(win, 'move', at_pixel(win, 1, 1))
    assert win.drag.points.pairs[0] == [(3, 3), (10, 7)]
    # Right-click a handle: its pair goes.
    click(win, at_pixel(win, 3, 12), Qt.MouseButton.RightButton)
    assert win.drag.points.pairs == [[(3, 3), (10, 7)]]
    # Outside Drag mode the view does not edit points.
    win.drag.set_mode(False)
    click(win, at_pixel(win, 5, 5))
    assert win.drag.points.pairs == [[(3, 3), (10, 7)]]
    assert win.view.handles_item.getData()[0].size == 0      # no overlay outside Drag mode


def test_finished_drag_is_a_stored_latent_recipe_with_the_engine_pixels_and_one_undo_step(qtbot, win, tiny_ckpt):
    win.latent_panel.seed.setValue(5)
    settle(qtbot, win)
    before = win.recipe
    drag_mode(qtbot, win)
    click(win, at_pixel(win, 5, 8))
    click(win, at_pixel(win, 9, 8))
    win.drag.panel.steps.setValue(6)
    seen = []
    win.drag.stepShown.connect(seen.append)
    with qtbot.waitSignal(win.drag.finished, timeout=30000) as sig:
        win.drag.panel.start_btn.click()
        assert not win.drag.panel.start_btn.isEnabled() and win.drag.panel.stop_btn.isEnabled()
    result, error = sig.args
    assert error == '' and not result.cancelled and 1 <= result.steps <= 6
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= result.steps
    assert win.drag.panel.start_btn.isEnabled()
    # The handle follows tracking; the status says steps, speed and distances.
    (hx, hy), = result.points
    assert win.drag.points.pairs == [[(round(hx), round(hy)), (9, 8)]]
    assert 'steps/s' in win.drag.panel.status.text() and f'step {result.steps}' in win.drag.panel.status.text()
    # The recipe: the dragged W+ as its base, no mixing, no edits; its pixels are the engine's.
    r = win.recipe
    assert len(r.seeds) == 1 and is_ref(r.seeds[0]) and r.mix_seeds == () and r.edits == ()
    lat = r.latent(r.seeds[0])
    assert np.array_equal(lat.array(), result.ws) and lat.name.startswith('drag ') and '(seed 5)' in lat.name
    assert lat.key in [x.key for x in win.latents_panel.latents]
    settle(qtbot, win)
    G = load_generator(tiny_ckpt)
    with torch.no_grad():
        wanted = to_uint8(G.synthesis(torch.from_numpy(result.ws)[None], noise_mode='const'))
    assert win.frame_exact and np.array_equal(win.frame, wanted)
    before_img = to_uint8(G.synthesis(G.mapping(torch.from_numpy(
        np.random.RandomState(5).randn(1, G.z_dim).astype(np.float32)), None), noise_mode='const'))
    assert not np.array_equal(wanted, before_img)       # the drag changed the image
    win.undo()
    assert win.recipe == before


def test_stop_cancels_within_a_step(qtbot, win):
    drag_mode(qtbot, win)
    click(win, at_pixel(win, 2, 2))
    click(win, at_pixel(win, 14, 14))
    win.drag.panel.steps.setValue(5000)
    seen = []
    win.drag.stepShown.connect(seen.append)
    win.drag.start()
    assert win.drag.running
    assert not win.drag.start()          # one drag at a time
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=30000)
    with qtbot.waitSignal(win.drag.finished, timeout=10000) as sig:
        at_stop = seen[-1]
        win.drag.panel.stop_btn.click()
    result, error = sig.args
    assert error == '' and result.cancelled and not result.reached
    assert at_stop <= result.steps <= at_stop + 2 and result.steps < 100
    assert 'stopped' in win.drag.panel.status.text()
    assert is_ref(win.recipe.seeds[0])       # a stopped drag is kept as well


def test_mask_painting_is_the_mask_the_engine_gets(qtbot, win):
    drag_mode(qtbot, win)
    calls = []
    real = win.engine.drag

    def recording(*args, **kw):
        calls.append(kw.get('mask'))
        return real(*args, **kw)
    win.engine.drag = recording
    panel = win.drag.panel
    panel.brush.setChecked(True)
    panel.radius.setValue(2)
    # A stroke (4.25, 4.25) -> (10.25, 4.25): no pixel centre lies near the brush's edge.
    mouse(win, 'press', at_point(win, 4.25, 4.25))
    mouse(win, 'move', at_point(win, 7.25, 4.25))
    mouse(win, 'move', at_point(win, 10.25, 4.25))
    mouse(win, 'release', at_point(win, 10.25, 4.25))
    # Erase one stamp with the right button.
    click(win, at_point(win, 10.25, 4.25), Qt.MouseButton.RightButton)
    ys, xs = np.mgrid[0:R, 0:R] + 0.5
    cx = np.clip(xs, 4.25, 10.25)           # distance of each pixel centre to the stroke
    stroke = np.hypot(xs - cx, ys - 4.25) <= 2
    erased = np.hypot(xs - 10.25, ys - 4.25) <= 2
    want = stroke & ~erased
    assert np.array_equal(win.drag.points.mask, want)
    assert win.view.mask_item.isVisible() and win.view.mask_item.image.shape == (R, R, 4)
    assert not win.drag.points.pairs              # the brush adds no points
    panel.brush.setChecked(False)
    click(win, at_pixel(win, 6, 4))
    click(win, at_pixel(win, 8, 4))
    panel.steps.setValue(1)
    with qtbot.waitSignal(win.drag.finished, timeout=30000):
        win.drag.start()
    assert len(calls) == 1 and calls[0] is not None and np.array_equal(calls[0], want)
    panel.clear_mask_btn.click()
    assert not win.drag.points.mask.any() and not win.view.mask_item.isVisible()


def test_points_model_and_status_text():
    p = DragPoints(8)
    assert p.add(1.2, 2.9) == (0, 'handle') and p.add(7.99, 0.0) == (0, 'target')
    assert p.pairs == [[(1, 2), (7, 0)]]
    assert p.hit(1.6, 2.4, 0.5) == (0, 'handle') and p.hit(3, 3, 0.5) is None
    p.add(3, 3)
    assert p.complete() == ([(1, 2)], [(7, 0)]) and p.dangling()
    p.set_handles([(4.4, 1.6)])
    assert p.pairs[0][0] == (4, 2)
    assert status_text(42, 18.34, [3.21, 1.0]) == 'step 42 · 18.3 steps/s · distances 3.2, 1.0 px'
    assert status_text(1, None, [2.0]) == 'step 1 · distance 2.0 px'
