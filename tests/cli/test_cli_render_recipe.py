"""main.py render --recipe IMG.png: a PNG this tool exported re-renders to the same pixels
from the command line (default model); a bad file is one line and exit code 2."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.cli import main
from explorer.engine.export import to_uint8
from explorer.engine.png import load_png, read_recipe, save_png
from explorer.engine.recipe import Recipe


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and 'Traceback' not in err[0], err
    return err[0]


def test_cli_export_re_renders_pixel_identical(tmp_path, capsys):
    first, again = tmp_path / 'first', tmp_path / 'again'
    assert main(['render', '--seeds', '17', '--psi', '0.6', '--noise-mode', 'random', '--noise-seed', '3',
                 '--outdir', str(first), '--device', 'cpu']) == 0
    src = first / 'seed0017.png'
    assert main(['render', '--recipe', str(src), '--outdir', str(again), '--device', 'cpu']) == 0
    out = again / 'seed0017.png'
    assert np.array_equal(load_png(out), load_png(src))
    assert read_recipe(out) == read_recipe(src)


def test_gui_style_recipe_re_renders_pixel_identical(tmp_path, capsys):
    """A recipe the GUI makes (blended seeds, per-layer mixing, noise settings) from its PNG alone."""
    from explorer.engine.checkpoint import default_checkpoint_path, load_generator, sha256_file
    from explorer.engine.rendering import render
    path = default_checkpoint_path()
    G = load_generator(path, device='cpu')
    L = G.num_ws
    recipe = Recipe(seeds=(4, 5, 104, 105), seed_weights=(0.4, 0.1, 0.4, 0.1), psi=0.8, cutoff=6,
                    noise_strength=0.7, mix_seeds=(9,), layer_source=(-1,) * (L - 4) + (0,) * 4,
                    layer_blend=(0.0,) * (L - 4) + (0.5,) * 4, layer_noise=(1.0,) * (L - 1) + (0.0,),
                    checkpoint=path.name, checkpoint_sha256=sha256_file(path))
    src = save_png(tmp_path / 'liked.png', to_uint8(render(G, recipe)), recipe.to_dict())
    assert main(['render', '--recipe', str(src), '--outdir', str(tmp_path / 'o'), '--device', 'cpu']) == 0
    assert np.array_equal(load_png(tmp_path / 'o' / 'liked.png'), load_png(src))
    # With --seeds: the recipe's settings for other seeds, one PNG each.
    assert main(['render', '--recipe', str(src), '--seeds', '1-2', '--outdir', str(tmp_path / 's'),
                 '--device', 'cpu']) == 0
    for s in (1, 2):
        got = Recipe.from_dict(read_recipe(tmp_path / 's' / f'seed{s:04d}.png'))
        # the file records the concrete synthesis path that rendered it ('auto' -> 'fast' here)
        assert got == recipe.replace(seeds=(s,), seed_weights=(1.0,), synthesis='fast')


@pytest.mark.parametrize('make, words', [
    (lambda d: d / 'missing.png', 'no such file'),
    (lambda d: (d / 'text.png').write_text('not a png') and d / 'text.png', 'not a readable image'),
    (lambda d: save_png(d / 'plain.png', np.zeros((4, 4, 3), np.uint8)), 'holds no StyleGAN Explorer recipe'),
    (lambda d: save_png(d / 'odd.png', np.zeros((4, 4, 3), np.uint8), {'seeds': [1], 'colour': 'red'}),
     'not valid'),
    (lambda d: save_png(d / 'odd2.png', np.zeros((4, 4, 3), np.uint8), {'seeds': 'x'}), 'not valid'),
])
def test_bad_recipe_file_is_one_line_and_exit_2(tmp_path, capsys, make, words):
    bad = make(tmp_path)
    assert main(['render', '--recipe', str(bad), '--outdir', str(tmp_path / 'o'), '--device', 'cpu']) == 2
    assert words in one_line_error(capsys)


def test_render_needs_seeds_or_recipe(tmp_path, capsys):
    assert main(['render', '--outdir', str(tmp_path)]) == 2
    assert '--seeds' in one_line_error(capsys)


def test_re_render_never_overwrites_its_source(tmp_path, capsys):
    assert main(['render', '--seeds', '2', '--outdir', str(tmp_path), '--device', 'cpu']) == 0
    capsys.readouterr()
    src = tmp_path / 'seed0002.png'
    before = src.read_bytes()
    assert main(['render', '--recipe', str(src), '--outdir', str(tmp_path), '--device', 'cpu']) == 2
    assert 'choose another --outdir' in one_line_error(capsys) and src.read_bytes() == before
