""""Live weights in Explore": the view switches to the running job's G_ema (a copy of its
architecture, weights copied in every few ticks), whatever model was open before, and goes
back to that checkpoint when the box is unchecked. A record that cannot be shown is
reported once and the box unchecks itself (no error repeating every few ticks)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

# The training-worker tests' fixtures: 1 torch thread, a tiny dataset (conftest fails a test that leaves a thread).
from test_training_worker import folder, tiny_job  # noqa: E402,F401


def other_arch_record(kimg=1.0):
    """A G_ema record of a network unlike the conftest tiny_G (other mapping depth and sizes)."""
    from explorer.engine.checkpoint import network_record
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(1)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8))
    return dict(network_record(G.eval()), kimg=kimg, run='/tmp/runs/run-xyz')


def test_engine_switches_to_the_runs_architecture_then_copies(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.recipe import Recipe
    from explorer.engine.session import Session
    engine = Session('cpu')
    engine.load(save_generator(tiny_G, tmp_path / 'tiny.pt'))
    rec = other_arch_record()
    info, switched = engine.load_state(rec)
    assert switched and info.live and info is engine.info
    assert info.w_dim == 8 and info.sha256 == '' and 'run-xyz' in info.name
    G = engine.G
    for k, v in G.state_dict().items():
        assert torch.equal(v, rec['state_dict'][k])
    later = dict(rec, state_dict={k: v + 1 if v.is_floating_point() else v for k, v in rec['state_dict'].items()})
    info2, switched2 = engine.load_state(later)
    assert not switched2 and engine.G is G and info2 is info      # same network: weights copied in
    for k, v in G.state_dict().items():
        assert torch.equal(v, later['state_dict'][k])
    frame, _ = engine.render(Recipe(seeds=(3,)))
    assert frame.shape == (16, 16, 3)
    # Opening a file afterwards leaves live mode: the next record builds a live model again.
    engine.load(tmp_path / 'tiny.pt')
    assert not engine.info.live
    assert engine.load_state(later)[1]


@pytest.fixture
def win(qtbot, tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    ckpt = str(save_generator(tiny_G, tmp_path / 'tiny.pt'))
    w = MainWindow(checkpoint=ckpt, device='cpu')
    qtbot.addWidget(w)
    w.ckpt = ckpt
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def test_live_weights_show_the_run_while_another_model_is_open(qtbot, win, folder, tmp_path, one_thread):
    panel = win.training_panel
    errors = []
    win.worker.weightsFailed.connect(errors.append)
    panel.live.setChecked(True)
    job = tiny_job(folder, tmp_path / 'run', kimg=0.048, weights_every=1)
    worker = panel.start(job)
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert worker.final_state == 'finished', panel.log.toPlainText()
    final = worker.trainer.G_ema.state_dict()

    def shows_final():
        return win.info.live and all(torch.equal(v, final[k]) for k, v in win.engine.G.state_dict().items())
    qtbot.waitUntil(shows_final, timeout=15000)
    assert errors == [] and 'Live weights' not in panel.log.toPlainText()
    assert panel.live.isChecked()
    assert 'live G_ema of run' in win.windowTitle()
    assert win.engine.G is not worker.trainer.G_ema
    qtbot.waitUntil(lambda: win.frame_recipe is not None and win._shown_id == win.last_request.request_id,
                    timeout=15000)
    assert win.frame.shape == (16, 16, 3)
    # Unchecking goes back to the checkpoint that was open (and keeps it as the finetune source).
    with qtbot.waitSignal(win.modelLoaded, timeout=15000) as blocker:
        panel.live.setChecked(False)
    assert blocker.args[0].path == win.ckpt and not win.info.live
    assert panel.current_checkpoint == win.ckpt


def test_checking_live_during_a_run_shows_the_newest_weights_at_once(qtbot, win, monkeypatch):
    panel = win.training_panel
    monkeypatch.setattr(panel, 'is_running', lambda: True)
    rec = other_arch_record()
    panel._on_weights(rec)          # a tick while the box is off: nothing is sent
    assert not win.info.live
    with qtbot.waitSignal(win.modelLoaded, timeout=15000) as blocker:
        panel.live.setChecked(True)
    assert blocker.args[0].live and blocker.args[0].w_dim == 8


def test_weights_that_cannot_be_shown_fail_once_and_uncheck(qtbot, win):
    panel = win.training_panel
    panel.live.setChecked(True)
    rec = other_arch_record()
    bad = dict(rec, state_dict=dict(list(rec['state_dict'].items())[:-1]))
    failed = []
    win.worker.weightsFailed.connect(failed.append)
    panel._on_weights(bad)
    qtbot.waitUntil(lambda: bool(failed), timeout=15000)
    qtbot.waitUntil(lambda: not panel.live.isChecked(), timeout=5000)
    assert 'missing tensors' in panel.status.text()
    panel._on_weights(bad)          # the next tick: not sent again, no second error
    qtbot.wait(200)
    assert len(failed) == 1 and panel.log.toPlainText().count('Live weights') == 1
    assert not win.info.live and win.info.path == win.ckpt      # the open model stayed
