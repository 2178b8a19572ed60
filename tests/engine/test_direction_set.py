"""The torch-free direction set module: edits in recipes, sweep recipes, layer specs, files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.engine.direction_set import DirectionSet, default_directions_path, find_edit, set_edit, sweep_recipes
from explorer.engine.layers import format_layer_spec, parse_layer_spec
from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import Edit
from explorer.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {'coarse': (0, 1, 2), 'middle': (3, 4, 5, 6), 'fine': (7, 8, 9), 'all': tuple(range(10))}


def _set(k=3, w_dim=8, num_ws=10, sha='ab' * 32):
    q, _ = np.linalg.qr(np.random.RandomState(1).randn(w_dim, w_dim))
    return DirectionSet(directions=q.T[:k].astype(np.float32), layers=(0, 1, 2), method='sefa',
                        names=tuple(f'd{i}' for i in range(k)), num_ws=num_ws, checkpoint_sha256=sha,
                        std=np.arange(1, k + 1, dtype=np.float64), layer_ranges=((7, 8), (), (3, 4)))


def test_module_imports_without_torch():
    code = ('import sys; import explorer.engine.direction_set, explorer.engine.layers; '
            'assert "torch" not in sys.modules, "torch was imported"')
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)


def test_set_edit_replaces_in_place_appends_and_removes_at_zero():
    d = _set()
    a = Edit.make('a', d.vector(0), 1.0, (0,))
    b = Edit.make('b', d.vector(1), 2.0, (1, 2))
    edits = set_edit(set_edit((), a), b)
    assert edits == (a, b)
    a2 = Edit.make('renamed', d.vector(0), -3.0, (5,))
    assert set_edit(edits, a2) == (a2, b)                   # same direction: replaced where it was
    assert find_edit(edits, d.edit_vector(1)) == 1 and find_edit(edits, d.edit_vector(2)) == -1
    assert set_edit(edits, a.with_amount(0.0)) == (b,)       # zero: gone, as if never there


def test_sweep_recipes_replace_only_the_swept_direction():
    d = _set()
    other = Edit.make('other', d.vector(2), 0.5, (3,))
    own = Edit.make('own', d.vector(0), 4.0, (0, 1))
    recipe = Recipe(seeds=(5,), psi=0.7, edits=(own, other))
    recipes = sweep_recipes(recipe, own.with_amount(1.0), [-2.0, 0.0, 3.0])
    assert recipes[1] == recipe.replace(edits=(other,))
    assert [r.edits[0].amount for r in (recipes[0], recipes[2])] == [-2.0, 3.0]
    assert all(r.edits[1] == other and r.psi == 0.7 and r.seeds == (5,) for r in (recipes[0], recipes[2]))


def test_layer_spec_parse_and_format():
    assert parse_layer_spec('Middle', GROUPS, 10) == (3, 4, 5, 6)
    assert parse_layer_spec('8,0-2', GROUPS, 10) == (0, 1, 2, 8)
    with pytest.raises(UserError, match='out of range'):
        parse_layer_spec('0-10', GROUPS, 10)
    with pytest.raises(UserError, match='cannot parse'):
        parse_layer_spec('eyes', GROUPS, 10)
    with pytest.raises(UserError, match='no fine layers'):
        parse_layer_spec('fine', dict(GROUPS, fine=()), 10)
    assert format_layer_spec((9, 8, 7), GROUPS) == 'fine'
    assert format_layer_spec(range(10), GROUPS) == 'all'
    assert format_layer_spec((0, 1, 2, 5, 7, 8)) == '0-2,5,7-8'


def test_check_shape_and_file_round_trip(tmp_path):
    d = _set()
    assert d.check_shape(8, 10, 'ab' * 32) == ''
    assert 'another checkpoint' in d.check_shape(8, 10, 'cd' * 32)
    with pytest.raises(UserError, match='w_dim 8; the loaded model has w_dim 16'):
        d.check_shape(16, 10)
    with pytest.raises(UserError, match='10 style layers; the loaded model has 12'):
        d.check_shape(8, 12)
    ckpt = tmp_path / 'model.pt'
    ckpt.write_bytes(b'x')
    assert default_directions_path(ckpt) is None
    d.replace(names=('yaw', 'smile', 'age')).save(tmp_path / 'model_directions.npz')
    found = default_directions_path(ckpt)
    assert found == tmp_path / 'model_directions.npz'
    back = DirectionSet.load(found)
    assert back.names == ('yaw', 'smile', 'age')
    assert [back.layers_of(k) for k in range(3)] == [(7, 8), (0, 1, 2), (3, 4)]
    np.testing.assert_allclose(back.std, [1, 2, 3])
    assert [back.edit_vector(k) for k in range(3)] == [d.edit_vector(k) for k in range(3)]
