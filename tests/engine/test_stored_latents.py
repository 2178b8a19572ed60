"""Stored latents and edits as plain data; latent files in NVIDIA's layout and others."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.engine.latent_io import read_latent, read_stored_latent, write_latent_npz
from explorer.engine.stored_latents import Edit, StoredLatent, apply_edits_np, is_ref, source_label
from explorer.errors import UserError


def test_stored_latent_round_trips_exactly_through_json():
    a = np.random.RandomState(0).randn(10, 16).astype(np.float32)
    lat = StoredLatent.from_array(a, name='photo.jpg')
    back = StoredLatent.from_dict(json.loads(json.dumps(lat.to_dict())))
    assert back == lat and hash(back) == hash(lat)
    np.testing.assert_array_equal(back.array(), a)
    assert lat.space == 'w+' and is_ref(lat.ref) and source_label(lat.ref, [lat]) == 'photo.jpg'
    assert source_label(42) == 'seed 42'
    w = StoredLatent.from_array(a[0])
    assert w.space == 'w' and w.ws(10).shape == (10, 16) and (w.ws(10) == a[0]).all()
    with pytest.raises(UserError, match='style layers'):
        lat.ws(12)
    # the key is the content: the same values give the same key whatever the name
    assert StoredLatent.from_array(a.copy(), name='other').key == lat.key
    assert StoredLatent.from_array(a + 1e-3).key != lat.key


@pytest.mark.parametrize('bad', [
    {'key': 'x', 'shape': [4], 'data': 'not base64!'},
    {'shape': [4], 'data': 'AAAA'},                                   # 3 bytes for 4 floats
    {'shape': [100000, 100000], 'data': ''},                          # absurd shape
    {'shape': [2], 'data': 'AADAfwAAwH8='},                           # NaN, NaN
    'a string',
])
def test_hostile_stored_latents_are_refused(bad):
    with pytest.raises(UserError):
        StoredLatent.from_dict(bad)


def test_tampered_latent_key_is_refused():
    d = StoredLatent.from_array(np.ones(4, np.float32)).to_dict()
    d['key'] = '0' * 16
    with pytest.raises(UserError, match='does not match'):
        StoredLatent.from_dict(d)


def test_edit_round_trip_and_rule():
    d = np.random.RandomState(1).randn(8).astype(np.float32)
    e = Edit.make('smile', d, 1.5, [3, 1, 1])
    assert e.layers == (1, 3)
    assert Edit.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    ws = np.zeros([1, 5, 8], np.float32)
    out = apply_edits_np(ws, [e])
    np.testing.assert_allclose(out[0, 1], 1.5 * d, rtol=1e-6)
    assert (out[0, [0, 2, 4]] == 0).all()
    with pytest.raises(UserError, match='finite'):
        Edit.make('x', d, float('nan'), [0])


def test_latent_files_nvidia_npy_and_torch(tmp_path):
    a = np.random.RandomState(2).randn(10, 16).astype(np.float32)
    p = write_latent_npz(tmp_path / 'projected_w.npz', a)
    with np.load(p, allow_pickle=False) as z:
        assert list(z.files) == ['w'] and z['w'].shape == (1, 10, 16) and z['w'].dtype == np.float32
    np.testing.assert_array_equal(read_latent(p), a)
    np.save(tmp_path / 'w.npy', a[0])
    assert read_latent(tmp_path / 'w.npy').shape == (16,)
    torch.save({'w': torch.from_numpy(a)[None]}, tmp_path / 'w.pt')
    np.testing.assert_array_equal(read_latent(tmp_path / 'w.pt'), a)
    assert read_stored_latent(p).name == 'projected_w.npz'
    assert write_latent_npz(tmp_path / 'b.npz', a[0], num_ws=10) and read_latent(tmp_path / 'b.npz').shape == (10, 16)


def test_hostile_latent_files(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))
    (tmp_path / 'evil.pt').write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UserError):
        read_latent(tmp_path / 'evil.pt')
    np.save(tmp_path / 'obj.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match='objects'):
        read_latent(tmp_path / 'obj.npy')
    np.save(tmp_path / 'int.npy', np.zeros([4], np.int64))
    with pytest.raises(UserError, match='floating'):
        read_latent(tmp_path / 'int.npy')
    np.savez(tmp_path / 'img.npz', w=np.zeros([3, 64, 64], np.float32))
    with pytest.raises(UserError, match='W\\+'):
        read_latent(tmp_path / 'img.npz')
    with pytest.raises(UserError, match='unknown latent file'):
        read_latent(tmp_path / 'x.txt') if (tmp_path / 'x.txt').write_text('x') else None
    with pytest.raises(UserError, match='not a regular file'):
        read_latent(tmp_path)


# ---------------------------------------------------------------- in recipes
def _w_plus(G, seed=3):
    from explorer.engine.latents import compute_ws
    return compute_ws(G, [seed], 0.7)[0].numpy() + 0.05 * np.random.RandomState(seed).randn(G.num_ws, G.w_dim)


def test_recipe_with_stored_latent_renders_that_latent(tiny_G):
    from explorer.engine.recipe import Recipe
    from explorer.engine.rendering import recipe_ws, render
    a = _w_plus(tiny_G).astype(np.float32)
    lat = StoredLatent.from_array(a, name='kept')
    r = Recipe(psi=0.5).with_latent(lat).replace(seeds=(lat.ref,), seed_weights=(1.0,))
    ws = recipe_ws(tiny_G, r)
    np.testing.assert_array_equal(ws[0].numpy(), a)            # stored latents ignore psi: already w
    img = render(tiny_G, r)
    ref = tiny_G.synthesis(torch.from_numpy(a)[None], noise_mode='const')
    torch.testing.assert_close(img, ref)
    # and it survives JSON (the PNG's iTXt chunk) unchanged
    back = Recipe.from_dict(json.loads(r.to_json()))
    assert back == r
    torch.testing.assert_close(render(tiny_G, back), img)


def test_stored_latent_as_mix_source_and_blend(tiny_G):
    from explorer.engine.latents import compute_ws
    from explorer.engine.recipe import Recipe
    from explorer.engine.rendering import MappingCache, recipe_ws
    a = _w_plus(tiny_G, 5).astype(np.float32)
    lat = StoredLatent.from_array(a)
    L = tiny_G.num_ws
    src = tuple([-1] * 2 + [0] * (L - 2))
    r = Recipe(seeds=(7,), psi=0.7, mix_seeds=(lat.ref,), layer_source=src, layer_blend=(1.0,) * L, latents=(lat,))
    base = compute_ws(tiny_G, [7], 0.7)[0]
    for cache in (None, MappingCache()):
        ws = recipe_ws(tiny_G, r, cache=cache)[0]
        torch.testing.assert_close(ws[:2], base[:2])
        torch.testing.assert_close(ws[2:], torch.from_numpy(a[2:]))
    half = Recipe(seeds=(7, lat.ref), seed_weights=(0.5, 0.5), psi=0.7, latents=(lat,))
    torch.testing.assert_close(recipe_ws(tiny_G, half)[0], 0.5 * base + 0.5 * torch.from_numpy(a))


def test_recipe_edits_follow_the_design_rule(tiny_G):
    from explorer.engine.recipe import Recipe
    from explorer.engine.rendering import recipe_ws
    d = np.random.RandomState(4).randn(tiny_G.w_dim).astype(np.float32)
    d /= np.linalg.norm(d)
    plain = Recipe(seeds=(11,), psi=0.8)
    edited = plain.replace(edits=(Edit.make('x', d, 2.0, (1, 2)),))
    diff = (recipe_ws(tiny_G, edited) - recipe_ws(tiny_G, plain))[0]
    for i in range(tiny_G.num_ws):
        expect = 2.0 * torch.from_numpy(d) if i in (1, 2) else torch.zeros(tiny_G.w_dim)
        torch.testing.assert_close(diff[i], expect, atol=1e-6, rtol=1e-5)
    bad = plain.replace(edits=(Edit.make('x', d, 1.0, (tiny_G.num_ws,)),))
    with pytest.raises(UserError, match='acts on layer'):
        recipe_ws(tiny_G, bad)


@pytest.mark.parametrize('changes, match', [
    (dict(seeds=('latent:deadbeef',)), 'does not hold'),
    (dict(seeds=(2 ** 32,)), 'whole number'),
    (dict(seeds=(1.5,)), 'whole number'),
    (dict(seed_weights=(float('nan'),)), 'finite'),
    (dict(noise_strength=float('inf')), 'finite'),
    (dict(psi=float('nan')), 'finite'),
    (dict(layer_blend=(float('inf'),)), 'finite'),
    (dict(seeds=tuple(range(300)), seed_weights=(0.0,) * 300), 'at most'),
])
def test_recipe_refuses_bad_values(changes, match):
    from explorer.engine.recipe import Recipe
    with pytest.raises(UserError, match=match):
        Recipe(**changes)
