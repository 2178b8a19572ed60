"""Layer inspector engine: layer lists per family, capture by forward hook (removed afterwards),
and the numpy views (channel mean / one channel / PCA RGB, normalisation, dB, spectrum, stats)."""

import numpy as np
import pytest
import torch

from explorer.engine import activation_view as av
from explorer.engine import compare
from explorer.engine.inspect import capture, hook_count, synthesis_layers


def tiny(family):
    torch.manual_seed(0)
    if family == 'stylegan1':
        from explorer.engine.networks_stylegan1 import Generator
        return Generator(z_dim=16, w_dim=16, img_resolution=16, channels=[16, 16, 8], mapping_layers=2,
                         mapping_fmaps=16).eval()
    if family == 'stylegan2':
        from explorer.engine.networks_stylegan2 import Generator
        return Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                         mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=128, channel_max=16,
                                                                                  conv_clamp=256)).eval()
    from explorer.engine.networks_stylegan3 import Generator
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
                     num_layers=4, mapping_kwargs=dict(num_layers=2)).eval()


EXPECTED = {
    'stylegan1': ['b4.layer0 4x4 x16', 'b4.layer1 4x4 x16', 'b8.layer0 8x8 x16', 'b8.layer1 8x8 x16',
                  'b16.layer0 16x16 x8', 'b16.layer1 16x16 x8', 'b16.torgb 16x16 x3'],
    'stylegan2': ['b4.conv1 4x4 x16', 'b4.torgb 4x4 x3', 'b8.conv0 8x8 x16', 'b8.conv1 8x8 x16', 'b8.torgb 8x8 x3',
                  'b16.conv0 16x16 x8', 'b16.conv1 16x16 x8', 'b16.torgb 16x16 x3'],
}


@pytest.mark.parametrize('family', ['stylegan1', 'stylegan2', 'stylegan3'])
def test_every_layer_captures_at_its_resolution_and_leaves_no_hooks(family):
    G = tiny(family)
    layers = synthesis_layers(G)
    if family in EXPECTED:
        assert [x.label for x in layers] == EXPECTED[family]
    else:   # StyleGAN3: the Fourier input, L0..L3, then ToRGB at the image size
        assert [x.kind for x in layers] == ['input'] + ['layer'] * 4 + ['torgb']
        assert layers[-1].label == f'{G.synthesis.layer_names[-1]} 16x16 x3'
        assert layers[0].height == int(G.synthesis.input.size[1]) > 16     # margin around the image
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    before = hook_count(G)
    for layer in layers:
        x = capture(G, ws, layer.name, noise_mode='const')
        assert x.shape == (layer.channels, layer.height, layer.width) and x.dtype == np.float32
        assert np.isfinite(x).all() and x.std() > 0
        assert hook_count(G) == before == 0
        img, values = av.view(x, av.InspectOptions(mode='pca'))
        assert img.shape == (layer.height, layer.width, 3) and img.dtype == np.uint8


def test_capture_matches_the_full_forward_and_stops_early():
    """The hooked output is what the full network computes there; a later layer's hook is never
    reached (the pass stops at the captured layer)."""
    G = tiny('stylegan2')
    ws = G.mapping(torch.randn(1, 16), None)
    seen = {}
    G.synthesis.b8.conv1.register_forward_hook(lambda m, i, o: seen.update(x=o[0].clone()))
    late = []
    G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: late.append(1))
    got = capture(G, ws, 'b8.conv1', noise_mode='const')
    np.testing.assert_array_equal(got, seen['x'].numpy())
    assert late == []
    with pytest.raises(KeyError):
        capture(G, ws, 'b99.conv1')
    assert hook_count(G) == 2       # ours are gone, the test's two remain


def test_capture_removes_its_hook_when_the_forward_fails():
    G = tiny('stylegan2')
    ws = torch.zeros(1, G.num_ws + 1, 16)       # wrong shape: synthesis asserts
    with pytest.raises(AssertionError):
        capture(G, ws, 'b8.conv1')
    assert hook_count(G) == 0


