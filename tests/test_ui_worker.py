"""Render worker: latest request wins, identical requests skipped, stale results dropped."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.workers.render_worker import RenderRequest, RenderWorker  # noqa: E402
from ui_helpers import FakeEngine  # noqa: E402


@pytest.fixture
def worker(qtbot):
    w = RenderWorker(FakeEngine())
    w.start()
    yield w
    w.stop()
    assert not w.isRunning()


def req(i, seed=None, **kw):
    return RenderRequest(recipe=Recipe(seeds=(seed if seed is not None else i,), **kw), request_id=i)


def test_latest_request_wins(qtbot, worker):
    engine = worker.engine
    engine.gate.acquire()
    results = []
    worker.resultReady.connect(results.append)
    worker.submit(req(1))
    assert engine.started.wait(5), 'worker never started request 1'
    worker.submit(req(2))
    worker.submit(req(3))
    engine.gate.release()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    qtbot.wait(50)
    assert [r.seeds[0] for r in engine.rendered] == [1, 3]
    assert worker.rendered_ids == [1, 3]
    assert [r.request_id for r in results] == [1, 3]
    assert results[-1].image[0, 0, 0] == 3


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
    assert hash(a) != hash(b) or a != b
    assert a.key() == b.key()
    assert {a.key(): 1}[b.key()] == 1


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
        assert [r.seeds[0] for r in engine.rendered] == [0, 1, 3]
        assert win.frame[0, 0, 0] == 3
        # A late, older result must not replace what is shown.
        from explorer.workers.render_worker import RenderResult
        old = RenderResult(1, win.last_request, np.zeros((8, 8, 3), np.uint8))
        win._on_result(old)
        assert win.frame[0, 0, 0] == 3
    finally:
        win.shutdown()
