"""Render worker: latest request wins, identical requests skipped, stale results dropped."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from ui_helpers import FakeEngine  # noqa: E402

from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.workers.render_worker import RenderRequest, RenderWorker  # noqa: E402


@pytest.fixture
def worker(qtbot):
    w = RenderWorker(FakeEngine())
    w.start()
    yield w
    w.stop()
    assert not w.isRunning()


def req(i, seed=None, options=(), **kw):
    return RenderRequest(recipe=Recipe(seeds=(seed if seed is not None else i,), **kw), request_id=i,
                         options=options)


def test_latest_request_wins_and_interrupts_a_full_render(qtbot, worker):
    """Requests 2 and 3 arrive while 1 renders: 2 is never rendered, 1 (a full-resolution
    request) is interrupted because a different request waits, 3 is shown."""
    engine = worker.engine
    engine.gate.acquire()
    results = []
    worker.resultReady.connect(results.append)
    worker.submit(req(1))
    assert engine.started.wait(5), 'worker never started request 1'
    interrupt = engine.interrupts[0]
    assert interrupt is not None and not interrupt()     # nothing newer waits yet
    worker.submit(req(2))
    worker.submit(req(3))
    assert interrupt()
    engine.gate.release()
    qtbot.waitUntil(lambda: len(results) == 1, timeout=5000)
    qtbot.wait(50)
    assert [r.seeds[0] for r in engine.rendered] == [3]
    assert worker.rendered_ids == [1, 3] and worker.interrupted_ids == [1]
    assert [r.request_id for r in results] == [3]
    assert results[-1].image[0, 0, 0] == 3 and results[-1].error == ''


def test_interactive_render_is_not_interrupted(qtbot, worker):
    """Previews during a drag always complete (else a fast drag would show nothing), and a
    full render is not interrupted by a request for the same pixels."""
    engine = worker.engine
    engine.gate.acquire()
    results = []
    worker.resultReady.connect(results.append)
    worker.submit(req(1, options=(('interactive', True),)))
    assert engine.started.wait(5)
    assert engine.interrupts == [None]
    worker.submit(req(2))
    engine.gate.release()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert [r.request_id for r in results] == [1, 2] and worker.interrupted_ids == []

    engine.started.clear()
    engine.gate.acquire()
    worker.submit(req(3, seed=9))
    assert engine.started.wait(5)
    worker.submit(req(4, seed=9))           # same recipe and options: not a reason to stop
    assert not engine.interrupts[-1]()
    engine.gate.release()
    qtbot.waitUntil(lambda: len(results) == 3, timeout=5000)
    assert results[-1].request_id == 3 and worker.interrupted_ids == []


def test_stop_interrupts_a_full_render(qtbot):
    w = RenderWorker(FakeEngine())
    w.start()
    w.engine.gate.acquire()
    w.submit(req(1))
    assert w.engine.started.wait(5)
    interrupt = w.engine.interrupts[0]
    assert not interrupt()
    with w._cond:
        w._stop = True          # what stop() sets before it waits for the thread
    assert interrupt()
    w.engine.gate.release()
    w.stop()
    assert not w.isRunning() and w.interrupted_ids == [1]


def test_identical_request_is_skipped(qtbot, worker):
    with qtbot.waitSignal(worker.resultReady, timeout=5000):
        worker.submit(req(1, seed=7))
    worker.submit(req(2, seed=7))           # same recipe, new id: skipped
    with qtbot.waitSignal(worker.resultReady, timeout=5000) as blocker:
        worker.submit(req(3, seed=8))
    assert blocker.args[0].request_id == 3
    assert worker.rendered_ids == [1, 3]


def test_render_error_is_reported_and_worker_survives(qtbot, worker):
    worker.engine.fail_render = 'boom'
    with qtbot.waitSignal(worker.resultReady, timeout=5000) as blocker:
        worker.submit(req(1))
    assert blocker.args[0].image is None and 'boom' in blocker.args[0].error
    worker.engine.fail_render = None
    with qtbot.waitSignal(worker.resultReady, timeout=5000) as blocker:
        worker.submit(req(2))
    assert blocker.args[0].error == '' and blocker.args[0].image is not None


def test_request_is_hashable_and_id_free_key():
    a, b = req(1, seed=5, psi=0.7), req(2, seed=5, psi=0.7)
    assert a != b and len({a, b}) == 2                 # hashable; the id tells requests apart
    assert a == req(1, seed=5, psi=0.7) and hash(a) == hash(req(1, seed=5, psi=0.7))
    assert a.key() == b.key()                          # ... but the key leaves the id out
    assert {a.key(): 1}[b.key()] == 1
    assert req(1, seed=6, psi=0.7).key() != a.key() and req(1, seed=5, psi=0.5).key() != a.key()


def test_window_shows_only_newest_and_drops_stale(qtbot):
    from explorer.ui.main_window import MainWindow
    engine = FakeEngine()
    win = MainWindow(engine=engine)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.frame is not None, timeout=5000)
        engine.started.clear()
        engine.gate.acquire()
        win.latent_panel.seed.setValue(1)
        assert engine.started.wait(5)
        win.latent_panel.seed.setValue(2)
        win.latent_panel.seed.setValue(3)
        engine.gate.release()
        qtbot.waitUntil(lambda: win.frame_recipe.seeds == (3,), timeout=5000)
        qtbot.wait(50)
        # seed 1 (a full render) is interrupted by the newer request; 2 never starts
        assert [r.seeds[0] for r in engine.rendered] == [0, 3]
        assert win.worker.interrupted_ids == [win.worker.rendered_ids[1]]
        assert win.frame[0, 0, 0] == 3
        # A late, older result must not replace what is shown.
        from explorer.workers.render_worker import RenderResult
        old = RenderResult(1, win.last_request, np.zeros((8, 8, 3), np.uint8))
        win._on_result(old)
        assert win.frame[0, 0, 0] == 3
    finally:
        win.shutdown()


def test_png_writes_run_on_the_worker_thread(qtbot, worker, tmp_path, monkeypatch):
    """An image the window already has (the exact frame on screen, a grid) is encoded and
    written by the worker, never on the UI thread; pngSaved reports each write."""
    import threading

    from explorer.engine.grid_spec import GridSpec, compose_grid
    from explorer.engine.png import load_png, read_export_info, read_recipe
    from explorer.workers import render_worker
    threads = []
    real_save = render_worker.write_image

    def save_png(*a, **k):
        threads.append(threading.current_thread())
        return real_save(*a, **k)
    monkeypatch.setattr(render_worker, 'write_image', save_png)
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    saved = []
    worker.pngSaved.connect(lambda path, error: saved.append((path, error)))
    worker.write_png(tmp_path / 'frame.png', img, {'seeds': [3]}, upscale=2)
    spec = GridSpec(rows=(1,), cols=(2,), layers=(0,))
    tiles = {('col', -1, 0): img, ('row', 0, -1): img + 1, ('cell', 0, 0): img + 2}
    worker.write_grid_png(tmp_path / 'grid.png', spec, tiles, {'grid': spec.to_dict()}, labels=False)
    worker.write_png(tmp_path / 'missing' / 'x.png', img, {})
    qtbot.waitUntil(lambda: len(saved) == 3, timeout=5000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert saved[:2] == [(str(tmp_path / 'frame.png'), ''), (str(tmp_path / 'grid.png'), '')]
    assert saved[2][0] == str(tmp_path / 'missing' / 'x.png') and 'folder does not exist' in saved[2][1]
    assert load_png(tmp_path / 'frame.png').shape == (16, 16, 3)
    assert read_recipe(tmp_path / 'frame.png') == {'seeds': [3]}
    assert read_export_info(tmp_path / 'frame.png')['upscale'] == 2
    assert np.array_equal(load_png(tmp_path / 'grid.png'), compose_grid(spec, tiles, img.shape))


def test_stop_still_writes_queued_pngs(qtbot, tmp_path):
    """Save PNG, then quit at once: the file is still written (renders still queued are not)."""
    engine = FakeEngine()
    w = RenderWorker(engine)
    engine.gate.acquire()
    w.start()
    w.submit(req(1, options=(('interactive', True),)))
    assert engine.started.wait(5)           # the worker is busy rendering
    img = np.zeros((8, 8, 3), np.uint8)
    w.write_png(tmp_path / 'late.png', img, {})
    w.export_png(tmp_path / 'render.png', Recipe(), {})    # needs a render: dropped at stop
    with w._cond:
        w._stop = True
    engine.gate.release()
    w.stop()
    assert not w.isRunning()
    assert (tmp_path / 'late.png').exists() and not (tmp_path / 'render.png').exists()
