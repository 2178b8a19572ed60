"""Project a photo in the GUI (issue #17): the projection window (photo, crop, options, live
target | reconstruction, PSNR plot, steps/s, ETA, Cancel), its thread, the result as a stored
latent and "Use in Explore"; File > Project a photo… and dropped photos.

A tiny 16 px StyleGAN2 saved as a checkpoint (tests/ui/conftest.py ``win``)."""

import threading

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PyQt6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PyQt6.QtGui import QDropEvent, QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from ui_helpers import settle  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.image_prep import prepare_image  # noqa: E402
from explorer.engine.png import save_png  # noqa: E402
from explorer.engine.stored_latents import is_ref  # noqa: E402
from explorer.ui.opener import has_recipe  # noqa: E402
from explorer.ui.projection_controller import progress_text  # noqa: E402
from explorer.ui.projection_dialog import centred_crop, clamp_crop  # noqa: E402
from explorer.workers.projection_worker import ProjectionWorker  # noqa: E402

R = 16


def photo(tmp_path, w=96, h=64, name='face.jpg'):
    """A photo-like image with a different colour in every region (so crops differ)."""
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) % 256], -1).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(a).save(path, quality=95) if name.endswith('.jpg') else Image.fromarray(a).save(path)
    return path


def mouse(widget, kind, pos):
    types = {'press': QEvent.Type.MouseButtonPress, 'move': QEvent.Type.MouseMove,
             'release': QEvent.Type.MouseButtonRelease}
    left = Qt.MouseButton.LeftButton
    ev = QMouseEvent(types[kind], QPointF(pos), QPointF(widget.mapToGlobal(QPoint(round(pos.x()), round(pos.y())))),
                     Qt.MouseButton.NoButton if kind == 'move' else left,
                     Qt.MouseButton.NoButton if kind == 'release' else left, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(widget, a, b):
    mouse(widget, 'press', a)
    mouse(widget, 'move', (a + b) / 2)
    mouse(widget, 'move', b)
    mouse(widget, 'release', b)


def record_projections(win):
    """Wrap the session's ``projection`` so the test sees the targets and options it gets."""
    seen = []
    real = win.engine.projection

    def projection(target, options):
        seen.append((target.copy(), dict(options)))
        return real(target, options)
    win.engine.projection = projection
    return seen


def run_to_end(qtbot, win, steps):
    ctl = win.projection
    ctl.dialog.steps.setValue(steps)
    with qtbot.waitSignal(ctl.finished, timeout=30000) as blocker:
        assert ctl.start()
    result, error = blocker.args
    assert error == '', error
    return result


def test_crop_helpers_and_progress_text():
    assert centred_crop(96, 64) == (16, 0, 64)
    assert centred_crop(40, 90) == (0, 25, 40)
    assert clamp_crop((-5, 70, 64), 96, 64) == (0, 0, 64)          # moved back inside
    assert clamp_crop((90, 10, 200), 96, 64) == (32, 0, 64)        # shrunk to fit, then moved
    assert clamp_crop((3, 3, 2), 96, 64) == (3, 3, 16)             # never below the minimum side
    assert progress_text(42, 300, 18.3, 21.25, 'w+') == 'step 42/300 (W+) · 18.3 steps/s · ETA 00:00:14 · PSNR 21.25 dB'
    assert progress_text(1, 300, None, None) == 'step 1/300'


def test_photo_opens_with_centred_crop_and_moving_the_crop_changes_the_target(qtbot, win, tmp_path):
    path = photo(tmp_path)
    ctl = win.projection
    assert ctl.open_path(path)
    d = ctl.dialog
    assert d.isVisible()
    qtbot.waitUntil(lambda: d.crop_view.width() > 100)
    cv = d.crop_view
    assert cv.photo_size == (96, 64) and d.crop() == (16, 0, 64)
    im = Image.open(path)
    centred = prepare_image(im, R, 3)
    assert np.array_equal(ctl.prepared_target(), centred)

    # drag the square 10 photo pixels left, then its corner handle up-left by 24: smaller
    drag(cv, cv.to_widget(48, 32), cv.to_widget(38, 32))
    assert d.crop() == (6, 0, 64)
    x, y, s = d.crop()
    drag(cv, cv.to_widget(x + s - 3, y + s - 3), cv.to_widget(x + s - 27, y + s - 27))
    assert d.crop() == (6, 0, 40)
    assert '--crop 6,0,40' in d.crop_label.text()
    moved = prepare_image(im, R, 3, crop=(6, 0, 40))
    assert not np.array_equal(moved, centred)

    seen = record_projections(win)
    run_to_end(qtbot, win, 3)
    assert len(seen) == 1
    target, options = seen[0]
    assert np.array_equal(target, moved)            # the engine projects the crop shown
    assert options == dict(space='w+', optimize_noise=False, steps=3, seed=0, preview_every=1)


def test_start_updates_live_image_and_plot_then_use_in_explore_renders_the_projection(qtbot, win, tmp_path,
                                                                                      tiny_ckpt):
    ctl = win.projection
    ctl.open_path(photo(tmp_path))
    d = ctl.dialog
    d.space.setCurrentIndex(1)      # W
    assert d.options()['space'] == 'w'
    shown = []
    ctl.stepShown.connect(shown.append)
    frames = []
    real = d.set_reconstruction
    d.set_reconstruction = lambda image: (frames.append(image.copy()), real(image))
    result = run_to_end(qtbot, win, 20)
    assert shown == list(range(1, 21))
    assert len(frames) >= 20 and frames[0].shape == (R, R, 3)
    assert not np.array_equal(frames[0], frames[-2])                # it changed while running
    assert np.array_equal(frames[-1], result.image)
    xs, ys = d.curve.getData()
    assert list(xs) == list(range(1, 21)) and np.all(np.isfinite(ys))
    assert abs(ys[-1] - result.history[-1]['psnr']) < 1e-9
    assert 'steps/s' in d.status.text() and 'done' in d.status.text()
    assert f'PSNR {result.psnr:.2f} dB' in d.result_label.text()
    assert result.space == 'w' and result.steps_done == 20

    # the result is a stored latent in the Latents list (a W latent), with its thumbnail
    lat = ctl.latent
    assert win.latents_panel.get(lat.key) is lat and lat.key in win.latents_panel.thumbed
    assert lat.space == 'w' and np.allclose(lat.array(), result.ws[0])
    assert d.use_btn.isEnabled()
    before = win.recipe

    assert ctl.use_in_explore()
    assert win.recipe.seeds == (lat.ref,) and is_ref(win.recipe.seeds[0]) and not win.recipe.mix_seeds
    settle(qtbot, win)
    G = load_generator(tiny_ckpt, device='cpu')
    with torch.no_grad():
        expect = to_uint8(G.synthesis(torch.from_numpy(result.ws)[None], noise_mode='const'))
    assert np.array_equal(win.frame, expect)
    assert np.array_equal(result.image, expect)
    win.undo()                                                      # one undo step
    assert win.recipe == before


def test_cancel_stops_within_a_step(qtbot, win, tmp_path):
    ctl = win.projection
    ctl.open_path(photo(tmp_path))
    ctl.dialog.steps.setValue(5000)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.job is not None, timeout=15000)
    job = ctl.job
    emitted = []
    lock = threading.Lock()

    def count(st):          # runs on the projection thread, as each step is sent
        with lock:
            emitted.append(st.step)
    job.step.connect(count, Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: len(emitted) >= 3, timeout=15000)
    assert ctl.running and ctl.dialog.cancel_btn.isEnabled() and not ctl.dialog.start_btn.isEnabled()
    with qtbot.waitSignal(ctl.finished, timeout=10000) as blocker:
        with lock:
            at_cancel = len(emitted)
        ctl.dialog.cancel_btn.click()
    assert blocker.args == [None, 'cancelled']
    assert len(emitted) <= at_cancel + 1            # at most the step that was running
    assert emitted[-1] < 5000
    assert not job.isRunning() and ctl.job is None and not ctl.running
    assert ctl.latent is None and not win.latents_panel.latents
    assert 'Cancelled' in ctl.dialog.status.text() and ctl.dialog.start_btn.isEnabled()


