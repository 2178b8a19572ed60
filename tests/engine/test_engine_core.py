"""Engine foundation: generator shapes, truncation, mixing, noise, own format, PNG recipes."""

import numpy as np
import pytest
import torch

from explorer.engine import latents
from explorer.engine.checkpoint import load_generator, read_checkpoint, save_generator
from explorer.engine.export import to_uint8
from explorer.engine.networks_stylegan2 import Generator
from explorer.engine.png import load_png, read_recipe, save_png
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import MappingCache, recipe_ws, render
from explorer.errors import CheckpointError, UserError


def make_G(res=16, arch='skip', c_dim=0, img_channels=3, **syn):
    torch.manual_seed(1)
    syn = dict(channel_base=128, channel_max=16, architecture=arch, **syn)
    G = Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=res, img_channels=img_channels,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=syn)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G.eval()


@pytest.mark.parametrize('res,arch,c_dim,ch', [
    (8, 'skip', 0, 3), (16, 'orig', 0, 3), (16, 'resnet', 4, 3), (32, 'skip', 0, 1), (16, 'skip', 3, 3),
])
def test_mapping_and_synthesis_shapes(res, arch, c_dim, ch):
    G = make_G(res, arch, c_dim, ch, conv_clamp=256)
    n_blocks = int(np.log2(res)) - 1
    assert G.num_ws == 2 * n_blocks  # 1 (4x4) + 2 per further block + 1 torgb
    z = torch.randn(3, G.z_dim)
    c = torch.eye(c_dim)[[0, 1, 2 % max(c_dim, 1)]] if c_dim else None
    ws = G.mapping(z, c)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    img = G.synthesis(ws, noise_mode='const')
    assert img.shape == (3, ch, res, res)
    assert torch.isfinite(img).all()
    assert torch.equal(G(z, c, noise_mode='const'), img)
    assert len(G.style_layers()) == G.num_ws


def test_conditional_model_requires_class():
    G = make_G(c_dim=4)
    with pytest.raises(ValueError, match='conditional'):
        G.mapping(torch.randn(1, 16), None)
    c0, c1 = torch.eye(4)[[0]], torch.eye(4)[[1]]
    z = torch.randn(1, 16)
    assert not torch.allclose(G.mapping(z, c0), G.mapping(z, c1))


def test_seed_to_z_matches_numpy_convention():
    z = latents.seed_to_z(123, 512)
    assert z.shape == (1, 512)
    np.testing.assert_array_equal(z, np.random.RandomState(123).randn(1, 512))
    assert latents.seeds_to_z([1, 2], 8).dtype == torch.float32


def test_truncation_psi_zero_gives_w_avg_and_cutoff_leaves_later_layers():
    G = make_G(16)
    z = torch.randn(2, 16)
    ws0 = G.mapping(z, None, truncation_psi=0)
    assert torch.allclose(ws0, G.mapping.w_avg.expand_as(ws0))
    full = G.mapping(z, None)
    cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.equal(cut[:, 3:], full[:, 3:])
    expected = G.mapping.w_avg + 0.5 * (full[:, :3] - G.mapping.w_avg)
    assert torch.allclose(cut[:, :3], expected, atol=1e-6)
    assert not torch.allclose(cut[:, :3], full[:, :3])


def test_w_avg_tracking_only_when_asked():
    G = make_G(8).train()
    before = G.mapping.w_avg.clone()
    G.mapping(torch.randn(4, 16), None)
    assert torch.equal(before, G.mapping.w_avg)
    G.mapping(torch.randn(4, 16), None, update_emas=True)
    assert not torch.equal(before, G.mapping.w_avg)


def test_layer_groups_follow_resolutions():
    G = make_G(64)
    groups = latents.groups_for(G)
    labels = [l.label for l in G.style_layers()]
    assert labels[:4] == ['4x4 conv', '8x8 up', '8x8 conv', '16x16 up']
    assert labels[-1] == '64x64 torgb'
    assert groups['coarse'] == (0, 1, 2)
    assert groups['middle'] == (3, 4, 5, 6)
    assert groups['fine'] == tuple(range(7, G.num_ws))
    assert latents.parse_layers('0-2,5', G) == (0, 1, 2, 5)
    with pytest.raises(UserError):
        latents.parse_layers(str(G.num_ws), G)


@pytest.mark.parametrize('group', ['coarse', 'middle', 'fine'])
def test_style_mixing_by_group_changes_exactly_those_layers(group):
    G = make_G(64)
    rows = latents.compute_ws(G, [1])
    cols = latents.compute_ws(G, [2])
    layers = latents.parse_layers(group, G)
    mixed = latents.mix_group(rows, cols, layers)
    for i in range(G.num_ws):
        if i in layers:
            assert torch.equal(mixed[0, i], cols[0, i])
        else:
            assert torch.equal(mixed[0, i], rows[0, i])


