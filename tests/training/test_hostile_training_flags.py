"""Hostile training numbers and runs: every flag checked before work starts, non-finite runs
stop with their last good snapshot and a nonzero exit, SIGTERM stops (a second one aborts at
once, even inside a long step), a full disk is one line."""

import hashlib
import math
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from hostile_helpers import ROOT
from PIL import Image

from explorer.cli import main
from explorer.errors import ExplorerError, UserError
from explorer.training import runs
from explorer.training import snapshot as snap
from explorer.training.dataset import open_dataset
from explorer.training.loop import (
    MAX_PARAMETERS,
    SnapshotWriteError,
    Trainer,
    TrainingConfig,
    TrainingDiverged,
    estimate_parameters,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_data(tmp_path):
    d = tmp_path / 'data'
    d.mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16, 3), (200, 30 + i, 60), np.uint8)).save(d / f'{i}.png')
    return d


TINY = ['--resolution', '16', '--batch', '4', '--z-dim', '16', '--w-dim', '16', '--map', '1',
        '--channel-base', '256', '--channel-max', '32', '--threads', '1']


def tiny_config(**kw):
    base = dict(resolution=16, batch=4, kimg=1.0, z_dim=16, w_dim=16, mapping_layers=1, channel_base=256,
                channel_max=32, tick_kimg=0.004, tick_seconds=1e9, snapshot_kimg=0.008, snapshot_minutes=None)
    base.update(kw)
    return TrainingConfig(**base)


@pytest.mark.parametrize('flags, message', [
    (['--kimg', 'inf'], 'argument --kimg: expected a finite number'),
    (['--kimg', 'nan'], 'argument --kimg: expected a finite number'),
    (['--kimg', '1e30'], '--kimg must be a finite number in (0, 1e+07]'),
    (['--lr', 'inf'], 'argument --lr: expected a finite number'),
    (['--lr', '5'], '--lr must be a finite number in (0, 1]'),
    (['--resolution', str(2 ** 40)], '--resolution must be a whole number from 4 to 4096'),
    (['--resolution', '48'], '--resolution must be a power of two from 4 to 4096, got 48'),
    (['--z-dim', str(10 ** 9)], '--z-dim must be a whole number from 1 to 4096'),
    (['--batch', str(10 ** 8)], '--batch must be a whole number from 1 to 4096'),
    (['--batch', '4096', '--resolution', '1024'], '--batch 4096 at 1024x1024 is 4.3 gigapixels'),
    (['--channel-base', '8', '--resolution', '64'], '--channel-base 8 gives no channels at 64x64'),
    (['--channel-base', str(1 << 20), '--channel-max', '4096', '--resolution', '1024'], 'billion parameters'),
    (['--map', '1000'], '--map must be a whole number from 1 to 64'),
    (['--gamma', '1e300'], '--gamma must be a finite number in [0, 1e+06]'),
    (['--snapshot-kimg', 'inf'], 'argument --snapshot-kimg: expected a finite number'),
    (['--ada-kimg=-inf'], 'argument --ada-kimg: expected a finite number'),
])
def test_cli_numbers_are_refused_before_any_work(tmp_path, capsys, flags, message):
    out = tmp_path / 'run'
    try:
        rc = main(['train', '--data', str(tmp_path / 'no-such-folder'), '--outdir', str(out), *flags])
    except SystemExit as e:  # argparse's own refusal
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert message in err and len(err.splitlines()) == 1 and 'Traceback' not in err
    assert 'no-such-folder' not in err  # refused before the dataset was even looked at
    assert not out.exists()


def test_config_from_a_snapshot_is_validated_too():
    for bad in ({'kimg': math.inf}, {'g_lr': math.nan}, {'batch': 2.5}, {'z_dim': True}, {'seed': -1},
                {'resolution': 1 << 40}, {'snapshot_minutes': math.inf}, {'channel_max': '512'}):
        with pytest.raises(UserError) as info:
            TrainingConfig.from_dict(dict(tiny_config().to_dict(), **bad)).validate()
        assert '\n' not in str(info.value)
    tiny_config().validate()


def test_parameter_estimate_matches_the_built_networks():
    from explorer.training.loop import build_discriminator, build_generator
    for cfg, c_dim in ((tiny_config(), 0), (tiny_config(resolution=32, channel_base=1024, channel_max=64), 3)):
        real = sum(p.numel() for net in (build_generator(cfg, c_dim), build_discriminator(cfg, c_dim))
                   for p in net.parameters())
        assert abs(estimate_parameters(cfg, c_dim) - real) < 0.1 * real
    huge = tiny_config(resolution=1024, channel_base=1 << 20, channel_max=4096)
    assert estimate_parameters(huge) > MAX_PARAMETERS


def _poison(trainer):
    with torch.no_grad():
        for p in trainer.G.parameters():
            p.fill_(float('nan'))


