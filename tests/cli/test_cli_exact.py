"""Commands render fast by default and record it; ``--exact`` renders with the reference and records
'ref'; ``render --recipe`` re-renders on the recorded path, bit for bit (default model)."""

from __future__ import annotations

import json

import numpy as np

from explorer.cli import main
from explorer.engine.export import to_uint8
from explorer.engine.png import load_png, read_recipe
from explorer.engine.recipe import Recipe


def _default_G():
    from explorer.engine.checkpoint import default_checkpoint_path, load_generator
    return load_generator(default_checkpoint_path(), device='cpu')


def _reference_png(G, recipe):
    from explorer.engine.rendering import render
    return to_uint8(render(G, recipe.replace(synthesis='ref')))


def test_render_is_fast_by_default_and_exact_on_request(tmp_path):
    for flag, outdir in (([], 'fast'), (['--exact'], 'exact')):
        assert main(['render', '--seeds', '3', '--psi', '0.7', '--outdir', str(tmp_path / outdir),
                     '--device', 'cpu'] + flag) == 0
    fast, exact = tmp_path / 'fast' / 'seed0003.png', tmp_path / 'exact' / 'seed0003.png'
    assert read_recipe(fast)['synthesis'] == 'fast' and read_recipe(exact)['synthesis'] == 'ref'
    G = _default_G()
    assert np.array_equal(load_png(exact), _reference_png(G, Recipe.from_dict(read_recipe(exact))))
    diff = np.abs(load_png(fast).astype(int) - load_png(exact).astype(int))
    assert diff.max() <= 1                                          # float rounding, at most one level
    # Each re-renders bit for bit on its recorded path; --exact overrides a 'fast' recipe.
    for src, name in ((fast, 'again_fast'), (exact, 'again_exact')):
        assert main(['render', '--recipe', str(src), '--outdir', str(tmp_path / name), '--device', 'cpu']) == 0
        again = tmp_path / name / 'seed0003.png'
        assert np.array_equal(load_png(again), load_png(src)) and read_recipe(again) == read_recipe(src)
    assert main(['render', '--recipe', str(fast), '--exact', '--outdir', str(tmp_path / 'forced'),
                 '--device', 'cpu']) == 0
    forced = tmp_path / 'forced' / 'seed0003.png'
    assert read_recipe(forced)['synthesis'] == 'ref' and np.array_equal(load_png(forced), load_png(exact))


def test_mix_records_its_path(tmp_path):
    for flag, name, want in (([], 'a.png', 'fast'), (['--exact'], 'b.png', 'ref')):
        assert main(['mix', '--rows', '1,2', '--cols', '3', '--out', str(tmp_path / name), '--device', 'cpu']
                    + flag) == 0
        assert read_recipe(tmp_path / name)['grid']['synthesis'] == want


def test_video_records_its_path_and_refuses_fast_with_exact(tmp_path, capsys):
    from explorer.engine.video_writers import sidecar_path
    for flag, name, want in (([], 'a', 'fast'), (['--exact'], 'b', 'ref'), (['--fast'], 'c', 'fast')):
        out = tmp_path / name
        assert main(['video', '--seeds', '1,2', '--seconds', '0.2', '--fps', '10', '--out', str(out),
                     '--device', 'cpu'] + flag) == 0
        meta = json.loads(sidecar_path(out).read_text())
        assert meta['output']['synthesis'] == want
        frame = sorted(out.glob('*.png'))[-1]
        r = Recipe.from_dict(read_recipe(frame))
        assert r.synthesis == want
        if want == 'ref':
            assert np.array_equal(load_png(frame), _reference_png(_default_G(), r))
    assert main(['video', '--seeds', '1,2', '--seconds', '0.2', '--out', str(tmp_path / 'd'), '--fast',
                 '--exact']) == 2
    assert '--fast or --exact' in capsys.readouterr().err

