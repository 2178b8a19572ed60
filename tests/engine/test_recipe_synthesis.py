"""Recipes record which synthesis path rendered them (``Recipe.synthesis``: 'auto' | 'fast' | 'ref'),
so a file re-renders bit for bit (DESIGN.md: "the PNG alone re-renders the same pixels with the
same checkpoint"); recipes from older files, written by the reference, read as 'ref'."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from explorer.engine import rendering
from explorer.engine.export import to_uint8
from explorer.engine.grid_spec import GridSpec, cell_recipe
from explorer.engine.png import load_png, read_recipe
from explorer.engine.recipe import Recipe
from explorer.engine.render_batch import render_recipe_png, render_seeds_to_dir
from explorer.errors import UserError


@pytest.fixture
def G(tiny_G):
    return tiny_G.requires_grad_(False)


def test_field_default_validation_and_json_round_trip():
    assert Recipe().synthesis == 'auto'
    for path in ('auto', 'fast', 'ref'):
        r = Recipe(seeds=(3,), synthesis=path)
        assert Recipe.from_dict(json.loads(r.to_json())) == r
        assert r.to_dict()['synthesis'] == path
    with pytest.raises(UserError, match='synthesis'):
        Recipe(synthesis='fastest')
    with pytest.raises(UserError, match='synthesis'):
        Recipe.from_dict({'seeds': [1], 'seed_weights': [1.0], 'synthesis': 1})


def test_a_recipe_without_the_field_is_the_reference():
    d = Recipe(seeds=(3,)).to_dict()
    del d['synthesis']
    assert Recipe.from_dict(d).synthesis == 'ref'
    g = GridSpec(rows=(1,), cols=(2,), layers=(0,)).to_dict()
    del g['synthesis']
    assert GridSpec.from_dict(g).synthesis == 'ref'


def test_paths_resolve_per_model(G, monkeypatch, caplog):
    assert rendering.synthesis_path(G, 'auto') == 'fast' and rendering.synthesis_path(G, 'fast') == 'fast'
    assert rendering.synthesis_path(G, 'ref') == 'ref'
    assert rendering.resolved(G, Recipe()).synthesis == 'fast'
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    assert rendering.synthesis_path(G, 'auto') == 'ref'
    with caplog.at_level(logging.WARNING, logger='explorer.engine.rendering'):
        rendering._warned.clear()
        assert rendering.synthesis_path(G, 'fast') == 'ref'           # no fast path here: reference + a line
        assert rendering.synthesis_path(G, 'fast') == 'ref'
    assert len([r for r in caplog.records if 'fast synthesis path' in r.getMessage()]) == 1


def test_a_fast_recipe_without_a_fast_path_renders_with_the_reference(monkeypatch):
    from explorer.engine.networks_stylegan1 import Generator as G1
    torch.manual_seed(0)
    G = G1(z_dim=16, w_dim=16, img_resolution=32, img_channels=3, fmap_base=64, fmap_max=16, mapping_layers=2).eval()
    assert rendering.synthesis_path(G, 'auto') == 'fast'            # StyleGAN1 on the CPU: NNPACK convolutions
    fast = rendering.render(G, Recipe(seeds=(2,), synthesis='fast'))
    ref = rendering.render(G, Recipe(seeds=(2,), synthesis='ref'))
    assert not torch.equal(fast, ref) and (fast - ref).abs().max() <= 1e-4
    monkeypatch.setattr(type(G.synthesis), 'fast_available', lambda self: False)   # a model/device without it
    assert rendering.synthesis_path(G, 'auto') == 'ref'
    assert torch.equal(rendering.render(G, Recipe(seeds=(2,), synthesis='fast')), ref)    # rendered, not refused


def test_each_path_renders_what_it_names(G):
    ws = rendering.recipe_ws(G, Recipe(seeds=(4,), noise_mode='random', noise_seed=9))
    fast = rendering.render(G, Recipe(seeds=(4,), noise_mode='random', noise_seed=9, synthesis='fast'))
    ref = rendering.render(G, Recipe(seeds=(4,), noise_mode='random', noise_seed=9, synthesis='ref'))
    with torch.no_grad():
        kw = rendering.synthesis_kwargs(G, Recipe(noise_mode='random', noise_seed=9))
        assert torch.equal(fast, G.synthesis(ws, **kw))
        kw = rendering.synthesis_kwargs(G, Recipe(noise_mode='random', noise_seed=9))
        assert torch.equal(ref, G.synthesis(ws, impl='ref', **kw))
    with torch.enable_grad():
        kw = rendering.synthesis_kwargs(G, Recipe(noise_mode='random', noise_seed=9))
        assert torch.equal(ref, G.synthesis(ws, **kw).detach())          # the differentiable reference
    assert not torch.equal(fast, ref) and (fast - ref).abs().max() <= 1e-4


@pytest.mark.parametrize('path', ['auto', 'fast', 'ref'])
def test_written_files_record_the_concrete_path_and_re_render_bit_identically(G, tmp_path, path):
    recipe = Recipe(seeds=(5,), psi=0.7, synthesis=path)
    out = render_recipe_png(G, None, recipe, tmp_path / 'a.png')
    stored = Recipe.from_dict(read_recipe(out))
    assert stored.synthesis == ('ref' if path == 'ref' else 'fast')
    again = render_recipe_png(G, None, stored, tmp_path / 'b.png')
    assert np.array_equal(load_png(again), load_png(out))
    assert np.array_equal(load_png(out), to_uint8(rendering.render(G, stored)))
    (tmp_path / 'batch').mkdir()
    written = render_seeds_to_dir(G, None, [5, 6], tmp_path / 'batch', base_recipe=recipe)
    assert {Recipe.from_dict(read_recipe(p)).synthesis for p in written} == {stored.synthesis}
    assert np.array_equal(load_png(written[0]), load_png(out))


def test_an_old_png_re_renders_with_the_reference(G, tmp_path):
    """A PNG written before recipes recorded a path was rendered by the reference."""
    from explorer.engine.png import save_png
    recipe = Recipe(seeds=(7,), psi=0.5, synthesis='ref')
    d = recipe.to_dict()
    del d['synthesis']
    old = save_png(tmp_path / 'old.png', to_uint8(rendering.render(G, recipe)), d)
    again = render_recipe_png(G, None, Recipe.from_dict(read_recipe(old)), tmp_path / 'again.png')
    assert np.array_equal(load_png(again), load_png(old))
    assert read_recipe(again)['synthesis'] == 'ref'


@pytest.mark.parametrize('path', ['fast', 'ref'])
def test_grid_tiles_follow_the_spec_path_and_equal_their_cell_recipes(G, path):
    from explorer.engine.export import batch_to_uint8
    from explorer.engine.mixing import iter_grid, resolved_spec
    spec = GridSpec(rows=(1, 2), cols=(3,), layers=(0, 1), psi=0.7, synthesis=path)
    assert resolved_spec(G, spec.replace(synthesis='auto')).synthesis == 'fast'
    tiles = {(k, r, c): img for k, r, c, img in iter_grid(G, spec)}
    for r, row in enumerate(spec.rows):
        cell = cell_recipe(spec, G.num_ws, row, spec.cols[0])
        assert cell.synthesis == path
        assert np.array_equal(tiles[('cell', r, 0)], batch_to_uint8(rendering.render(G, cell))[0])


def test_stylegan3_recipes_record_its_cpu_plan_and_re_render_bit_identically(tmp_path, monkeypatch):
    from tests.engine.test_fast_sg3 import CFG_T32, make
    G = make(CFG_T32)
    assert rendering.synthesis_path(G, 'auto') == 'fast'             # the CPU inference plan (fast_sg3)
    recipe = Recipe(seeds=(3,), psi=0.7, translate=(0.1, -0.2), rotate=7.0)
    out = render_recipe_png(G, None, recipe, tmp_path / 'a.png')
    stored = Recipe.from_dict(read_recipe(out))
    assert stored.synthesis == 'fast'
    assert np.array_equal(load_png(render_recipe_png(G, None, stored, tmp_path / 'b.png')), load_png(out))
    ref = render_recipe_png(G, None, stored.replace(synthesis='ref'), tmp_path / 'c.png')
    assert Recipe.from_dict(read_recipe(ref)).synthesis == 'ref'
    assert np.abs(load_png(ref).astype(int) - load_png(out).astype(int)).max() <= 1
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    assert rendering.synthesis_path(G, 'auto') == 'ref'
