"""StyleGAN3 generator (configs T/R), its filter design and the filtered leaky ReLU op."""

import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from explorer.engine import networks_stylegan3 as sg3
from explorer.engine.layers import StyleLayer
from kernels import filtered_lrelu as flr_mod
from kernels.filtered_lrelu import filtered_lrelu, filtered_lrelu_ref, output_size
from kernels.upfirdn2d import upfirdn2d_ref

COMMON = dict(z_dim=8, w_dim=8, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
              num_layers=4, mapping_kwargs=dict(num_layers=2))
CFG_T = dict(c_dim=0, **COMMON)
CFG_R = dict(c_dim=3, conv_kernel=1, use_radial_filters=True, **COMMON)


def make(cfg, seed=0):
    torch.manual_seed(seed)
    return sg3.Generator(**cfg).eval()


def fill_by_name(G, seed):
    """Deterministic tensors chosen by sorted state-dict name (independent of init order)."""
    sd = G.state_dict()
    new = {}
    for i, k in enumerate(sorted(sd)):
        v = sd[k]
        g = torch.Generator().manual_seed(seed * 1000 + i)
        if k.endswith(('_filter', '.transform')):
            new[k] = v
        elif k.endswith('magnitude_ema'):
            new[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith('phases'):
            new[k] = torch.rand(v.shape, generator=g) - 0.5
        elif k.endswith('freqs'):
            new[k] = torch.randn(v.shape, generator=g) * 0.7
        elif k.startswith('mapping.fc'):
            new[k] = torch.randn(v.shape, generator=g) * 100
        else:
            new[k] = torch.randn(v.shape, generator=g)
    G.load_state_dict(new, strict=True)


# ----------------------------------------------------------------------------
# Filter design.

def test_firwin_rectangular_window_closed_form():
    # 4 taps, transition wide enough that Kaiser's beta is 0 (rectangular window):
    # taps are sinc(0.5 * m) at m = +-0.5, +-1.5, i.e. proportional to 1, 3, 3, 1.
    assert sg3.kaiser_beta(sg3.kaiser_atten(4, 0.5)) == 0.0
    h = sg3.firwin_lowpass(4, cutoff=0.5, width=0.5, fs=2)
    np.testing.assert_allclose(h, np.array([1, 3, 3, 1]) / 8, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sg3.firwin_lowpass(2, cutoff=1, width=1, fs=8), [0.5, 0.5], atol=1e-15)


def test_kaiser_formulas_known_values():
    assert sg3.kaiser_atten(12, 0.25) == pytest.approx(2.285 * 11 * math.pi * 0.25 + 7.95, rel=1e-15)
    assert sg3.kaiser_beta(60.0) == pytest.approx(0.1102 * 51.3, rel=1e-15)
    assert sg3.kaiser_beta(30.0) == pytest.approx(0.5842 * 9 ** 0.4 + 0.07886 * 9, rel=1e-15)
    assert sg3.kaiser_beta(20.0) == 0.0


def test_firwin_matches_reference_values():
    # Values produced by scipy.signal.firwin for the same arguments (recorded data).
    ref12 = [-0.00991544188696692, -0.00987762688905208, 0.01956976832904221, 0.088043897956168,
             0.1751695336730485, 0.23700986881776023]
    h = sg3.firwin_lowpass(12, cutoff=2.0, width=3.0, fs=16)
    np.testing.assert_allclose(h, ref12 + ref12[::-1], rtol=1e-12, atol=1e-15)
    ref9 = [-0.04292048685450559, 0.03008618038228523, 0.1388936130885662, 0.23629992849744866, 0.2752815297724108]
    h = sg3.firwin_lowpass(9, cutoff=0.3, width=0.2, fs=2.0)
    np.testing.assert_allclose(h, ref9 + ref9[-2::-1], rtol=1e-12, atol=1e-15)


def test_firwin_equals_windowed_sinc_definition_and_is_lowpass():
    n, cutoff, width, fs = 24, 3.0, 2.5, 32.0
    h = sg3.firwin_lowpass(n, cutoff, width, fs)
    beta = sg3.kaiser_beta(sg3.kaiser_atten(n, width / (fs / 2)))
    m = np.arange(n) - (n - 1) / 2
    win = np.i0(beta * np.sqrt(1 - (2 * np.arange(n) / (n - 1) - 1) ** 2)) / np.i0(beta)
    expect = np.sinc(2 * cutoff / fs * m) * win
    np.testing.assert_allclose(h, expect / expect.sum(), rtol=1e-12, atol=1e-16)
    assert h.sum() == pytest.approx(1, abs=1e-14)
    np.testing.assert_array_equal(h, h[::-1])
    freqs = np.linspace(0, fs / 2, 400)
    resp = np.abs(np.exp(-2j * np.pi * np.outer(freqs / fs, np.arange(n))) @ h)
    assert np.all(resp[freqs <= cutoff - width / 2] > 0.95)
    assert np.all(resp[freqs >= cutoff + width / 2] < 0.03)  # ~ -33.7 dB by Kaiser's estimate


def test_bessel_j1_known_values_and_torch():
    known = {1: 0.44005058574493355, 2: 0.5767248077568734, 5: -0.3275791375914653,
             10: 0.04347274616886141, 50: -0.09751182812517509, 123.4: -0.006850999885653936}
    got = sg3.bessel_j1(np.array(list(known)))
    np.testing.assert_allclose(got, list(known.values()), rtol=0, atol=1e-13)
    assert abs(sg3.bessel_j1(np.array([3.8317059702075125]))[0]) < 1e-14  # first zero
    x = np.linspace(-40, 40, 2001)
    # torch's own bessel_j1 is only good to ~5e-7, so it is a loose cross-check here.
    np.testing.assert_allclose(sg3.bessel_j1(x), torch.special.bessel_j1(torch.from_numpy(x)).numpy(), atol=1e-6)
    np.testing.assert_allclose(sg3.bessel_j1(-x), -sg3.bessel_j1(x), atol=1e-15)  # odd function
    big = np.array([1000.0, 2500.5])  # Hankel asymptotic expansion, two terms
    ph = big - 3 * np.pi / 4
    asym = np.sqrt(2 / (np.pi * big)) * (np.cos(ph) - 3 / (8 * big) * np.sin(ph))
    np.testing.assert_allclose(sg3.bessel_j1(big), asym, atol=1e-8)
    small = np.array([1e-4, 1e-2, 0.1])
    np.testing.assert_allclose(sg3.bessel_j1(small), small / 2 - small ** 3 / 16 + small ** 5 / 384, rtol=1e-9)


def test_radial_filter_properties():
    n, cutoff, width, fs = 12, 3.0, 4.0, 16
    f = sg3.jinc_lowpass(n, cutoff, width, fs)
    assert f.shape == (n, n)
    assert f.sum() == pytest.approx(1, abs=1e-14)
    np.testing.assert_allclose(f, f.T, atol=1e-18)
    np.testing.assert_allclose(f, f[::-1, :], atol=1e-18)
    np.testing.assert_allclose(f, np.rot90(f), atol=1e-18)
    # Definition: jinc(r) * Kaiser(x) * Kaiser(y), normalised.
    x = (np.arange(n) - (n - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    jinc = sg3.bessel_j1(2 * np.pi * cutoff * r) / (np.pi * r)
    beta = sg3.kaiser_beta(sg3.kaiser_atten(n, width / (fs / 2)))
    expect = jinc * np.outer(np.kaiser(n, beta), np.kaiser(n, beta))
    np.testing.assert_allclose(f, expect / expect.sum(), rtol=1e-12, atol=1e-16)
    # Odd size: the centre tap (r = 0) takes the limit value instead of NaN.
    assert np.all(np.isfinite(sg3.jinc_lowpass(7, 1.0, 1.0, 8)))


def test_design_lowpass_filter_types():
    assert sg3.design_lowpass_filter(1, 2, 1, 8) is None
    f = sg3.design_lowpass_filter(12, 2, 1, 8)
    assert f.dtype == torch.float32 and f.shape == (12,)
    f = sg3.design_lowpass_filter(12, 2, 1, 8, radial=True)
    assert f.dtype == torch.float32 and f.shape == (12, 12)


# ----------------------------------------------------------------------------
# Filtered leaky ReLU.

def test_filtered_lrelu_identity_filters_is_bias_lrelu_clamp():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    y = filtered_lrelu_ref(x, b=b, gain=1.5, slope=0.1, clamp=0.7)
    expect = (torch.nn.functional.leaky_relu(x + b[None, :, None, None], 0.1) * 1.5).clamp(-0.7, 0.7)
    torch.testing.assert_close(y, expect)


def test_filtered_lrelu_constant_input_closed_form():
    # [1,3,3,1]/8 has polyphase sums 1/2 each, so 2x upsampling with gain up**2 keeps a
    # constant; the lrelu then maps c to sqrt(2) * c (c > 0) or 0.2 * sqrt(2) * c.
    f = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    for c in (0.8, -0.5):
        x = torch.full([1, 2, 6, 6], c, dtype=torch.float64)
        y = filtered_lrelu_ref(x, fu=f, fd=f, up=2, down=2, padding=0)
        assert y.shape[-2:] == output_size(6, 6, f, f, 2, 2, 0) == (3, 3)
        expect = math.sqrt(2) * (c if c > 0 else 0.2 * c)
        torch.testing.assert_close(y, torch.full_like(y, expect))


def test_filtered_lrelu_equals_explicit_composition():
    x = torch.randn(2, 4, 9, 7)
    b = torch.randn(4)
    fu = torch.tensor(sg3.firwin_lowpass(12, 2.0, 3.0, 16), dtype=torch.float32)
    fd = torch.tensor(sg3.jinc_lowpass(12, 2.0, 3.0, 16), dtype=torch.float32)
    pad = [11, 10, 9, 12]
    y = filtered_lrelu_ref(x, fu=fu, fd=fd, b=b, up=2, down=2, padding=pad, clamp=1.0)
    t = x + b[None, :, None, None]
    t = upfirdn2d_ref(t, fu, up=2, padding=pad, gain=4)
    t = (torch.nn.functional.leaky_relu(t, 0.2) * math.sqrt(2)).clamp(-1, 1)
    t = upfirdn2d_ref(t, fd, down=2)
    torch.testing.assert_close(y, t)
    assert y.shape[-2:] == output_size(9, 7, fu, fd, 2, 2, pad)
    torch.testing.assert_close(filtered_lrelu(x, fu=fu, fd=fd, b=b, up=2, down=2, padding=pad, clamp=1.0), y)


def test_filtered_lrelu_dispatch_uses_fast_module_when_supported(monkeypatch):
    calls = []
    fake = types.ModuleType('kernels.triton_filtered_lrelu')
    fake.supported = True
    fake.supports = lambda x, fu, fd, b, **kw: fake.supported
    def fast(x, reference, **kw):
        calls.append(kw)
        return reference(x, **kw) + 1
    fake.filtered_lrelu_triton = fast
    monkeypatch.setitem(sys.modules, 'kernels.triton_filtered_lrelu', fake)
    import kernels
    monkeypatch.setattr(kernels, 'triton_filtered_lrelu', fake, raising=False)
    monkeypatch.setattr(kernels._dispatch, 'resolve_impl', lambda impl, *t: 'ref' if impl == 'ref' else 'triton')
    monkeypatch.setattr(flr_mod, 'upfirdn2d', lambda x, f, impl='auto', **kw: upfirdn2d_ref(x, f, **kw))
    monkeypatch.setattr(flr_mod, 'bias_act', lambda x, b, impl='auto', **kw: flr_mod.bias_act_ref(x, b, **kw))
    x = torch.randn(1, 2, 4, 4)
    ref = filtered_lrelu_ref(x)
    torch.testing.assert_close(filtered_lrelu(x), ref + 1)
    assert len(calls) == 1
    fake.supported = False
    torch.testing.assert_close(filtered_lrelu(x), ref)
    torch.testing.assert_close(filtered_lrelu(x, impl='ref'), ref)
    assert len(calls) == 1


# ----------------------------------------------------------------------------
# Modulated convolution.

def test_modulated_conv2d_matches_per_sample_math():
    torch.manual_seed(1)
    x = torch.randn(3, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    s = torch.randn(3, 4, dtype=torch.float64)
    gain = torch.tensor(0.7, dtype=torch.float64)
    y = sg3.modulated_conv2d(x, w, s, demodulate=True, padding=2, input_gain=gain)
    for n in range(3):
        wn = w / w.square().mean(dim=[1, 2, 3], keepdim=True).sqrt()
        sn = s[n] / s.square().mean().sqrt()       # styles normalised over the whole batch
        wn = wn * sn[None, :, None, None]
        wn = wn / (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        expect = torch.nn.functional.conv2d(x[n:n + 1], wn * 0.7, padding=2)
        torch.testing.assert_close(y[n:n + 1], expect)
    y = sg3.modulated_conv2d(x, w[:, :, :1, :1], s, demodulate=False)
    expect = torch.einsum('oi,nihw,ni->nohw', w[:, :, 0, 0], x, s)
    torch.testing.assert_close(y, expect)


# ----------------------------------------------------------------------------
# Generator.

EXPECTED_KEYS_R = [
    'synthesis.input.weight', 'synthesis.input.transform', 'synthesis.input.freqs', 'synthesis.input.phases',
    'synthesis.input.affine.weight', 'synthesis.input.affine.bias',
] + [f'synthesis.{name}.{p}' for name in ('L0_36_16', 'L1_36_16', 'L2_36_8', 'L3_16_8')
     for p in ('weight', 'bias', 'magnitude_ema', 'up_filter', 'down_filter', 'affine.weight', 'affine.bias')] + [
    'synthesis.L4_16_3.weight', 'synthesis.L4_16_3.bias', 'synthesis.L4_16_3.magnitude_ema',
    'synthesis.L4_16_3.affine.weight', 'synthesis.L4_16_3.affine.bias',
    'mapping.w_avg', 'mapping.embed.weight', 'mapping.embed.bias',
    'mapping.fc0.weight', 'mapping.fc0.bias', 'mapping.fc1.weight', 'mapping.fc1.bias',
]


def test_state_dict_names_follow_official_layout():
    G = make(CFG_R)
    sd = G.state_dict()
    assert list(sd.keys()) == EXPECTED_KEYS_R
    s = G.synthesis
    assert s.layer_names == ['L0_36_16', 'L1_36_16', 'L2_36_8', 'L3_16_8', 'L4_16_3']
    # Radial 2-D down filters only in the non-critically-sampled layers; ToRGB has no filters.
    assert [tuple(sd[f'synthesis.{n}.down_filter'].shape) for n in s.layer_names[:4]] == \
        [(12, 12), (12, 12), (12,), (12,)]
    assert [getattr(s, n).padding for n in s.layer_names] == [[11, 10, 11, 10]] * 3 + [[-9, -10, -9, -10], [0, 0, 0, 0]]
    assert tuple(sd['synthesis.L0_36_16.weight'].shape) == (16, 16, 1, 1)  # conv_kernel=1 (config R)
    assert tuple(make(CFG_T).state_dict()['synthesis.L0_36_16.weight'].shape) == (16, 16, 3, 3)
    assert 'mapping.embed.weight' not in make(CFG_T).state_dict()
    torch.testing.assert_close(sd['synthesis.input.affine.bias'], torch.tensor([1.0, 0, 0, 0]))
    torch.testing.assert_close(sd['synthesis.input.affine.weight'], torch.zeros(4, 8))


@pytest.mark.parametrize('cfg', [CFG_T, CFG_R], ids=['T', 'R'])
def test_shapes_num_ws_determinism(cfg):
    G = make(cfg)
    assert G.family == 'stylegan3' and G.num_ws == 6 == G.mapping.num_ws == G.synthesis.num_ws
    z = torch.randn(2, 8)
    c = torch.eye(3)[:2] if cfg['c_dim'] else None
    ws = G.mapping(z, c)
    assert ws.shape == (2, 6, 8)
    with torch.no_grad():
        img = G.synthesis(ws, noise_mode='const')
        img2 = G(z, c, noise_mode='random', noise_scale=0.3, noise_generator=None, fused_modconv=True)
    assert img.shape == (2, 3, 16, 16) and img.dtype == torch.float32
    assert torch.isfinite(img).all() and img.std() > 0
    torch.testing.assert_close(img, img2, rtol=0, atol=0)
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode='bogus')


@pytest.mark.parametrize('cfg', [CFG_T, CFG_R], ids=['T', 'R'])
def test_truncation(cfg):
    G = make(cfg)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    z = torch.randn(3, 8)
    c = torch.eye(3) if cfg['c_dim'] else None
    ws0 = G.mapping(z, c, truncation_psi=0)
    torch.testing.assert_close(ws0, G.mapping.w_avg.expand(3, 6, 8))
    full = G.mapping(z, c)
    cut = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, 2:], full[:, 2:], rtol=0, atol=0)
    torch.testing.assert_close(cut[:, :2], G.mapping.w_avg.lerp(full[:, :2], 0.5))
    assert not torch.allclose(cut[:, :2], full[:, :2])


@pytest.mark.parametrize('name, cfg, ws_expect, img_expect', [
    ('T', CFG_T,
     [2.547859, 3.6110051, 0.8393353, 1.170257],
     [0.4748642, 0.4388816, 0.4515172, 0.381617, 0.4351192, 0.4250122, 0.446874, 0.3676777, 0.3994132, 0.3971835,
      0.3849306, 0.3529367, 0.3845487, 0.3846826, 0.3780818, 0.3510154, 0.1918559, 0.1209501, 0.1017041, -0.0344664,
      0.1641196, 0.1282187, 0.1445334, -0.0430598, 0.0873495, 0.1033292, 0.0544166, -0.0147171, 0.0236795, 0.0673509,
      0.0721553, -0.0189117, -0.2876638, -0.2698264, -0.2581865, -0.1976763, -0.2916973, -0.2799404, -0.2617228,
      -0.1779691, -0.2691017, -0.2743211, -0.2549421, -0.183337, -0.2205569, -0.2616564, -0.2524, -0.1781032,
      -0.3621684, -0.3525466, -0.3693606, -0.3574215, -0.3596895, -0.3578922, -0.3768725, -0.3662845, -0.3275284,
      -0.3171462, -0.3177401, -0.302702, -0.3468119, -0.3087013, -0.3006272, -0.2541323, -0.1513602, -0.1303649,
      -0.2148066, -0.1874068, -0.1132333, -0.1647139, -0.1257901, -0.1411385, -0.1655722, -0.1602183, -0.0547197,
      -0.0760088, -0.1971144, -0.2109488, -0.1423444, -0.1181446, 0.3092994, 0.3035077, 0.3357762, 0.3220207,
      0.2878893, 0.3126588, 0.3067688, 0.3014748, 0.3032488, 0.2971098, 0.2529045, 0.2501389, 0.3237096, 0.3154531,
      0.290254, 0.269394]),
    ('R', CFG_R,
     [1.1039538, 0.9706089, 1.2648262, 1.2004265],
     [-0.6727674, -0.5917085, -0.5153193, -0.5197619, -0.5088799, -0.4356245, -0.4065459, -0.489369, -0.3606645,
      -0.3866044, -0.4329011, -0.618856, -0.5119176, -0.6234564, -0.6086138, -0.6798147, 0.0342113, 0.0261975,
      -0.0011229, -0.0026276, -0.0137565, -0.050429, -0.0513987, 0.0095265, -0.0543073, -0.0616394, -0.0608774,
      0.0041658, 0.0041753, 0.0760756, 0.0590195, 0.0472848, -0.0337018, 0.0079127, 0.0679701, 0.0976055, 0.0670954,
      0.0948087, 0.124997, 0.1183353, 0.1301033, 0.1134008, 0.0741898, -0.0120358, 0.0541513, 0.0205401, 0.024417,
      -0.0201634, -0.2941221, -0.2772845, -0.2874338, -0.3024692, -0.276363, -0.2424937, -0.2954511, -0.3230086,
      -0.3285101, -0.2869764, -0.2981919, -0.3044015, -0.3234659, -0.3265899, -0.3409103, -0.2969468, 0.0384945,
      0.0198075, 0.0219869, 0.0391577, 0.0182369, -0.0240838, 0.0198885, 0.0413111, 0.0635374, 0.0220929, 0.0497823,
      0.0599572, 0.0581433, 0.065295, 0.0923166, 0.0600277, 0.3352058, 0.3402924, 0.3451795, 0.3324501, 0.3265932,
      0.3239529, 0.3283869, 0.3351286, 0.3239904, 0.3285981, 0.3233582, 0.3400394, 0.3316945, 0.3365248, 0.3232382,
      0.3271396]),
])
def test_matches_recorded_official_outputs(name, cfg, ws_expect, img_expect):
    # Reference numbers were produced by NVIDIA's networks_stylegan3.py (CPU, float32) for the
    # same tensors (fill_by_name), z, c, psi=0.7, cutoff=3 and a translate+rotate input transform.
    G = make(cfg)
    fill_by_name(G, seed=1)
    G.set_input_transform(translate=(0.1, -0.05), rotate_deg=math.degrees(0.3))
    z = torch.randn([2, 8], generator=torch.Generator().manual_seed(123))
    c = torch.eye(3)[[0, 2]] if cfg['c_dim'] else None
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=3)
        img = G.synthesis(ws)
    got_ws = ws[:, ::3, 0].flatten()
    torch.testing.assert_close(got_ws, torch.tensor(ws_expect), rtol=1e-5, atol=1e-6)
    got = img[:, :, ::5, ::5].flatten()
    torch.testing.assert_close(got, torch.tensor(img_expect), rtol=1e-4, atol=2e-6)


def test_input_transform_matrix_and_effect():
    m = sg3.input_transform_matrix(translate=(0.25, -0.1), rotate_deg=30)
    a = math.radians(30)
    fwd = np.array([[math.cos(a), math.sin(a), 0.25], [-math.sin(a), math.cos(a), -0.1], [0, 0, 1]])
    np.testing.assert_allclose(m @ fwd, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(sg3.input_transform_matrix(), np.eye(3))

    G = make(CFG_T)
    fill_by_name(G, seed=2)
    ws = G.mapping(torch.randn(1, 8), None)
    with torch.no_grad():
        base = G.synthesis(ws)
        G.set_input_transform(translate=(0, 0), rotate_deg=0)
        torch.testing.assert_close(G.synthesis(ws), base, rtol=0, atol=0)
        G.synthesis.input.set_transform(translate=(0.2, 0.0))
        torch.testing.assert_close(G.synthesis.input.transform,
                                   torch.tensor(sg3.input_transform_matrix((0.2, 0)), dtype=torch.float32))
        moved = G.synthesis(ws)
        assert (moved - base).abs().max() > 1e-3
        G.synthesis.input.reset_transform()
        torch.testing.assert_close(G.synthesis(ws), base, rtol=0, atol=0)


def test_load_by_name_into_fresh_module_and_init_kwargs_roundtrip():
    src = make(CFG_R, seed=3)
    fill_by_name(src, seed=4)
    kwargs = json.loads(json.dumps(src.init_kwargs))
    dst = sg3.Generator(**kwargs).eval()
    assert dst.init_kwargs == src.init_kwargs
    dst.load_state_dict(src.state_dict(), strict=True)
    z = torch.randn(2, 8)
    c = torch.eye(3)[:2]
    with torch.no_grad():
        torch.testing.assert_close(dst(z, c, truncation_psi=0.6), src(z, c, truncation_psi=0.6), rtol=0, atol=0)
    # Official layout (synthesis arguments inline) and the dict form build the same module.
    inline = dict(kwargs)
    inline.update(inline.pop('synthesis_kwargs'))
    same = sg3.Generator(**inline)
    assert same.init_kwargs == src.init_kwargs
    for k, v in src.state_dict().items():
        if k.endswith('_filter'):
            torch.testing.assert_close(same.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(TypeError):
        sg3.Generator(**CFG_T, not_an_argument=1)


def test_update_emas_and_style_layers():
    G = make(CFG_T)
    z = torch.randn(4, 8)
    G(z, None, update_emas=True)
    assert not torch.equal(G.mapping.w_avg, torch.zeros(8))
    assert all(getattr(G.synthesis, n).magnitude_ema.item() != 1.0 for n in G.synthesis.layer_names)
    layers = G.style_layers()
    # Detail scale = 2 x output cutoff (cutoffs 2, 4, 8, 8, 8 here), capped at the image size.
    assert layers == ([StyleLayer(0, 4, 'input', False)]
                      + [StyleLayer(i + 1, r, 'layer', False) for i, r in enumerate([4, 8, 16, 16])]
                      + [StyleLayer(5, 16, 'torgb', False)])
    from explorer.engine.latents import groups_for
    assert groups_for(G)['coarse'] == (0, 1, 2) and groups_for(G)['middle'] == (3, 4, 5)
    assert G.preview_resolutions() == [16]
