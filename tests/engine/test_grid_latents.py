"""Stored latents in the Mixing grid (issue #16): a row or column may be 'latent:<key>'; the spec
holds the latents, round-trips through JSON and a grid PNG, and every cell equals the single
render of its ``cell_recipe``."""

import json

import numpy as np
import pytest
import torch

from explorer.engine.export import to_uint8
from explorer.engine.grid_spec import GridSpec, cell_recipe, compose_grid, grid_recipe, label_grid
from explorer.engine.mixing import iter_grid
from explorer.engine.png import read_recipe, save_png
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import render
from explorer.engine.stored_latents import StoredLatent
from explorer.errors import UserError


def w_plus(G, seed=3, shift=0.4, name='photo projected'):
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32))
    with torch.no_grad():
        w = G.mapping(z, None)[0].numpy()
    w = w + shift * np.random.RandomState(seed + 1).randn(*w.shape).astype(np.float32)
    return StoredLatent.from_array(w, name=name)


def test_latent_row_and_seed_columns_equal_single_renders(tiny_G):
    lat = w_plus(tiny_G)
    spec = GridSpec(rows=(lat.ref, 7), cols=(5, 9), layers=(0, 1, 2), psi=0.7, latents=(lat,))
    tiles = {(k, r, c): img for k, r, c, img in iter_grid(tiny_G, spec)}
    assert len(tiles) == 2 + 2 + 4
    for r, row in enumerate(spec.rows):
        for c, col in enumerate(spec.cols):
            rec = cell_recipe(spec, tiny_G.num_ws, row, col)
            assert np.array_equal(tiles[('cell', r, c)], to_uint8(render(tiny_G, rec))), (r, c)
    rec = cell_recipe(spec, tiny_G.num_ws, lat.ref, 5)
    assert rec.seeds == (lat.ref,) and rec.latents == (lat,)
    assert cell_recipe(spec, tiny_G.num_ws, 7, 9).latents == ()     # pruned: that cell uses no latent
    # The row face is the latent as it is (no truncation), not any seed's face.
    face = to_uint8(render(tiny_G, Recipe(seeds=(lat.ref,), latents=(lat,), psi=0.7)))
    assert np.array_equal(tiles[('row', 0, -1)], face)
    assert not np.array_equal(tiles[('row', 0, -1)], tiles[('row', 1, -1)])
    # A latent as a column: the cells take its styles.
    spec2 = GridSpec(rows=(7,), cols=(lat.ref,), layers=(0, 1, 2), latents=(lat,))
    tiles2 = {(k, r, c): img for k, r, c, img in iter_grid(tiny_G, spec2)}
    single = to_uint8(render(tiny_G, cell_recipe(spec2, tiny_G.num_ws, 7, lat.ref)))
    assert np.array_equal(tiles2[('cell', 0, 0)], single)
    assert not np.array_equal(tiles2[('cell', 0, 0)], tiles[('row', 1, -1)])


def test_spec_round_trips_through_json_and_a_grid_png(tmp_path, tiny_G):
    lat, w = w_plus(tiny_G), StoredLatent.from_array(np.ones(tiny_G.w_dim, np.float32), name='flat W')
    spec = GridSpec(rows=(lat.ref, 3), cols=(w.ref, 4294967295), layers=(0, 2), psi=0.5,
                    latents=tuple(sorted((lat, w), key=lambda x: x.key)))
    d = json.loads(json.dumps(spec.to_dict()))
    assert GridSpec.from_dict(d) == spec
    assert 'latents' not in GridSpec(rows=(1,), cols=(2,), layers=(0,)).to_dict()    # old grids unchanged
    rng = np.random.default_rng(0)
    keys = [('col', -1, c) for c in range(2)] + [('row', r, -1) for r in range(2)]
    keys += [('cell', r, c) for r in range(2) for c in range(2)]
    tiles = {k: rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for k in keys}
    out = save_png(tmp_path / 'g.png', compose_grid(spec, tiles, (16, 16, 3)), grid_recipe(spec, '0,2', 'm.pt'))
    back = GridSpec.from_dict(read_recipe(out)['grid'])
    assert back == spec and back.latents[0].array().shape in ((tiny_G.num_ws, tiny_G.w_dim), (tiny_G.w_dim,))
    assert spec.label(lat.ref) == 'photo projected' and spec.label(3) == '3'


def test_labels_show_the_latent_name():
    lat = StoredLatent.from_array(np.ones((4, 8), np.float32), name='x')
    spec = GridSpec(rows=(lat.ref,), cols=(1,), layers=(0,), latents=(lat,))
    grid = np.zeros((64, 64, 3), np.uint8)
    named = label_grid(grid, spec, 32)
    long = GridSpec(rows=(lat.ref,), cols=(1,), layers=(0,),
                    latents=(StoredLatent.from_array(np.ones((4, 8), np.float32), name='a much longer name'),))
    assert named.shape[1] < label_grid(grid, long, 32).shape[1]     # the name, not the key, is drawn


@pytest.mark.parametrize('bad', [
    {'rows': ['latent:0123456789abcdef'], 'cols': [1]},                     # missing latent
    {'rows': ['latnt:01'], 'cols': [1]},                                     # bad ref
    {'rows': [1], 'cols': [None]},
    {'rows': [1], 'cols': [2], 'latents': {'key': 'x'}},
    {'rows': [1], 'cols': [2], 'latents': [{'key': 'x', 'shape': [4], 'data': 'AAAA'}]},
    {'rows': [1], 'cols': [2], 'latents': [7]},
])
def test_hostile_grid_latents_are_one_user_error(bad):
    with pytest.raises(UserError):
        GridSpec.from_dict(bad)


def test_direct_specs_are_checked_and_a_foreign_latent_is_one_error(tiny_G):
    lat = w_plus(tiny_G)
    with pytest.raises(UserError, match='does not hold'):
        GridSpec(rows=(lat.ref,), cols=(1,), layers=(0,))
    with pytest.raises(UserError, match='twice'):
        GridSpec(rows=(lat.ref,), cols=(1,), layers=(0,), latents=(lat, lat))
    with pytest.raises(UserError):
        GridSpec(rows=(-1,), cols=(1,), layers=(0,))
    other = StoredLatent.from_array(np.ones((tiny_G.num_ws + 1, tiny_G.w_dim), np.float32), name='other model')
    spec = GridSpec(rows=(other.ref,), cols=(1,), layers=(0,), latents=(other,))
    with pytest.raises(UserError, match='other model'):
        list(iter_grid(tiny_G, spec))
