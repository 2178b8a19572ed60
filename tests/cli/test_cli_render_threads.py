"""render --threads N: the same pixels at any thread count (on the CPU the fast path renders N
seeds at once, each bit for bit as alone); a bad count is one line and exit 2."""


import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from explorer.engine.png import load_png, read_recipe


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=16))
    return save_generator(G, tmp_path_factory.mktemp('ck') / 'tiny.pt')


def test_thread_counts_give_the_same_files(tmp_path, ckpt):
    outs = {}
    for n in (1, 3):
        out = tmp_path / f't{n}'
        r = run_cli('render', '--checkpoint', str(ckpt), '--seeds', '0-4', '--noise-mode', 'random',
                    '--threads', str(n), '--outdir', str(out))
        assert r.returncode == 0, r.stderr
        outs[n] = sorted(out.glob('*.png'))
    assert [p.name for p in outs[1]] == [p.name for p in outs[3]] == [f'seed{s:04d}.png' for s in range(5)]
    for a, b in zip(outs[1], outs[3]):
        assert np.array_equal(load_png(a), load_png(b))
        assert read_recipe(a) == read_recipe(b)
    assert not np.array_equal(load_png(outs[1][0]), load_png(outs[1][1]))


def test_bad_thread_count_is_one_line(tmp_path, ckpt):
    r = run_cli('render', '--checkpoint', str(ckpt), '--seeds', '0', '--threads', '0', '--outdir', str(tmp_path))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr
