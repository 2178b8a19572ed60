"""Data-parallel training: 2 processes (torchrun, gloo on the CPU) against 1 process.

One torchrun job (tests/dist_train_worker.py) runs two short trainings; this module then
checks, in the test process:

- equivalence: 2 ranks x batch 4 == 1 rank x batch 8 from the same seed (G_ema, G, D).
  Tolerance 1e-4 (absolute, on weights of magnitude ~1): the two runs do the same
  arithmetic except for float32 summation order (a conv weight gradient summed over 8
  samples vs two sums of 4 averaged by the all-reduce), i.e. relative differences ~1e-7 in
  the gradients. Adam (beta1 = 0) turns a gradient into lr * g / (sqrt(v) + eps), which
  can amplify a tiny difference where g is near zero, but never beyond a fraction of one
  step of size lr = 2.5e-3; 1e-4 is 4 % of one step over 3 steps, while the weights move by
  more than 100x the tolerance and a 1-rank run with only the per-rank batch (4) lands
  more than 10x the tolerance away (so the check can tell the data apart).
- ranks in sync: with noise, style mixing, path length and ADA on, both ranks end with
  bit-identical weights, w_avg, pl_mean, ADA statistic and augment p.
- only rank 0 writes snapshots and stats lines.
- resume: the 2-rank snapshot continues in 1 process (``main.py train --resume``) from
  its kimg.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from test_distributed_render import torchrun  # noqa: E402  (same torchrun runner, with timeout + cleanup)

from explorer.training import runlog, runs
from explorer.training import snapshot as snap

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


def _worker_module():
    spec = importlib.util.spec_from_file_location('dist_train_worker', ROOT / 'tests' / 'dist_train_worker.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def two_rank_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist_train')
    rc, log = torchrun([str(out)], script='tests/dist_train_worker.py', timeout=240)
    assert rc == 0, log
    return out


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


def test_two_ranks_equal_one_rank_with_the_whole_batch(two_rank_run, tmp_path):
    torch.set_num_threads(1)
    w = _worker_module()
    two = snap.read_snapshot(runs.latest_snapshot(two_rank_run / 'equiv'))
    assert two['nimg'] == w.STEPS * w.GLOBAL_BATCH

    def one_rank(batch):
        t = w.make_trainer(w.equiv_config(batch=batch), tmp_path / f'one{batch}')
        start = t.g_ema_state()
        for _ in t.run():
            pass
        assert t.world_size == 1 and t.batch_gpu == batch
        return t, start

    one, start = one_rank(w.GLOBAL_BATCH)
    assert one.cur_nimg == two['nimg']
    g_ema = one.g_ema_state()
    assert _max_diff(g_ema, two['G_ema']['state_dict']) < TOL
    assert _max_diff({k: v.detach() for k, v in one.G.state_dict().items()}, two['G']['state_dict']) < TOL
    assert _max_diff({k: v.detach() for k, v in one.D.state_dict().items()}, two['D']['state_dict']) < TOL
    assert _max_diff(g_ema, start) > 100 * TOL  # training moved the weights far beyond the tolerance

    half, _ = one_rank(w.GLOBAL_BATCH // 2)  # one rank's share only: a different run
    assert _max_diff(half.g_ema_state(), two['G_ema']['state_dict']) > 10 * TOL


def test_ranks_stay_in_sync_and_only_rank0_writes(two_rank_run):
    info = [json.loads((two_rank_run / f'rank{r}.json').read_text()) for r in range(2)]
    states = [torch.load(two_rank_run / f'rank{r}_sync.pt', weights_only=True) for r in range(2)]
    for i in info:
        assert i['world_size'] == 2 and i['batch_gpu'] == 4 and i['nimg'] == 32
    # ADA moved p (target below any reachable E[sign]) and the ranks agree on it.
    assert info[0]['augment_p'] > 0 and info[0]['augment_p'] == info[1]['augment_p']
    # The ADA statistic is the all-reduced one: a count of global samples (8 after 1 step since the reset).
    assert states[0]['ada_signs'][1].item() == 8
    for key in ('G_ema', 'G', 'D'):
        a, b = states[0][key], states[1][key]
        assert all(torch.equal(a[k], b[k]) for k in a), key
    assert torch.equal(states[0]['pl_mean'], states[1]['pl_mean']) and states[0]['pl_mean'] > 0
    assert torch.equal(states[0]['ada_signs'], states[1]['ada_signs'])
    w_avg = states[0]['G']['mapping.w_avg']
    assert w_avg.abs().sum() > 0 and torch.equal(w_avg, states[0]['G_ema']['mapping.w_avg'])

    # Only rank 0 writes: snapshots and stats lines (one per tick, not one per rank per tick).
    assert info[1]['write_snapshot'] == 0 and info[1]['append_stats'] == 0
    assert info[0]['write_snapshot'] == 2
    sync_lines = (two_rank_run / 'sync' / runlog.STATS_NAME).read_text().splitlines()
    assert len(sync_lines) == info[0]['ticks'] == 4
    assert [json.loads(x)['kimg'] for x in sync_lines] == [0.008, 0.016, 0.024, 0.032]
    assert all(json.loads(x)['world_size'] == 2 for x in sync_lines)
    for run in ('equiv', 'sync'):
        names = sorted(p.name for p in (two_rank_run / run).iterdir())
        assert names == ['config.json', 'network-snapshot-000000.pt', runlog.STATS_NAME]
    # "Explore this snapshot": a 2-rank snapshot opens like any other checkpoint.
    import explorer
    G = explorer.load_generator(two_rank_run / 'sync' / 'network-snapshot-000000.pt', device='cpu')
    assert all(torch.equal(v, states[0]['G_ema'][k]) for k, v in G.state_dict().items())


def test_resume_two_rank_snapshot_in_one_process(two_rank_run, tmp_path):
    import shutil

    from explorer.cli import main
    run = tmp_path / 'sync'
    shutil.copytree(two_rank_run / 'sync', run)
    before = snap.read_snapshot(runs.latest_snapshot(run))
    assert before['nimg'] == 32
    # Only the one snapshot name (kimg rounds to 0): the newest file is the resumed run's.
    rc = main(['train', '--outdir', str(run), '--resume', '--kimg', '0.048', '--threads', '1', '--device', 'cpu'])
    assert rc == 0
    after = snap.read_snapshot(runs.latest_snapshot(run))
    assert after['nimg'] == 48 and after['config']['batch'] == 8
    assert after['progress']['batch_idx'] == before['progress']['batch_idx'] + 2
    lines = [json.loads(x) for x in (run / runlog.STATS_NAME).read_text().splitlines()]
    resumed = [x for x in lines if x['world_size'] == 1]
    assert [x['kimg'] for x in resumed] == [0.04, 0.048]  # continues the count, does not restart at 0


def test_torchrun_train_command_prints_and_writes_once(tmp_path):
    """The real entry point: `torchrun --nproc_per_node=2 main.py train ...` (rank 0 alone talks)."""
    run = tmp_path / 'run'
    rc, log = torchrun(['train', '--data', 'synthetic', '--synthetic-length', '8', '--resolution', '16',
                        '--batch', '4', '--kimg', '0.008', '--z-dim', '16', '--w-dim', '16', '--channel-base', '128',
                        '--channel-max', '16', '--threads', '1', '--device', 'cpu', '--outdir', str(run)])
    assert rc == 0, log
    assert log.count('x 2 processes (gloo)') == 1, log  # rank 1 prints nothing
    assert log.count('last snapshot:') == 1, log
    data = snap.read_snapshot(runs.latest_snapshot(run))
    assert data['nimg'] == 8 and data['config']['batch'] == 4
    lines = [json.loads(x) for x in (run / runlog.STATS_NAME).read_text().splitlines()]
    assert lines[-1]['done'] and lines[-1]['kimg'] == 0.008 and all(x['world_size'] == 2 for x in lines)