def test_mix_ws_blend_and_multiple_sources():
    base = torch.zeros(1, 4, 2)
    sources = torch.stack([torch.ones(4, 2), 2 * torch.ones(4, 2)])
    out = latents.mix_ws(base, sources, layer_source=[-1, 0, 1, 1], layer_blend=[1, 1, 0.5, 0])
    assert torch.equal(out[0, :, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_noise_modes():
    G = make_G(16)
    ws = latents.compute_ws(G, [5])
    a = G.synthesis(ws, noise_mode='const')
    b = G.synthesis(ws, noise_mode='const')
    assert torch.equal(a, b)
    n1 = G.synthesis(ws, noise_mode='none')
    assert torch.equal(n1, G.synthesis(ws, noise_mode='none'))
    assert not torch.equal(a, n1)
    r1 = G.synthesis(ws, noise_mode='random')
    r2 = G.synthesis(ws, noise_mode='random')
    assert not torch.equal(r1, r2)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(G.synthesis(ws, noise_mode='random', noise_generator=g1),
                       G.synthesis(ws, noise_mode='random', noise_generator=g2))
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode='bogus')


def test_noise_strength_scales_global_and_per_layer():
    G = make_G(16)
    ws = latents.compute_ws(G, [5])
    none = G.synthesis(ws, noise_mode='none')
    assert torch.allclose(G.synthesis(ws, noise_mode='const', noise_scale=0.0), none)
    # Noise only in the last conv layer (index num_ws - 2): earlier layers keep their output.
    per = [0.0] * G.num_ws
    per[G.num_ws - 2] = 2.0
    only_last = G.synthesis(ws, noise_mode='const', noise_scale=per)
    assert not torch.allclose(only_last, none)
    rec = Recipe(seeds=(5,), noise_strength=0.0, synthesis='ref')     # `none` is the reference's image
    assert torch.allclose(render(G, rec), none)


def test_fused_and_unfused_modconv_agree():
    G = make_G(16)
    ws = latents.compute_ws(G, [7, 8])
    a = G.synthesis(ws, noise_mode='const', fused_modconv=True)
    b = G.synthesis(ws, noise_mode='const', fused_modconv=False)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_own_format_round_trip_bit_exact(tmp_path):
    G = make_G(16, 'resnet', c_dim=3)
    path = save_generator(G, tmp_path / 'g.pt')
    G2 = load_generator(path)
    sd1, sd2 = G.state_dict(), G2.state_dict()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
    z, c = torch.randn(2, 16), torch.eye(3)[:2]
    assert torch.equal(G(z, c, noise_mode='const'), G2(z, c, noise_mode='const'))
    assert G2.init_kwargs == G.init_kwargs or G2.init_kwargs == read_checkpoint(path)['G_ema'].init_kwargs


def test_own_format_refuses_bad_files(tmp_path):
    G = make_G(8)
    good = save_generator(G, tmp_path / 'g.pt').read_bytes()
    (tmp_path / 'trunc.pt').write_bytes(good[: len(good) // 2])
    (tmp_path / 'junk.pt').write_bytes(np.random.RandomState(0).bytes(4096))
    (tmp_path / 'empty.pt').write_bytes(b'')
    for name in ['trunc.pt', 'junk.pt', 'empty.pt', 'missing.pt']:
        with pytest.raises(CheckpointError) as e:
            load_generator(tmp_path / name)
        assert name in str(e.value)
    # A mismatched tensor is refused, nothing half-loaded.
    rec = torch.load(tmp_path / 'g.pt', weights_only=True)
    rec['G_ema']['state_dict']['synthesis.b4.const'] = torch.zeros(1, 2, 3)
    torch.save(rec, tmp_path / 'shape.pt')
    with pytest.raises(CheckpointError, match='shape mismatch'):
        load_generator(tmp_path / 'shape.pt')


def test_png_recipe_round_trip_reproduces_pixels(tmp_path):
    G = make_G(16)
    path = save_generator(G, tmp_path / 'g.pt')
    G = load_generator(path)
    num = G.num_ws
    rec = Recipe(seeds=(3, 9), seed_weights=(0.25, 0.75), psi=0.7, cutoff=4, noise_mode='random', noise_seed=11,
                 noise_strength=1.5, layer_noise=tuple([1.0] * (num - 1) + [0.0]), mix_seeds=(42,),
                 layer_source=tuple([0, 0] + [-1] * (num - 2)), layer_blend=tuple([0.5] * num),
                 checkpoint='g.pt')
    pixels = to_uint8(render(G, rec))
    save_png(tmp_path / 'x.png', pixels, rec.to_dict())
    assert np.array_equal(load_png(tmp_path / 'x.png'), pixels)
    back = Recipe.from_dict(read_recipe(tmp_path / 'x.png'))
    assert back == rec
    G_fresh = load_generator(path)
    assert np.array_equal(to_uint8(render(G_fresh, back)), pixels)
    with pytest.raises(UserError):
        save_png(tmp_path / 'plain.png', pixels)
        read_recipe(tmp_path / 'plain.png')


def test_grayscale_export(tmp_path):
    G = make_G(8, img_channels=1)
    px = to_uint8(render(G, Recipe()))
    assert px.shape == (8, 8, 1)
    save_png(tmp_path / 'g.png', px, Recipe().to_dict())
    from PIL import Image
    assert Image.open(tmp_path / 'g.png').mode == 'L'


def test_mapping_cache_skips_mapping_for_style_only_changes():
    G = make_G(16)
    cache = MappingCache()
    r = Recipe(seeds=(1,), mix_seeds=(2,), layer_source=tuple([-1] * G.num_ws))
    recipe_ws(G, r, cache=cache)
    misses = cache.misses
    r2 = r.replace(layer_source=tuple([0] * G.num_ws), layer_blend=tuple([0.3] * G.num_ws))
    recipe_ws(G, r2, cache=cache)
    assert cache.misses == misses and cache.hits >= 2
    recipe_ws(G, r.replace(psi=0.5), cache=cache)
    assert cache.misses > misses


def test_parse_seeds():
    assert latents.parse_seeds('0-3,7') == [0, 1, 2, 3, 7]
    for bad in ['', 'a', '3-1', '1,,2', '-1']:
        with pytest.raises(UserError):
            latents.parse_seeds(bad)


def test_save_png_errors_are_user_errors(tmp_path):
    px = np.zeros((4, 4, 3), np.uint8)
    (tmp_path / 'file').write_text('x')
    for bad in [tmp_path / 'missing' / 'a.png', tmp_path / 'file' / 'a.png', tmp_path]:
        with pytest.raises(UserError, match='cannot write'):
            save_png(bad, px, {})