def test_non_finite_run_stops_and_keeps_the_last_good_snapshot(tiny_data, tmp_path):
    trainer = Trainer(tiny_config(), open_dataset(tiny_data, resolution=16), tmp_path / 'run')
    progress = trainer.run()
    while trainer.cur_nimg < 16:
        p = next(progress)
    assert p['snapshot'] and math.isfinite(p['loss_G'])
    good = runs.latest_snapshot(tmp_path / 'run')
    good_bytes = hashlib.sha256(good.read_bytes()).hexdigest()
    _poison(trainer)
    with pytest.raises(TrainingDiverged, match='non-finite weights') as info:
        next(progress)
    assert str(good) in str(info.value) and '\n' not in str(info.value)
    assert runs.list_snapshots(tmp_path / 'run') == [good]
    assert hashlib.sha256(good.read_bytes()).hexdigest() == good_bytes
    data = snap.read_snapshot(good)
    assert data['nimg'] == 16
    assert all(torch.isfinite(t).all() for t in data['G_ema']['state_dict'].values())
    with pytest.raises(TrainingDiverged):  # a stop request never writes the poisoned state either
        trainer.snapshot()


def test_cli_divergence_exits_nonzero_without_a_nan_snapshot(tiny_data, tmp_path, capsys, monkeypatch):
    init, step = Trainer.__init__, Trainer.train_step

    def fast_ticks(self, *a, **k):
        init(self, *a, **k)
        self.config.tick_kimg = 0.004  # a tick (and a snapshot check) every step

    def poisoned_step(self):
        stats = step(self)
        if self.batch_idx == 5:
            _poison(self)
        return stats

    monkeypatch.setattr(Trainer, '__init__', fast_ticks)
    monkeypatch.setattr(Trainer, 'train_step', poisoned_step)
    run = tmp_path / 'run'
    rc = main(['train', '--data', str(tiny_data), '--outdir', str(run), '--kimg', '1', '--snapshot-kimg', '0.008',
               *TINY])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert 'error: training diverged at 0.020 kimg (non-finite weights)' in err and 'Traceback' not in err
    data = snap.read_snapshot(runs.latest_snapshot(run))
    assert data['nimg'] == 16
    assert all(torch.isfinite(t).all() for t in data['G']['state_dict'].values())


def test_sigterm_stops_after_the_step_with_a_final_snapshot(tiny_data, tmp_path, capsys, monkeypatch):
    step = Trainer.train_step

    def step_then_sigterm(self):
        stats = step(self)
        if self.batch_idx == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    monkeypatch.setattr(Trainer, 'train_step', step_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    run = tmp_path / 'run'
    rc = main(['train', '--data', str(tiny_data), '--outdir', str(run), '--kimg', '1000', '--snapshot-kimg', '1000',
               *TINY])
    err = capsys.readouterr().err
    assert rc == 130, err
    assert 'stopping: finishing this step' in err
    assert signal.getsignal(signal.SIGTERM) is before
    assert snap.read_snapshot(runs.latest_snapshot(run))['nimg'] == 3 * 4  # stopped right after that step


def test_second_sigterm_aborts_at_once_inside_a_long_step(tiny_data, tmp_path):
    marker = tmp_path / 'in-long-step'
    preamble = f'''
    import pathlib, torch
    from explorer.training.loop import Trainer
    _step = Trainer.train_step
    def long_step(self):
        stats = _step(self)
        if self.batch_idx == 2:
            pathlib.Path({str(marker)!r}).touch()
            torch.ones(1).expand(4 * 10 ** 10).sum()  # one GIL-free op of many seconds
        return stats
    Trainer.train_step = long_step
    '''
    code = preamble + f'''
    from explorer.cli import main
    sys.exit(main({['train', '--data', str(tiny_data), '--outdir', str(tmp_path / 'run'), '--kimg', '1000',
                    *TINY]!r}))
    '''
    prelude = f'import sys; sys.path.insert(0, {str(ROOT)!r})\n'
    import textwrap
    proc = subprocess.Popen([sys.executable, '-c', prelude + textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    try:
        deadline = time.time() + 60
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else 'no start'
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert time.time() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert 'stopping: finishing this step' in err and 'aborted; the last snapshot on disk is intact' in err
    assert 'Traceback' not in err


def test_full_disk_during_a_snapshot_is_one_error_and_keeps_the_previous(tiny_data, tmp_path):
    trainer = Trainer(tiny_config(), open_dataset(tiny_data, resolution=16), tmp_path / 'run')
    trainer.train_step()
    first = trainer.snapshot()
    first_hash = hashlib.sha256(first.read_bytes()).hexdigest()
    trainer.cur_nimg += 1000  # past 1 kimg: a new snapshot name, so the old file must survive by itself
    trainer.train_step()
    limit = first.stat().st_size // 2
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        with pytest.raises(SnapshotWriteError) as info:
            trainer.snapshot()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    msg = str(info.value)
    assert isinstance(info.value, ExplorerError) and '\n' not in msg
    assert 'cannot write a snapshot' in msg and f'the previous snapshot {first} is intact' in msg
    assert sorted(p.name for p in (tmp_path / 'run').iterdir()) == ['config.json', first.name]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == first_hash