def test_bad_file_shows_an_error_dialog(qtbot, win, tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'this is not a JPEG at all')
    assert not win.projection.open_path(bad)
    box = win.last_error_box
    assert box is not None and 'broken.jpg' in box.text() and 'not an image' in box.text()
    assert win.projection.dialog is None or not win.projection.dialog.isVisible()


def drop(win, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    win.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))


def test_dropped_png_without_recipe_opens_the_projection_window(qtbot, win, tmp_path):
    plain = photo(tmp_path, 40, 50, name='plain.png')
    assert not has_recipe(plain)
    made = win.recipe.replace(seeds=(77,)).to_dict()
    recipe_png = save_png(tmp_path / 'made.png', np.zeros((R, R, 3), np.uint8), made)
    assert has_recipe(recipe_png)
    drop(win, plain)
    d = win.projection.dialog
    assert d is not None and d.isVisible() and d.crop_view.photo_size == (40, 50) and d.crop() == (0, 5, 40)
    drop(win, recipe_png)                           # a PNG with a recipe still restores it
    assert win.recipe.seeds == (77,)
    jpg = photo(tmp_path, 64, 64, name='other.jpg')
    drop(win, jpg)
    assert d.crop_view.photo_size == (64, 64) and 'other.jpg' in d.windowTitle()


def test_projection_worker_reports_errors(qtbot):
    def run(progress):
        raise RuntimeError('out of memory')
    job = ProjectionWorker(run)
    with qtbot.waitSignal(job.done, timeout=5000) as blocker:
        job.start()
    job.wait()
    assert blocker.args == [None, 'RuntimeError: out of memory']


def test_noise_option_reaches_the_engine_and_the_w_plus_result_is_listed(qtbot, tmp_path):
    """With the fake session (8 px, 6 style inputs): the chosen options and the crop at the
    model's size reach ``projection``; its W+ result is listed and becomes the base."""
    from ui_helpers import FakeEngine, make_window
    engine = FakeEngine()
    w = make_window(qtbot, engine=engine, checkpoint='fake.pt')
    try:
        qtbot.waitUntil(lambda: w.info is not None, timeout=5000)
        ctl = w.projection
        assert ctl.open_path(photo(tmp_path, 30, 20, name='small.bmp'))
        ctl.dialog.space.setCurrentIndex(2)         # W+ and noise maps
        ctl.dialog.seed.setValue(9)
        ctl.dialog.steps.setValue(12)
        with qtbot.waitSignal(ctl.finished, timeout=10000) as blocker:
            ctl.start()
        result, error = blocker.args
        assert error == ''
        target, options = engine.projections[0]
        assert target.shape == (8, 8, 3)
        assert np.array_equal(target, prepare_image(Image.open(tmp_path / 'small.bmp'), 8, 3, crop=(5, 0, 20)))
        assert options == dict(space='w+', optimize_noise=True, steps=12, seed=9, preview_every=1)
        lat = ctl.latent
        assert lat.space == 'w+' and lat.shape == (6, 4) and w.latents_panel.selected() is lat
        assert ctl.use_in_explore() and w.recipe.seeds == (lat.ref,)
    finally:
        w.shutdown()
