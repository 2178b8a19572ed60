"""Progressive previews are shown smooth, not as blocks (issue 14 item 15).

The engine used to repeat each pixel of a reduced-resolution preview (np.repeat) up to the
full size, so an 8x8 or 16x16 preview showed as nearest-neighbour blocks. Now the engine
returns the preview at its own resolution and the view scales every frame to the same area
with Qt's smooth (bilinear) transform: no blocks, and no CPU time spent upscaling.
"""

import numpy as np
import pytest
import torch

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import render
from explorer.engine.session import Session as RenderEngine  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize('path', ['auto', 'exact'])
def test_engine_returns_the_preview_at_its_own_resolution(tiny_ckpt, path):
    eng = RenderEngine('cpu')
    eng.load(tiny_ckpt)
    eng.assume_full_ms = 500.0                  # a slow model: interactive requests preview
    recipe = Recipe(seeds=(5,), psi=0.7)
    img, t = eng.render(recipe, path=path, max_ms=50)
    assert t['preview'] and t['resolution'] == 4 and t['full_resolution'] == 16
    assert img.shape == (4, 4, 3)               # not 16x16 of 4x4 blocks
    low = to_uint8(render(eng.G, recipe, stop_at=4))
    assert np.abs(img.astype(int) - low.astype(int)).max() <= 1
    full, t = eng.render(recipe, path=path)
    assert full.shape == (16, 16, 3) and not t['preview']


def _qimage_to_array(img):
    from PyQt6.QtGui import QImage
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(bpl * h), np.uint8).reshape(h, bpl)
    return buf[:, :w * 3].reshape(h, w, 3).astype(float)


def _bilinear_row(src, rect, y, xs):
    """Qt's smooth scaling of ``src`` into ``rect``: pixel centres, edges clamped."""
    n_y, n_x = src.shape[:2]
    v = np.clip((y + 0.5 - rect.top()) * n_y / rect.height() - 0.5, 0, n_y - 1)
    u = np.clip((xs + 0.5 - rect.left()) * n_x / rect.width() - 0.5, 0, n_x - 1)
    v0, u0 = int(np.floor(v)), np.floor(u).astype(int)
    v1, u1 = min(v0 + 1, n_y - 1), np.minimum(u0 + 1, n_x - 1)
    fv, fu = v - v0, (u - u0)[:, None]
    src = src.astype(float)
    row0 = src[v0, u0] * (1 - fu) + src[v0, u1] * fu
    row1 = src[v1, u0] * (1 - fu) + src[v1, u1] * fu
    return row0 * (1 - fv) + row1 * fv


def test_preview_on_screen_is_smooth(qtbot, tiny_ckpt):
    from PyQt6.QtWidgets import QApplication

    from explorer.ui.main_window import MainWindow
    win = MainWindow(checkpoint=tiny_ckpt, device='cpu')
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.frame is not None, timeout=15000)
        win.show()
        qtbot.waitExposed(win)
        win.engine.assume_full_ms = 500.0
        slider = win.truncation_panel.psi.slider
        slider.setSliderDown(True)              # a drag: interactive requests, held (no refine)
        try:
            slider.setValue(70)
            req = win.last_request
            qtbot.waitUntil(lambda: win._shown_id >= req.request_id, timeout=15000)
            assert win.shown_preview and 'preview 4x4' in win.status_label.text()
            QApplication.processEvents()
            view = win.view
            rect = view.mapFromScene(view.item.sceneBoundingRect()).boundingRect()
            shot = _qimage_to_array(view.viewport().grab().toImage())
        finally:
            slider.setSliderDown(False)
        assert rect.width() >= 200 and rect.height() >= 200, rect
        from explorer.engine.checkpoint import load_generator
        low = to_uint8(render(load_generator(tiny_ckpt), win.last_request.recipe, stop_at=4))   # the 4x4 preview
        y = rect.top() + rect.height() // 2 + 7
        xs = np.arange(rect.left() + rect.width() // 8, rect.left() + rect.width() * 7 // 8)
        row = shot[y, xs]
        smooth = _bilinear_row(low, rect, y, xs)                                  # what the user should see
        blocks = _bilinear_row(np.repeat(np.repeat(low, 4, 0), 4, 1), rect, y, xs)  # the old 4x4-pixel blocks
        err_smooth, err_blocks = np.abs(row - smooth).mean(), np.abs(row - blocks).mean()
        assert err_smooth < 3.0 and err_smooth < err_blocks / 2, (err_smooth, err_blocks)
        # No flat runs of a block's width: the colour changes all along the row.
        changes = np.flatnonzero(np.any(np.diff(row, axis=0) != 0, axis=1))
        longest = np.diff(np.concatenate([[0], changes, [len(row) - 1]])).max()
        assert longest < rect.width() / 8, longest
        assert view.frame.shape == (4, 4, 3)    # the view holds the preview itself, not blocks
    finally:
        win.shutdown()
