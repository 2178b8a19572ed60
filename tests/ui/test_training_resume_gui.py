"""Resume a run from the Training tab: stop a run in the panel, continue it through "Resume run…"
(same folder, same kimg count, plots carried on), and refuse folders that hold nothing to resume."""

from __future__ import annotations

import json

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

# The training-worker tests' fixtures: 1 torch thread, a tiny dataset (conftest fails a test that leaves a thread).
from test_training_worker import folder, tiny_job  # noqa: E402,F401


@pytest.fixture
def panel(qtbot):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.training_panel import TrainingPanel
    p = TrainingPanel()
    qtbot.addWidget(p)
    return p


def spy_progress(panel, monkeypatch) -> list:
    """Every progress dict the panel receives (connected before the worker starts: nothing is missed)."""
    seen = []
    original = panel.on_progress

    def spy(info):
        seen.append(dict(info))
        original(info)
    monkeypatch.setattr(panel, 'on_progress', spy)
    return seen


def test_stop_then_resume_from_the_panel(qtbot, panel, folder, tmp_path, monkeypatch, one_thread):
    from explorer.training.jobs import CUSTOM_NETWORK
    from explorer.training.runlog import read_stats
    from explorer.training.runs import latest_snapshot
    from explorer.training.snapshot import snapshot_info

    run = tmp_path / 'run'
    seen = spy_progress(panel, monkeypatch)
    first = panel.start(tiny_job(folder, run, kimg=50.0), max_rate_hz=50)
    assert first is not None
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=20000)
    with qtbot.waitSignal(first.finished, timeout=20000):
        panel.stop_btn.click()
    assert first.final_state == 'stopped' and panel.state == 'stopped'
    assert panel.resume_run_btn.isEnabled()
    snap = latest_snapshot(run)
    info = snapshot_info(snap)
    assert info['nimg'] == first.trainer.cur_nimg > 0 and info['config']['kimg'] == 50.0
    stopped_kimg = info['kimg']
    past = read_stats(run, up_to_kimg=stopped_kimg)
    assert len(past) >= 2

    # Start again into the same folder would mix two runs: refused, pointing at Resume run….
    assert panel.outdir_edit.text() == str(run)
    assert panel.start() is None and 'Resume run' in panel.status.text()
    assert panel.worker is first

    # Resume run…: the folder dialog returns this run.
    asked = []
    monkeypatch.setattr(panel, '_ask_run_folder', lambda: asked.append(1) or str(run))
    n_first = len(seen)
    panel.resize(1300, 800)
    panel.resume_run_btn.click()
    second = panel.worker
    assert asked == [1] and second is not first and second.isRunning()
    assert second.job.resume and second.job.outdir == str(run) and second.job.kimg == 50.0
    # The snapshot and the run's config are on show; the form shows the run's settings.
    assert snap.name in panel.run_info.text() and f'{stopped_kimg:.2f} of 50 kimg' in panel.run_info.text()
    assert '16×16' in panel.run_info.text() and 'batch 4' in panel.run_info.text()
    assert panel.resolution.currentData() == 16 and panel.batch.value() == 4 and panel.kimg.value() == 50.0
    assert panel.folder_edit.text() == folder and panel.latest_snapshot == str(snap)
    # TINY sizes match no preset: the Network choice says so, and a new run from the form keeps them.
    assert panel.network.currentText() == CUSTOM_NETWORK
    cfg = panel.job().config()
    assert (cfg.z_dim, cfg.w_dim, cfg.channel_base, cfg.channel_max) == (16, 16, 128, 16)
    # The plots start with the run's past ticks (from RUN/stats.jsonl) and the bar where the run was.
    assert panel.history['loss_G'][0] == [r['kimg'] for r in past]
    assert panel.progress.value() == round(stopped_kimg / 50.0 * 1000)
    assert not panel.start_btn.isEnabled() and not panel.resume_run_btn.isEnabled()

    # The resumed worker continues the kimg count, relative to the run's total.
    qtbot.waitUntil(lambda: len(seen) >= n_first + 2, timeout=20000)
    resumed = seen[n_first:]
    assert resumed[0]['kimg'] >= stopped_kimg
    assert resumed[-1]['kimg'] > resumed[0]['kimg'] > stopped_kimg  # training goes on
    assert all(r['total_kimg'] == 50.0 for r in resumed)
    assert second.trainer.resume_path == snap
    assert '/ 50 kimg' in panel.progress.format()
    xs = panel.history['loss_G'][0]
    assert len(xs) > len(past) and all(a < b for a, b in zip(xs, xs[1:]))  # one continuous curve
    panel.grab().save(str(tmp_path / 'panel.png'))

    with qtbot.waitSignal(second.finished, timeout=20000):
        panel.stop_btn.click()
    assert second.final_state == 'stopped' and second.error is None and panel.state == 'stopped'
    assert snapshot_info(latest_snapshot(run))['kimg'] > stopped_kimg
    assert json.loads((run / 'config.json').read_text())['kimg'] == 50.0


def test_resume_refuses_folders_without_a_snapshot(qtbot, panel, tmp_path, monkeypatch):
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setattr(panel, '_ask_run_folder', lambda: str(empty))
    panel.resume_run_btn.click()
    assert panel.worker is None and panel.state == 'idle'
    assert 'Cannot resume' in panel.status.text() and 'no training snapshot' in panel.status.text()
    assert str(empty) in panel.status.text()

    assert panel.resume_run(str(tmp_path / 'missing')) is None
    assert 'is not a folder' in panel.status.text()

    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / 'network-snapshot-000004.pt').write_bytes(b'not a snapshot at all')
    assert panel.resume_run(str(broken)) is None
    assert 'no readable snapshot' in panel.status.text() and 'network-snapshot-000004.pt' in panel.status.text()

    monkeypatch.setattr(panel, '_ask_run_folder', lambda: None)  # dialog cancelled: nothing happens
    panel.status.setText('Idle')
    panel.resume_run_btn.click()
    assert panel.worker is None and panel.status.text() == 'Idle'


def test_resume_a_finished_run_asks_for_a_longer_length(qtbot, panel, folder, tmp_path, monkeypatch, one_thread):
    from explorer.training.runs import latest_snapshot
    from explorer.training.snapshot import snapshot_info

    run = tmp_path / 'run'
    w = panel.start(tiny_job(folder, run, kimg=0.008, preview_seeds=()), max_rate_hz=50)
    with qtbot.waitSignal(w.finished, timeout=20000):
        pass
    assert w.final_state == 'finished'
    done_kimg = snapshot_info(latest_snapshot(run))['kimg']
    assert done_kimg == pytest.approx(0.008)

    asked = []
    monkeypatch.setattr(panel, '_ask_total_kimg', lambda r: asked.append(r) or None)  # cancelled
    assert panel.resume_run(str(run)) is None and panel.worker is w
    assert asked[0].finished and asked[0].total_kimg == 0.008

    seen = spy_progress(panel, monkeypatch)
    w2 = panel.resume_run(str(run), kimg=0.016, max_rate_hz=50)
    with qtbot.waitSignal(w2.finished, timeout=20000):
        pass
    assert w2.final_state == 'finished', panel.log.toPlainText()
    assert seen[0]['kimg'] > done_kimg and seen[-1]['kimg'] == pytest.approx(0.016)
    assert panel.progress.value() == 1000 and '0.02 / 0.016 kimg' in panel.progress.format()


def test_read_stats_is_one_continuous_history(tmp_path):
    from explorer.training.runlog import append_stats, read_stats
    assert read_stats(tmp_path) == []
    for k in (1, 2, 3, 4):          # the first session got to 4 kimg, its last snapshot was at 2
        append_stats(tmp_path, {'kimg': float(k), 'loss_G': k})
    for k in (2.5, 3.5, 5):         # resumed from 2: 2.5 onwards replaces the first session's ticks
        append_stats(tmp_path, {'kimg': float(k), 'loss_G': -k})
    assert [(r['kimg'], r['loss_G']) for r in read_stats(tmp_path)] == [(1, 1), (2, 2), (2.5, -2.5), (3.5, -3.5),
                                                                         (5, -5)]
    assert [r['kimg'] for r in read_stats(tmp_path, up_to_kimg=3.5)] == [1, 2, 2.5, 3.5]
