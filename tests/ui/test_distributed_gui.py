"""GUI side of multi-GPU training: following a torchrun run through RUN/stats.jsonl (offscreen, fake run)."""

import json
import sys
import textwrap

import pytest

from explorer.training import runlog

pytest.importorskip('PyQt6')

from explorer.training.jobs import TrainingJob  # noqa: E402
from explorer.workers import torchrun_process as tp  # noqa: E402


def fake_run_command(outdir, fail=False):
    """A stand-in for torchrun: prints like the CLI and appends stats lines like rank 0 does."""
    script = textwrap.dedent(f'''
        import json, sys, time
        from pathlib import Path
        out = Path({str(outdir)!r})
        out.mkdir(parents=True, exist_ok=True)
        stats = out / 'stats.jsonl'
        print('training 16x16 on cuda:0 x 2 processes (nccl)', flush=True)
        for i, kimg in enumerate((0.5, 1.0, 1.5)):
            rec = {{'kimg': kimg, 'total_kimg': 1.5, 'tick': i, 'loss_G': 1.0 + i, 'loss_D': None,
                    'eta_s': None, 'done': kimg == 1.5, 'snapshot': None, 'world_size': 2}}
            if kimg == 1.5:
                snap = out / 'network-snapshot-000001.pt'
                snap.write_bytes(b'snapshot')
                rec['snapshot'] = str(snap)
            line = json.dumps(rec) + '\\n'
            with open(stats, 'a') as f:  # half a line first: the reader must wait for the rest
                f.write(line[:10]); f.flush(); time.sleep(0.15); f.write(line[10:])
            time.sleep(0.1)
        if {fail!r}:
            print('error: CUDA out of memory', flush=True)
            sys.exit(1)
    ''')
    return [sys.executable, '-c', script]


def test_stats_tail_returns_only_complete_new_lines(tmp_path):
    path = runlog.stats_path(tmp_path)
    tail = runlog.StatsTail(path)
    assert tail.poll() == []  # no file yet
    runlog.append_stats(tmp_path, {'kimg': 1.0, 'loss_G': float('nan'), 'done': False})
    with open(path, 'a') as f:
        f.write('{"kimg": 2.0')
    assert tail.poll() == [{'done': False, 'kimg': 1.0, 'loss_G': None}]
    with open(path, 'a') as f:
        f.write(', "done": true}\n')
    assert tail.poll() == [{'kimg': 2.0, 'done': True}]
    assert tail.poll() == []
    path.write_text(json.dumps({'kimg': 0.1}) + '\n')  # replaced by a new run: start over
    assert tail.poll() == [{'kimg': 0.1}]
    # A reader attached to an existing log (a resumed run) sees only what comes next.
    late = runlog.StatsTail(path, from_start=False)
    runlog.append_stats(tmp_path, {'kimg': 0.2})
    assert late.poll() == [{'kimg': 0.2}]


def test_torchrun_command_is_a_valid_train_command(tmp_path):
    from explorer.cli import build_parser
    job = TrainingJob(data='synthetic', outdir=str(tmp_path / 'run'), resolution=32, batch=16, kimg=50,
                      augment=True, ada_target=0.7)
    cmd = tp.build_torchrun_command(job, 4, python='python3')
    assert cmd[:5] == ['python3', '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=4']
    assert cmd[5].endswith('main.py')
    args = build_parser().parse_args(cmd[6:])
    assert args.command == 'train' and args.batch == 16 and args.resolution == 32 and args.kimg == 50
    assert args.augment and args.ada_target == 0.7 and args.data == 'synthetic' and args.z_dim == 64
    resume = build_parser().parse_args(tp.build_torchrun_command(job.replace(resume=True), 2)[6:])
    assert resume.resume and resume.outdir == job.outdir


def test_process_follows_the_run_log(qtbot, tmp_path):
    job = TrainingJob(data='synthetic', outdir=str(tmp_path / 'run'))
    p = tp.TorchrunTrainingProcess(job, 2, command=fake_run_command(job.outdir), poll_ms=50)
    seen, states, snaps, logs = [], [], [], []
    p.progress.connect(seen.append)
    p.state.connect(states.append)
    p.snapshot_ready.connect(snaps.append)
    p.log.connect(logs.append)
    p.start()
    qtbot.waitUntil(lambda: p.final_state is not None, timeout=30000)
    assert [r['kimg'] for r in seen] == [0.5, 1.0, 1.5]  # each tick once, no half lines
    assert states[0] == 'starting' and states[-1] == 'finished'
    assert snaps == [str(tmp_path / 'run' / 'network-snapshot-000001.pt')]
    assert any('x 2 processes' in line for line in logs)


def test_process_failure_is_reported(qtbot, tmp_path):
    job = TrainingJob(data='synthetic', outdir=str(tmp_path / 'run'))
    p = tp.TorchrunTrainingProcess(job, 2, command=fake_run_command(job.outdir, fail=True), poll_ms=50)
    errors = []
    p.errored.connect(errors.append)
    p.start()
    qtbot.waitUntil(lambda: p.final_state is not None, timeout=30000)
    assert p.final_state == 'error' and 'code 1' in errors[0] and 'out of memory' in errors[0]


def test_panel_runs_multi_gpu_job_and_explores_its_snapshot(qtbot, tmp_path, monkeypatch):
    from explorer.ui import training_panel
    monkeypatch.setattr(training_panel, 'cuda_device_count', lambda: 1)
    single = training_panel.TrainingPanel()
    qtbot.addWidget(single)
    assert not single.gpus.isEnabled()  # one GPU (or none): no multi-GPU option

    monkeypatch.setattr(training_panel, 'cuda_device_count', lambda: 4)
    commands = []

    def fake_build(job, nproc, python=None):
        commands.append((job, nproc))
        return fake_run_command(job.outdir)
    monkeypatch.setattr(tp, 'build_torchrun_command', fake_build)
    panel = training_panel.TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.gpus.isEnabled() and panel.gpus.maximum() == 4
    panel.gpus.setValue(2)
    panel.outdir_edit.setText(str(tmp_path / 'run'))
    w = panel.start()
    assert isinstance(w, tp.TorchrunTrainingProcess) and commands[0][1] == 2
    assert not panel.pause_btn.isEnabled() and not panel.gpus.isEnabled()
    qtbot.waitUntil(lambda: panel.state == 'finished', timeout=30000)
    assert panel.progress.value() == 1000 and panel.last_info['kimg'] == 1.5
    assert panel.gpus.isEnabled()
    with qtbot.waitSignal(panel.exploreRequested) as sig:
        panel.explore_snapshot()
    assert sig.args == [str(tmp_path / 'run' / 'network-snapshot-000001.pt')]
