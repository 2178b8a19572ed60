"""Training worker (QThread) and the Training tab: start / pause / resume / stop, throttled
progress, errors, G_ema hand-over to the renderer, preview grid, Explore this snapshot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.errors import CheckpointError, UserError  # noqa: E402
from explorer.training.jobs import TrainingJob  # noqa: E402
from explorer.workers.training_worker import TrainingWorker  # noqa: E402

TINY = (('z_dim', 16), ('w_dim', 16), ('mapping_layers', 1), ('channel_base', 128), ('channel_max', 16),
        ('num_fp16_res', 0), ('pl_weight', 0.0), ('style_mixing_prob', 0.0))


@pytest.fixture
def folder(tmp_path):
    from PIL import Image
    d = tmp_path / 'data'
    d.mkdir()
    rng = np.random.RandomState(0)
    for i in range(8):
        a = (rng.rand(4, 4, 3) * 255).astype(np.uint8)
        Image.fromarray(a).resize((16, 16), Image.BILINEAR).save(d / f'{i}.png')
    return str(d)


def tiny_job(folder, outdir, **kw):
    base = dict(data=folder, outdir=str(outdir), resolution=16, batch=4, kimg=1000.0, augment=True, ada_kimg=1.0,
                tick_seconds=0.05, tick_kimg=1000.0, snapshot_kimg=1e9, snapshot_minutes=None,
                preview_seeds=(0, 1, 2, 3, 4), preview_columns=4, weights_every=2, overrides=TINY)
    base.update(kw)
    return TrainingJob(**base)


class Recorder:
    def __init__(self, worker):
        self.progress, self.states, self.weights, self.previews, self.snapshots, self.errors = [], [], [], [], [], []
        worker.progress.connect(self.progress.append)
        worker.state.connect(self.states.append)
        worker.weights_ready.connect(self.weights.append)
        worker.preview_ready.connect(lambda img, kimg: self.previews.append((img, kimg)))
        worker.snapshot_ready.connect(self.snapshots.append)
        worker.errored.connect(self.errors.append)


def test_worker_start_pause_resume_stop(qtbot, folder, tmp_path, one_thread):
    from explorer.training.runs import latest_snapshot
    from explorer.training.snapshot import read_snapshot

    worker = TrainingWorker(tiny_job(folder, tmp_path / 'run'), max_rate_hz=20)
    rec = Recorder(worker)
    with qtbot.waitSignal(worker.started, timeout=5000):
        worker.start()
    qtbot.waitUntil(lambda: len(rec.progress) >= 3, timeout=60000)
    assert rec.states[:2] == ['starting', 'running']
    p = rec.progress[-1]
    for key in ('kimg', 'total_kimg', 'images_per_sec', 'eta_s', 'loss_G', 'loss_D', 'augment_p', 'tick'):
        assert key in p
    assert p['total_kimg'] == 1000.0 and p['kimg'] > 0

    # Pause: after the minibatch in flight, no more progress and no more images.
    worker.pause()
    assert worker.paused and rec.states[-1] == 'paused'
    qtbot.waitUntil(lambda: worker.idle, timeout=30000)  # the minibatch in flight has finished
    qtbot.wait(100)  # deliver any progress queued before that
    n, nimg = len(rec.progress), worker.trainer.cur_nimg
    qtbot.wait(800)
    assert len(rec.progress) == n
    assert worker.trainer.cur_nimg == nimg
    assert worker.isRunning()

    worker.resume()
    assert rec.states[-1] == 'running'
    qtbot.waitUntil(lambda: len(rec.progress) > n + 1, timeout=60000)
    assert worker.trainer.cur_nimg > nimg

    with qtbot.waitSignal(worker.finished, timeout=60000):
        worker.stop()
    assert not worker.isRunning()
    assert worker.final_state == 'stopped' and rec.states[-1] == 'stopped'
    assert rec.errors == []
    assert rec.progress[-1]['stopped'] is True

    # Stop wrote a final snapshot with the last step's images; the signal named it.
    snap = latest_snapshot(tmp_path / 'run')
    assert snap is not None and rec.snapshots and rec.snapshots[-1] == str(snap)
    data = read_snapshot(snap)
    assert data['nimg'] == worker.trainer.cur_nimg

    # G_ema was handed over as CPU copies (not the trainer's tensors) ...
    assert len(rec.weights) >= 2
    rec_w = rec.weights[-1]
    own = worker.trainer.G_ema.state_dict()
    assert set(rec_w['state_dict']) == set(own)
    for k, v in rec_w['state_dict'].items():
        assert v.device.type == 'cpu' and v.data_ptr() != own[k].data_ptr()
        assert torch.equal(v, own[k])
    # ... and the preview grid shows the fixed seeds (5 seeds, 4 columns -> 2 x 4 tiles of 16 px).
    img, kimg = rec.previews[-1]
    assert img.shape == (32, 64, 3) and img.dtype == np.uint8
    assert img[16:, 16:].max() == 0  # empty cells stay black
    assert img[:16, :16].std() > 0


def test_stop_while_paused_still_snapshots(qtbot, folder, tmp_path, one_thread):
    from explorer.training.runs import latest_snapshot
    worker = TrainingWorker(tiny_job(folder, tmp_path / 'run', preview_seeds=()), max_rate_hz=20)
    rec = Recorder(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(rec.progress) >= 1, timeout=60000)
    worker.pause()
    qtbot.wait(200)
    assert worker.stop(wait_ms=60000)
    assert worker.final_state == 'stopped'
    assert latest_snapshot(tmp_path / 'run') is not None
    assert rec.previews == []


class FakeTrainer:
    """Yields ticks as fast as it can; records what the worker asked of it."""

    def __init__(self, ticks=200):
        self.ticks = ticks
        self.kimg = 0.0
        self.G_ema = torch.nn.Linear(2, 2)
        self.G_ema.init_kwargs = {}

    def g_ema_state(self):
        return {k: v.detach().clone() for k, v in self.G_ema.state_dict().items()}

    def g_ema_init_kwargs(self):
        return {}

    def run(self, should_stop=None, is_paused=None):
        for t in range(self.ticks):
            self.kimg = (t + 1) / 10
            yield {'kimg': self.kimg, 'total_kimg': self.ticks / 10, 'tick': t, 'done': t == self.ticks - 1,
                   'stopped': False, 'paused': False, 'snapshot': None}


def test_progress_is_throttled_and_final_tick_delivered(qtbot):
    fake = FakeTrainer(ticks=200)
    worker = TrainingWorker(TrainingJob(data='x', outdir='y', preview_seeds=(), weights_every=50),
                            max_rate_hz=2, trainer_factory=lambda job: fake)
    rec = Recorder(worker)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.start()
    assert 1 <= len(rec.progress) < 20          # 200 ticks in a burst -> a handful of signals
    assert rec.progress[-1]['kimg'] == pytest.approx(20.0) and rec.progress[-1]['done']
    assert worker.final_state == 'finished' and rec.states[-1] == 'finished'
    # weights at the start, every 50 ticks (0, 50, 100, 150) and at the end
    assert len(rec.weights) == 6


def test_errors_become_a_signal(qtbot, tmp_path):
    def broken(job):
        raise UserError('no images found in /nowhere')
    worker = TrainingWorker(TrainingJob(data='x', outdir='y'), trainer_factory=broken)
    rec = Recorder(worker)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.start()
    assert rec.errors == ['no images found in /nowhere'] and worker.final_state == 'error'

    # A real bad folder goes through the real factory.
    worker = TrainingWorker(TrainingJob(data=str(tmp_path / 'missing'), outdir=str(tmp_path / 'run')))
    rec = Recorder(worker)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.start()
    assert len(rec.errors) == 1 and 'missing' in rec.errors[0]


def test_panel_reflects_progress(qtbot):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.training_panel import TrainingPanel
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.state == 'idle' and panel.start_btn.isEnabled() and not panel.pause_btn.isEnabled()
    assert not panel.finetune.isEnabled()  # no checkpoint open yet
    panel.set_current_checkpoint('/tmp/x.pt', 64, 'stylegan2')
    assert panel.finetune.isEnabled()
    panel.set_current_checkpoint('/tmp/y.pkl', 256, 'stylegan3')
    assert not panel.finetune.isEnabled()

    for i in range(5):
        panel.on_progress({'kimg': 2.0 * (i + 1), 'total_kimg': 40.0, 'images_per_sec': 12.5, 'eta_s': 3725,
                           'loss_G': 1.0 + i, 'loss_D': 0.5, 'r1': float('nan'), 'pl': 0.0, 'augment_p': 0.05 * i,
                           'tick': i})
    assert panel.progress.value() == 250
    assert '10.00 / 40 kimg' in panel.progress.format() and '01:02:05' in panel.progress.format()
    assert 'augment p 0.200' in panel.stats.text() and '12.5 img/s' in panel.stats.text()
    assert 'R1 –' in panel.stats.text()
    xs, ys = panel.curves['augment_p'].getData()
    assert list(xs) == [2.0, 4.0, 6.0, 8.0, 10.0] and ys[-1] == pytest.approx(0.2)
    assert list(panel.curves['loss_G'].getData()[1]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    # R1 is lazy (every 16 minibatches): ticks without it add no point, ticks with it do.
    assert panel.curves['r1'].getData()[0] is None or len(panel.curves['r1'].getData()[0]) == 0
    panel.on_progress({'kimg': 12.0, 'total_kimg': 40.0, 'images_per_sec': 10.0, 'eta_s': 10, 'loss_G': 2.0,
                       'loss_D': 0.4, 'r1': 0.0123, 'augment_p': 0.25, 'tick': 5})
    assert list(panel.curves['r1'].getData()[1]) == [0.0123] and 'R1 0.0123' in panel.stats.text()
    # The closing report of a stop has no minibatches: the last real numbers stay.
    panel.on_progress({'kimg': 12.0, 'total_kimg': 40.0, 'images_per_sec': 0.0, 'eta_s': float('nan'),
                       'loss_G': float('nan'), 'loss_D': float('nan'), 'r1': float('nan'), 'augment_p': 0.25,
                       'tick': 6, 'stopped': True})
    assert 'G 2.000' in panel.stats.text() and '10.0 img/s' in panel.stats.text()
    assert len(panel.curves['loss_G'].getData()[0]) == 6
    assert 'ETA --:--:--' in panel.progress.format()  # a stop's closing report has no ETA

    grid = np.zeros((32, 64, 3), np.uint8)
    grid[:, :32] = 200
    panel.on_preview(grid, 10.0)
    assert panel.preview.frame is grid and '10.00 kimg' in panel.preview_label.text()

    panel._set_state('paused')
    assert panel.resume_btn.isEnabled() and not panel.pause_btn.isEnabled() and not panel.start_btn.isEnabled()
    assert not panel.batch.isEnabled()
    panel._set_state('stopped')
    assert panel.start_btn.isEnabled() and panel.batch.isEnabled()

    job = panel.job()
    assert job.data == 'synthetic' and job.resolution == 64 and job.batch == 8 and job.augment
    panel.data_folder.setChecked(True)
    panel.folder_edit.setText('')
    assert panel.start() is None and 'dataset' in panel.status.text()


def test_engine_load_state_swaps_weights_or_refuses(tiny_G, tmp_path):
    from explorer.engine.checkpoint import network_record, save_generator
    from explorer.engine.session import Session
    path = save_generator(tiny_G, tmp_path / 'tiny.pt')
    engine = Session('cpu')
    engine.load(path)
    other = network_record(tiny_G)
    other['state_dict'] = {k: v + 1 if v.is_floating_point() else v for k, v in other['state_dict'].items()}
    info, _ = engine.load_state(other)
    assert info is engine.info and info.live
    for k, v in engine.G.state_dict().items():
        assert torch.equal(v, other['state_dict'][k])
    before = {k: v.clone() for k, v in engine.G.state_dict().items()}
    bad = dict(other, state_dict={k: v for k, v in list(other['state_dict'].items())[:-1]})
    with pytest.raises(CheckpointError):
        engine.load_state(bad)
    with pytest.raises(CheckpointError):
        engine.load_state(dict(other, **{'class': 'stylegan3'}))
    for k, v in engine.G.state_dict().items():
        assert torch.equal(v, before[k])


def test_window_finetune_live_weights_and_explore_snapshot(qtbot, tiny_G, folder, tmp_path, one_thread):
    """The Training tab in the real window: finetune the open checkpoint, watch the Explore
    view follow G_ema live, then open the final snapshot through the normal open path."""
    from explorer.engine.checkpoint import save_generator
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    ckpt = str(save_generator(tiny_G, tmp_path / 'tiny.pt'))
    win = MainWindow(checkpoint=ckpt, device='cpu')
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.frame is not None, timeout=15000)
        panel = win.training_panel
        titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
        assert 'Training' in titles
        assert panel.current_checkpoint == ckpt and panel.finetune.isEnabled()
        panel.finetune.setChecked(True)
        panel.live.setChecked(True)
        swapped = []
        win.worker.weightsSwapped.connect(swapped.append)
        job = tiny_job(folder, tmp_path / 'run', kimg=0.032, weights_every=1).replace(
            resolution=panel.job().resolution, finetune_from=panel.job().finetune_from)
        assert job.finetune_from == ckpt and job.resolution is None
        win.tabs.setCurrentWidget(panel)
        worker = panel.start(job)
        with qtbot.waitSignal(worker.finished, timeout=60000):
            pass
        assert worker.final_state == 'finished', panel.log.toPlainText()
        assert panel.state == 'finished' and panel.progress.value() == 1000
        assert panel.finetune.isChecked() and panel.folder_edit.text() == folder  # the form shows the job
        assert 'no discriminator' in panel.log.toPlainText()  # the warning reached the log
        qtbot.waitUntil(lambda: len(swapped) >= 1, timeout=15000)
        # The render engine holds G_ema's final weights (a copy, not the trainer's module).
        final = worker.trainer.G_ema.state_dict()
        qtbot.waitUntil(lambda: all(torch.equal(v, final[k]) for k, v in win.engine.G.state_dict().items()),
                        timeout=15000)
        assert win.engine.G is not worker.trainer.G_ema

        panel.resize(1300, 800)
        panel.grab().save(str(tmp_path / 'panel.png'))
        assert panel.latest_snapshot
        with qtbot.waitSignal(win.modelLoaded, timeout=15000) as blocker:
            panel.explore_btn.click()
        assert blocker.args[0].path == panel.latest_snapshot
        assert win.tabs.currentIndex() == 0
    finally:
        win.shutdown()
