"""main.py render --latent and --directions/--edit: PNGs that carry their latents and edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.engine.export import to_uint8
from explorer.engine.png import load_png, read_recipe
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import render

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / 'main.py'), *args], capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def ckpt(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return save_generator(tiny_G, tmp_path / 'tiny.pt')


def test_render_latent_in_nvidia_layout(tiny_G, ckpt, tmp_path):
    from explorer.engine.latent_io import write_latent_npz
    from explorer.engine.latents import compute_ws
    a = (compute_ws(tiny_G, [9], 0.6)[0] + 0.1).numpy()
    f = write_latent_npz(tmp_path / 'projected_w.npz', a)
    r = _cli('render', '--checkpoint', str(ckpt), '--latent', str(f), '--outdir', str(tmp_path / 'o'))
    assert r.returncode == 0, r.stderr
    png = tmp_path / 'o' / 'projected_w.png'
    expect = to_uint8(tiny_G.synthesis(torch.from_numpy(a)[None], noise_mode='const'))
    assert np.array_equal(load_png(png), expect)
    # the PNG alone re-renders the same pixels: the latent is inside its recipe
    recipe = Recipe.from_dict(read_recipe(png))
    assert recipe.latents and recipe.seeds == (recipe.latents[0].ref,)
    assert np.array_equal(to_uint8(render(tiny_G, recipe)), expect)


def test_render_with_edits_records_them(tiny_G, ckpt, tmp_path):
    from explorer.engine import directions as D
    dset = D.sefa(tiny_G, num=3, std_samples=0)
    dfile = dset.save(tmp_path / 'd.npz')
    r = _cli('render', '--checkpoint', str(ckpt), '--seeds', '4', '--psi', '0.7', '--directions', str(dfile),
             '--edit', '1=2.5@0-1', '--edit', '0=-1', '--outdir', str(tmp_path / 'e'))
    assert r.returncode == 0, r.stderr
    png = tmp_path / 'e' / 'seed0004.png'
    recipe = Recipe.from_dict(read_recipe(png))
    assert [(e.name, e.amount, e.layers) for e in recipe.edits] == [
        (dset.names[1], 2.5, (0, 1)), (dset.names[0], -1.0, tuple(range(tiny_G.num_ws)))]
    assert np.array_equal(to_uint8(render(tiny_G, recipe)), load_png(png))
    plain = to_uint8(render(tiny_G, recipe.replace(edits=())))
    assert not np.array_equal(plain, load_png(png))          # the edit changed the face


@pytest.mark.parametrize('args, msg', [
    (['--seeds', '1', '--edit', '0=1'], 'needs --directions'),
    (['--seeds', '1', '--latent', 'x.npz'], 'give --seeds'),
    ([], 'give --seeds'),
    (['--latent', '/nonexistent.npz'], 'no such file'),
])
def test_render_bad_latent_or_edit_arguments(ckpt, args, msg, tmp_path):
    r = _cli('render', '--checkpoint', str(ckpt), '--outdir', str(tmp_path / 'x'), *args)
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_render_refuses_directions_of_another_architecture(ckpt, tmp_path):
    from explorer.engine.directions import DirectionSet
    other = DirectionSet(directions=np.eye(2, 32, dtype=np.float32), layers=(0,), method='pca', names=('a', 'b'),
                         num_ws=5).save(tmp_path / 'other.npz')
    r = _cli('render', '--checkpoint', str(ckpt), '--seeds', '1', '--directions', str(other), '--edit', '0=1',
             '--outdir', str(tmp_path / 'x'))
    assert r.returncode == 2 and 'w_dim 32' in r.stderr