def sinusoid_maps(h=32, w=32, kx=5, ky=0, channels=4):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.sin(2 * np.pi * (kx * xx / w + ky * yy / h))
    return np.stack([base * (c + 1) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize('window', ['hann', 'none'])
@pytest.mark.parametrize('kx,ky', [(5, 0), (3, 7)])
def test_fft_of_a_sinusoid_peaks_at_its_frequency(window, kx, ky):
    x = sinusoid_maps(kx=kx, ky=ky)
    mag = av.fft_magnitude(x, window)
    assert mag.shape == (32, 32)
    peaks = {tuple(int(v) for v in p) for p in np.argwhere(mag >= mag.max() * 0.999)}
    assert peaks == {(16 + ky, 16 + kx), (16 - ky, 16 - kx)}        # centred: DC at (16, 16)
    img, values = av.view(x, av.InspectOptions(mode='channel', channel=2, fft=True, window=window))
    assert values.max() == pytest.approx(0.0) and values[16 + ky, 16 + kx] == pytest.approx(0.0)
    assert values[0, 0] < -60           # far from the peak: dark
    assert img.shape == (32, 32, 3) and img[16 + ky, 16 + kx].sum() > img[0, 0].sum() + 300


def test_hann_window_suppresses_leakage_of_a_non_integer_frequency():
    x = sinusoid_maps(kx=5.5)[:1]
    far = (16, 16 + 13)     # well away from the peak at +-5.5
    hann, none = av.fft_magnitude(x, 'hann'), av.fft_magnitude(x, 'none')
    assert hann[far] / hann.max() < 0.1 * none[far] / none.max()


def test_pca_rgb_recovers_the_strongest_patterns_in_order():
    rng = np.random.RandomState(0)
    h = w = 24
    yy, xx = np.mgrid[0:h, 0:w] / h
    patterns = np.stack([np.sin(2 * np.pi * xx), np.cos(2 * np.pi * 2 * yy), np.sin(2 * np.pi * 3 * (xx + yy))])
    patterns -= patterns.mean(axis=(1, 2), keepdims=True)
    strengths = np.array([5.0, 2.0, 0.7])
    mix, _ = np.linalg.qr(rng.randn(16, 3))          # orthonormal loadings over 16 channels
    x = np.einsum('ck,k,khw->chw', mix, strengths, patterns) + 0.01 * rng.randn(16, h, w)
    scores, frac = av.pca_rgb(x)
    assert scores.shape == (h, w, 3)
    assert frac[0] > frac[1] > frac[2] > 0 and frac.sum() > 0.99
    for k in range(3):
        r = np.corrcoef(scores[..., k].ravel(), patterns[k].ravel())[0, 1]
        assert abs(r) > 0.99, (k, r)
    again, _ = av.pca_rgb(x)
    np.testing.assert_array_equal(again, scores)        # signs fixed: same colours every time
    img, _ = av.view(x, av.InspectOptions(mode='pca'))
    assert img[..., 0].min() == 0 and img[..., 0].max() == 255     # per-colour normalisation
    two, frac2 = av.pca_rgb(x[:2])                     # fewer channels than components
    assert np.all(two[..., 2] == 0) and frac2[2] == 0


def test_views_normalisation_db_and_statistics():
    x = np.zeros((3, 4, 4), np.float32)
    x[0] = 1.0
    x[1, 0, 0] = 9.0
    np.testing.assert_allclose(av.channel_mean(x)[0, 0], 10 / 3)
    np.testing.assert_array_equal(av.one_channel(x, 1), x[1])
    with pytest.raises(IndexError):
        av.one_channel(x, 3)
    img, values = av.view(x, av.InspectOptions(mode='channel', channel=1))
    assert img[0, 0, 0] == 255 and img[1, 1, 0] == 0 and values[0, 0] == 9
    img, _ = av.view(x, av.InspectOptions(mode='channel', channel=1, normalize='fixed', lo=0.0, hi=18.0))
    assert img[0, 0, 0] == 128 and img[1, 1, 0] == 0
    img, values = av.view(x, av.InspectOptions(mode='channel', channel=0, scale='db'))
    assert values[0, 0] == 0 and img[0, 0, 0] == 128       # a constant map reads mid-grey
    assert av.to_db(np.array([10.0, 0.1, 0.0])).tolist() == pytest.approx([20.0, -20.0, -120.0])
    s = av.statistics(np.array([-256.0, 0, 1, 256]), clamp=256)
    assert s['min'] == -256 and s['max'] == 256 and s['clamped'] == 0.5 and s['mean'] == 0.25
    assert av.statistics(np.ones(3))['clamped'] == 0.0
    with pytest.raises(ValueError):
        av.InspectOptions(mode='nope')
    with pytest.raises(ValueError):
        av.InspectOptions(normalize='fixed', lo=1, hi=1)


def test_session_inspect_reuses_the_capture_and_leaves_no_hooks(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.recipe import Recipe
    from explorer.engine.session import Session
    s = Session('cpu')
    s.load(save_generator(tiny_G, tmp_path / 't.pt'))
    names = [x.name for x in s.inspect_layers()]
    assert names[0] == 'b4.conv1' and names[-1] == 'b16.torgb'
    r = Recipe(seeds=(3,))
    a = s.inspect(r, 'b8.conv1', av.InspectOptions())
    assert a.image.shape == (8, 8, 3) and a.layer.label == 'b8.conv1 8x8 x16' and a.timings['capture_ms'] > 0
    b = s.inspect(r, 'b8.conv1', av.InspectOptions(mode='channel', channel=3))
    assert b.stats == a.stats and b.timings['capture_ms'] < a.timings['capture_ms']
    c = s.inspect(Recipe(seeds=(4,)), 'b8.conv1', av.InspectOptions())
    assert c.stats != a.stats
    assert hook_count(s.G) == 0
    frame, _ = s.render(r)          # the view renders as before
    assert frame.shape == (16, 16, 3)


def test_compare_split_side_by_side_difference_and_psnr():
    a = np.zeros((4, 6, 3), np.uint8)
    b = np.full((4, 6, 3), 10, np.uint8)
    sp = compare.split(a, b, 0.5)
    assert (sp[:, :3] == 0).all() and (sp[:, 3:] == 10).all()
    assert (compare.split(a, b, 0.0) == 10).all() and (compare.split(a, b, 1.0) == 0).all()
    sbs = compare.side_by_side(a, b, gap=2)
    assert sbs.shape == (4, 14, 3) and (sbs[:, :6] == 0).all() and (sbs[:, 8:] == 10).all()
    assert compare.psnr(a, b) == pytest.approx(20 * np.log10(255 / 10))
    assert compare.psnr(a, a) == float('inf')
    d, gain = compare.difference(a, b)
    assert (d == 255).all() and gain == pytest.approx(25.5)
    d1, _ = compare.difference(a, b, gain=1.0)
    assert (d1 == 10).all()
    with pytest.raises(ValueError):
        compare.psnr(a, b[:2])
