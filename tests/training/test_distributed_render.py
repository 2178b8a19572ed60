"""Distributed batch rendering: ``torchrun --nproc_per_node=2 main.py render`` on the CPU (gloo)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.training import distributed

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 150


def torchrun(args, nproc=2, timeout=TIMEOUT_S, script='main.py'):
    """Run ``torchrun --standalone --nproc_per_node=N script args`` in its own process group; kill it on timeout."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
           script, *args]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'torchrun did not finish in {timeout} s:\n{out[-4000:]}')
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_G):
    from explorer.engine.checkpoint import save_generator
    return save_generator(tiny_G, tmp_path / 'tiny.pt')


def test_shard_has_no_duplicates_and_no_gaps():
    items = list(range(23))
    for world in (1, 2, 3, 4, 7, 30):
        parts = [distributed.shard(items, r, world) for r in range(world)]
        flat = [i for p in parts for i in p]
        assert sorted(flat) == items
        assert len(flat) == len(set(flat))
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    with pytest.raises(ValueError):
        distributed.shard(items, 2, 2)


def test_sharded_sampler_is_the_global_stream_split_by_rank():
    full = distributed.ShardedInfiniteSampler(10, seed=3, rank=0, world_size=1)
    ranks = [distributed.ShardedInfiniteSampler(10, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(7):  # crosses epoch boundaries (10 items, global batch 4)
        glob = full.next_batch(4)
        parts = [s.next_batch(2) for s in ranks]
        assert np.array_equal(glob[0::2], parts[0]) and np.array_equal(glob[1::2], parts[1])
    # The state is the global stream's: a 2-rank state continues in 1 rank exactly.
    cont = distributed.ShardedInfiniteSampler(10, seed=99, rank=0, world_size=1)
    cont.load_state_dict(ranks[0].state_dict())
    assert np.array_equal(cont.next_batch(4), full.next_batch(4))
    # Within one epoch the ranks' shares are disjoint and cover the dataset.
    a = [distributed.ShardedInfiniteSampler(12, seed=5, rank=r, world_size=2) for r in range(2)]
    seen = [np.concatenate([s.next_batch(3) for _ in range(2)]) for s in a]
    assert sorted(np.concatenate(seen).tolist()) == list(range(12))


def test_single_process_helpers_are_identity():
    t = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_(t, 'mean') is t and t.tolist() == [1.0, 2.0]
    assert distributed.get_world_size() == 1 and distributed.is_main_process()
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    assert distributed.choose_backend('cpu') == 'gloo' and distributed.choose_backend('cuda') == 'nccl'
    with pytest.raises(Exception, match='not divisible'):
        distributed.per_rank_batch(6, 4)
    assert distributed.per_rank_batch(8, 2) == 4


def test_skip_existing_single_process(tmp_path, tiny_checkpoint):
    from explorer.cli import main
    out = tmp_path / 'out'
    assert main(['render', '--checkpoint', str(tiny_checkpoint), '--seeds', '0-2', '--outdir', str(out),
                 '--device', 'cpu']) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / 'seed0001.png').unlink()
    (out / '.seed0001.png.12345.tmp').write_bytes(b'half a png')
    assert main(['render', '--checkpoint', str(tiny_checkpoint), '--seeds', '0-2', '--outdir', str(out),
                 '--device', 'cpu', '--skip-existing']) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(after) == ['seed0000.png', 'seed0001.png', 'seed0002.png']  # stale temp removed
    assert after['seed0000.png'] == before['seed0000.png'] and after['seed0002.png'] == before['seed0002.png']


def test_torchrun_render_two_ranks_each_seed_once_and_restartable(tmp_path, tiny_checkpoint, tiny_G):
    out = tmp_path / 'out'
    seeds = list(range(25))
    args = ['render', '--checkpoint', str(tiny_checkpoint), '--seeds', '0-24', '--outdir', str(out),
            '--device', 'cpu', '--psi', '0.7']
    rc, log = torchrun(args)
    assert rc == 0, log
    # Each rank reports what it wrote; the sum is every seed exactly once (a duplicate would count twice).
    assert 'wrote 25 PNG(s)' in log and 'with 2 process(es)' in log, log
    names = sorted(p.name for p in out.iterdir())
    assert names == [f'seed{s:04d}.png' for s in seeds]  # no gaps, no temp files left

    # Files hold the right seeds: same pixels as a single-process render.
    from explorer.engine.render_batch import render_seeds_to_dir
    ref = tmp_path / 'ref'
    ref.mkdir()
    render_seeds_to_dir(tiny_G, tiny_checkpoint, [0, 13, 24], ref, psi=0.7)
    for s in (0, 13, 24):
        name = f'seed{s:04d}.png'
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(ref / name)))

    # An interrupted run: two PNGs missing, one half-written temp file. A rerun fills exactly the gaps.
    (out / 'seed0003.png').unlink()
    (out / 'seed0018.png').unlink()
    (out / '.seed0018.png.4242.tmp').write_bytes(b'\x89PNG truncated')
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == '.png'}
    rc, log = torchrun(args)
    assert rc == 0, log
    assert 'wrote 2 PNG(s)' in log and '23 already there' in log, log
    assert sorted(p.name for p in out.iterdir()) == [f'seed{s:04d}.png' for s in seeds]
    for name, t in mtimes.items():
        assert (out / name).stat().st_mtime_ns == t, f'{name} was rewritten'
