"""StyleGAN1 generator and the conversion of official TensorFlow (G_style) pickles.

The TF-layout networks are built here: random numpy variables with the official
names and shapes, in the ``dnnlib.tflib.network.Network`` state layout, pickled with
the stand-in modules of ``nvidia_layout.write_tf`` (nothing from dnnlib is needed).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from nvidia_layout import write_tf

from explorer.engine.formats import tf_stylegan1
from explorer.engine.layers import layer_groups
from explorer.engine.networks_stylegan1 import Generator, official_fmaps
from explorer.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- TF-layout builders

def nf(stage, kw):
    return official_fmaps(stage, kw.get('fmap_base', 8192), kw.get('fmap_decay', 1.0), kw.get('fmap_max', 512))


def make_sg1_record(resolution=32, latent_size=16, dlatent_size=16, label_size=0, num_channels=3,
                    mapping_layers=3, mapping_fmaps=24, fmap_base=64, fmap_max=16, seed=0, lod=0.0,
                    **extra_kwargs) -> dict:
    """A Gs record as the restricted unpickler presents it: kwargs, components, variables."""
    rng = np.random.RandomState(seed)
    kw = dict(resolution=resolution, num_channels=num_channels, label_size=label_size, latent_size=latent_size,
              dlatent_size=dlatent_size, mapping_layers=mapping_layers, mapping_fmaps=mapping_fmaps,
              fmap_base=fmap_base, fmap_max=fmap_max, **extra_kwargs)

    def rnd(*shape, scale=1.0):
        return (rng.randn(*shape) * scale).astype(np.float32)

    m = {}
    if label_size:
        m['LabelConcat/weight'] = rnd(label_size, latent_size)
    feats = [latent_size * (2 if label_size else 1)] + [mapping_fmaps] * (mapping_layers - 1) + [dlatent_size]
    for i in range(mapping_layers):
        m[f'Dense{i}/weight'] = rnd(feats[i], feats[i + 1], scale=100.0)   # lrmul 0.01 storage scale
        m[f'Dense{i}/bias'] = rnd(feats[i + 1], scale=20.0)

    s = {'lod': np.float32(lod)}
    log2 = int(np.log2(resolution))
    for idx in range(2 * log2 - 2):
        r = 2 ** (idx // 2 + 2)
        s[f'noise{idx}'] = rnd(1, 1, r, r)

    def epilogue(scope, ch):
        s[f'{scope}/Noise/weight'] = rnd(ch, scale=0.3)
        s[f'{scope}/bias'] = rnd(ch, scale=0.2)
        s[f'{scope}/StyleMod/weight'] = rnd(dlatent_size, 2 * ch)
        s[f'{scope}/StyleMod/bias'] = rnd(2 * ch, scale=0.2)

    c4 = nf(1, kw)
    if kw.get('const_input_layer', True):
        s['4x4/Const/const'] = rnd(1, c4, 4, 4)
        epilogue('4x4/Const', c4)
    else:
        s['4x4/Dense/weight'] = rnd(dlatent_size, c4 * 16)
        epilogue('4x4/Dense', c4)
    s['4x4/Conv/weight'] = rnd(3, 3, c4, c4)
    epilogue('4x4/Conv', c4)
    for r in range(3, log2 + 1):
        cin, cout = nf(r - 2, kw), nf(r - 1, kw)
        s[f'{2**r}x{2**r}/Conv0_up/weight'] = rnd(3, 3, cin, cout)
        epilogue(f'{2**r}x{2**r}/Conv0_up', cout)
        s[f'{2**r}x{2**r}/Conv1/weight'] = rnd(3, 3, cout, cout)
        epilogue(f'{2**r}x{2**r}/Conv1', cout)
    for r in range(2, log2 + 1):
        s[f'ToRGB_lod{log2 - r}/weight'] = rnd(1, 1, nf(r - 1, kw), num_channels)
        s[f'ToRGB_lod{log2 - r}/bias'] = rnd(num_channels, scale=0.1)

    top = {'lod': np.float32(lod), 'dlatent_avg': rnd(dlatent_size)}
    mapping = {'name': 'G_mapping', 'static_kwargs': dict(kw, dlatent_broadcast=2 * log2 - 2), 'components': {},
               'variables': m}
    synthesis = {'name': 'G_synthesis', 'static_kwargs': dict(kw), 'components': {}, 'variables': s}
    return {'name': 'Gs', 'static_kwargs': dict(kw), 'components': {'mapping': mapping, 'synthesis': synthesis},
            'variables': top}


def d_record(resolution=32):
    """A tiny stand-in D (present so the pickle is the official (G, D, Gs) tuple)."""
    return {'name': 'D', 'static_kwargs': {'resolution': resolution}, 'components': {},
            'variables': {'lod': np.float32(0), 'FromRGB_lod0/weight': np.zeros([1, 1, 3, 4], np.float32)}}


_FUNC_NAMES = {'Gs': 'training.networks_stylegan.G_style', 'G': 'training.networks_stylegan.G_style',
               'G_mapping': 'training.networks_stylegan.G_mapping', 'D': 'training.networks_stylegan.D_basic',
               'G_synthesis': 'training.networks_stylegan.G_synthesis'}


def official_state(record, name=None) -> dict:
    """The ``Network.__getstate__`` layout (version 3) of a record."""
    name = name or record['name']
    return {'version': 3, 'name': name, 'static_kwargs': dict(record['static_kwargs']),
            'components': {k: official_state(v) for k, v in record['components'].items()},
            'build_module_src': 'raise RuntimeError("embedded source must never run")\n',
            'build_func_name': _FUNC_NAMES.get(name, name),
            'variables': list(record['variables'].items())}


def write_tf_pickle(path, record):
    """(G, D, Gs) like the official StyleGAN1 pickles."""
    return Path(write_tf(path, (official_state(record, 'G'), official_state(d_record()),
                                official_state(record, 'Gs'))))


def convert(record, **kw):
    return tf_stylegan1.convert(record, **kw)


def zs(n, dim, seed=1):
    return torch.from_numpy(np.random.RandomState(seed).randn(n, dim).astype(np.float32))


# ----------------------------------------------------------------------------- network invariants

def test_generator_api_and_layers():
    G = Generator(z_dim=16, w_dim=16, img_resolution=32, channels=[16, 16, 8, 8], mapping_layers=2,
                  mapping_fmaps=16).eval()
    assert G.family == 'stylegan1' and G.num_ws == 8
    layers = G.style_layers()
    assert [l.label for l in layers] == ['4x4 const', '4x4 conv', '8x8 up', '8x8 conv',
                                         '16x16 up', '16x16 conv', '32x32 up', '32x32 conv']
    assert layer_groups(layers) == {'coarse': (0, 1, 2, 3), 'middle': (4, 5, 6, 7), 'fine': ()}
    z = zs(2, 16)
    ws = G.mapping(z, None)
    assert ws.shape == (2, 8, 16)
    img = G.synthesis(ws, noise_mode='const')
    assert img.shape == (2, 3, 32, 32)
    # init_kwargs rebuild the same module (JSON round trip, as the own format stores them).
    import json
    G2 = Generator(**json.loads(json.dumps(G.init_kwargs)))
    G2.load_state_dict(G.state_dict())
    assert torch.equal(G2.synthesis(ws), G.synthesis(ws))


def test_truncation_official_defaults():
    G = convert(make_sg1_record(resolution=64))
    assert G.num_ws == 10
    z = zs(3, G.z_dim)
    ws = G.mapping(z, None)
    ws0 = G.mapping(z, None, truncation_psi=0)
    assert torch.equal(ws0, G.mapping.w_avg.expand_as(ws0))           # psi=0 -> w_avg exactly
    # forward() defaults to the official psi 0.7, cutoff 8: ws[:8] truncated, ws[8:] untouched.
    wt = G.mapping(z, None, truncation_psi=0.7, truncation_cutoff=8)
    avg = G.mapping.w_avg
    torch.testing.assert_close(wt[:, :8], avg + (ws[:, :8] - avg) * 0.7)
    assert torch.equal(wt[:, 8:], ws[:, 8:])
    img_default = G(z)
    img_explicit = G.synthesis(wt)
    assert torch.equal(img_default, img_explicit)
    assert not torch.equal(G(z, truncation_psi=1), img_default)


def test_const_noise_deterministic_and_noise_modes():
    G = convert(make_sg1_record())
    ws = G.mapping(zs(2, G.z_dim), None)
    a = G.synthesis(ws, noise_mode='const')
    assert torch.equal(a, G.synthesis(ws, noise_mode='const'))
    none = G.synthesis(ws, noise_mode='none')
    assert not torch.allclose(a, none)
    assert torch.equal(none, G.synthesis(ws, noise_mode='const', noise_scale=0.0))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    r1 = G.synthesis(ws, noise_mode='random', noise_generator=g1)
    assert torch.equal(r1, G.synthesis(ws, noise_mode='random', noise_generator=g2))
    assert not torch.allclose(r1, a)
    # Per-layer scales: zero noise only in the last layer changes only... the output, not the crash.
    per = [1.0] * (G.num_ws - 1) + [0.0]
    assert not torch.equal(G.synthesis(ws, noise_scale=per), a)


def test_style_mixing_changes_only_chosen_layers():
    G = convert(make_sg1_record())
    from explorer.engine import latents
    row = latents.compute_ws(G, [1])
    col = latents.compute_ws(G, [2])
    coarse = latents.parse_layers('coarse', G)
    assert coarse == (0, 1, 2, 3)
    mixed = latents.mix_group(row, col, coarse)
    assert torch.equal(mixed[:, 4:], row[:, 4:]) and torch.equal(mixed[:, :4], col[:, :4])
    # Changing a style input only affects layers at/after its resolution: with the
    # 32x32 styles swapped the 16x16 preview through its ToRGB is unchanged.
    fine_only = latents.mix_group(row, col, (6, 7))
    assert torch.equal(G.synthesis(fine_only, stop_at=16), G.synthesis(row, stop_at=16))
    assert not torch.equal(G.synthesis(fine_only), G.synthesis(row))


# ----------------------------------------------------------------------------- conversion

def test_every_variable_consumed_and_mapped_by_name():
    rec = make_sg1_record(label_size=3)
    G = convert(rec)
    assert G.c_dim == 3 and G.z_dim == 16 and G.w_dim == 16 and G.img_resolution == 32
    vmap = tf_stylegan1.variable_map(G)
    nets = {'top': rec['variables'], 'mapping': rec['components']['mapping']['variables'],
            'synthesis': rec['components']['synthesis']['variables']}
    used = set(vmap) | {('synthesis', 'lod')}
    assert used == {(n, k) for n, vs in nets.items() for k in vs}
    # Spot-check layouts: dense [in, out] -> [out, in]; conv [kh, kw, in, out] -> [out, in, kh, kw].
    sd = G.state_dict()
    s = nets['synthesis']
    np.testing.assert_array_equal(sd['mapping.fc1.weight'].numpy(), nets['mapping']['Dense1/weight'].T)
    np.testing.assert_array_equal(sd['synthesis.b8.layer0.weight'].numpy(),
                                  s['8x8/Conv0_up/weight'].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(sd['synthesis.b4.layer0.const'].numpy(), s['4x4/Const/const'][0])
    np.testing.assert_array_equal(sd['synthesis.b16.layer1.noise_const'].numpy(), s['noise5'][0, 0])
    np.testing.assert_array_equal(sd['mapping.w_avg'].numpy(), nets['top']['dlatent_avg'])
    c = torch.zeros([1, 3])
    c[0, 1] = 1
    assert G(zs(1, 16), c).shape == (1, 3, 32, 32)


def test_missing_and_unknown_variables_are_named():
    rec = make_sg1_record()
    syn = rec['components']['synthesis']['variables']
    del syn['16x16/Conv1/StyleMod/bias']
    syn['16x16/Conv1/Extra/weight'] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointError) as e:
        convert(rec, path='x.pkl')
    msg = str(e.value)
    assert 'x.pkl' in msg
    assert 'missing variables: G_synthesis/16x16/Conv1/StyleMod/bias' in msg
    assert 'unknown variables: G_synthesis/16x16/Conv1/Extra/weight' in msg

    rec = make_sg1_record()
    del rec['variables']['dlatent_avg']
    with pytest.raises(CheckpointError, match='missing variables: G_style/dlatent_avg'):
        convert(rec)

    rec = make_sg1_record()
    rec['components']['mapping']['variables']['Dense1/weight'] = np.zeros([3, 3], np.float32)
    with pytest.raises(CheckpointError, match=r'G_mapping/Dense1/weight has shape \(3, 3\), expected \(24, 24\)'):
        convert(rec)


def test_recognise_stylegan1_vs_stylegan2():
    rec = make_sg1_record()
    names = list(rec['components']['synthesis']['variables'])
    assert tf_stylegan1.recognise(rec['static_kwargs'], names)
    assert tf_stylegan1.recognise({}, ['G_synthesis/' + n for n in names])
    sg2 = ['4x4/Const/const', '4x4/Conv/weight', '4x4/Conv/mod_weight', '4x4/Conv/mod_bias',
           '4x4/Conv/noise_strength', '4x4/ToRGB/weight', '4x4/ToRGB/mod_weight', 'noise0']
    assert not tf_stylegan1.recognise({'architecture': 'skip'}, sg2)


def test_sizes_inferred_when_kwargs_omit_them():
    rec = make_sg1_record(resolution=32)
    for r in (rec, rec['components']['mapping'], rec['components']['synthesis']):
        r['static_kwargs'] = {'resolution': 32, 'num_channels': 3}
    G = convert(rec)
    assert G.init_kwargs['channels'] == [16, 16, 8, 4] and G.z_dim == 16 and G.init_kwargs['mapping_fmaps'] == 24
    assert G.init_kwargs['mapping_layers'] == 3


def _ref_epilogue(x, w, p, scope, noise, use_noise=True):
    """Independent numpy restatement of one official layer epilogue (const noise)."""
    ch = x.shape[1]
    if use_noise:
        x = x + noise[0, 0][None, None] * p[f'{scope}/Noise/weight'].reshape(1, ch, 1, 1)
    x = x + p[f'{scope}/bias'].reshape(1, ch, 1, 1)
    x = np.maximum(x, 0.2 * x)
    x = x - x.mean(axis=(2, 3), keepdims=True)
    x = x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + 1e-8)
    wd = w.shape[1]
    st = w @ (p[f'{scope}/StyleMod/weight'] / np.sqrt(wd)) + p[f'{scope}/StyleMod/bias']
    st = st.reshape(-1, 2, ch, 1, 1)
    return x * (st[:, 0] + 1) + st[:, 1]


def _ref_conv3(x, wt, gain):
    """SAME cross-correlation, TF layout [3, 3, in, out], he scaling gain/sqrt(fan_in)."""
    k = wt * gain / np.sqrt(np.prod(wt.shape[:3]))
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    H, W = x.shape[2:]
    out = np.zeros((x.shape[0], wt.shape[3], H, W))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum('nchw,co->nohw', xp[:, :, dy:dy + H, dx:dx + W], k[dy, dx])
    return out


def _ref_up_fused(x, wt):
    """Official fused up-conv restated: 4x4 kernel from the 3x3 by summing shifts, then
    a stride-2 transposed conv whose output pixel 2i+a-1 receives x[i] * k4[a]."""
    k = wt * math.sqrt(2) / np.sqrt(np.prod(wt.shape[:3]))
    kp = np.pad(k, [(1, 1), (1, 1), (0, 0), (0, 0)])
    k4 = kp[1:, 1:] + kp[:-1, 1:] + kp[1:, :-1] + kp[:-1, :-1]            # [4, 4, in, out]
    N, C, H, W = x.shape
    out = np.zeros((N, wt.shape[3], 2 * H + 4, 2 * W + 4))
    for a in range(4):
        for b in range(4):
            contrib = np.einsum('nchw,co->nohw', x, k4[a, b])
            out[:, :, 2 + a - 1:2 + a - 1 + 2 * H:2, 2 + b - 1:2 + b - 1 + 2 * W:2] += contrib
    return out[:, :, 2:2 + 2 * H, 2:2 + 2 * W]


def _ref_blur(x):
    f = np.array([1, 2, 1], np.float64)
    f = np.outer(f, f) / 16
    H, W = x.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    return sum(f[dy, dx] * xp[:, :, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3))


def reference_forward(rec, z, psi=0.7, cutoff=8):
    """The official G_style inference math, restated in float64 numpy (const noise)."""
    kw = rec['static_kwargs']
    m = rec['components']['mapping']['variables']
    p = rec['components']['synthesis']['variables']
    avg = rec['variables']['dlatent_avg'].astype(np.float64)
    x = z.astype(np.float64)
    x = x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)
    i = 0
    while f'Dense{i}/weight' in m:
        wt = m[f'Dense{i}/weight']
        x = x @ (wt * math.sqrt(2) / np.sqrt(wt.shape[0]) * 0.01) + m[f'Dense{i}/bias'] * 0.01
        x = np.maximum(x, 0.2 * x)
        i += 1
    log2 = int(np.log2(kw['resolution']))
    L = 2 * log2 - 2
    ws = np.repeat(x[:, None], L, axis=1)
    coefs = np.where(np.arange(L) < cutoff, psi, 1.0)[None, :, None]
    ws = avg + (ws - avg) * coefs
    fused = kw.get('fused_scale', 'auto')
    y = np.repeat(p['4x4/Const/const'].astype(np.float64), z.shape[0], axis=0)
    y = _ref_epilogue(y, ws[:, 0], p, '4x4/Const', p['noise0'])
    y = _ref_epilogue(_ref_conv3(y, p['4x4/Conv/weight'], math.sqrt(2)), ws[:, 1], p, '4x4/Conv', p['noise1'])
    for r in range(3, log2 + 1):
        s = f'{2**r}x{2**r}'
        wt = p[f'{s}/Conv0_up/weight']
        if fused is True or (fused == 'auto' and 2 ** r >= 128):
            y = _ref_up_fused(y, wt)
        else:
            y = _ref_conv3(y.repeat(2, axis=2).repeat(2, axis=3), wt, math.sqrt(2))
        y = _ref_epilogue(_ref_blur(y), ws[:, 2 * r - 4], p, f'{s}/Conv0_up', p[f'noise{2 * r - 4}'])
        y = _ref_epilogue(_ref_conv3(y, p[f'{s}/Conv1/weight'], math.sqrt(2)), ws[:, 2 * r - 3], p,
                          f'{s}/Conv1', p[f'noise{2 * r - 3}'])
    wt = p['ToRGB_lod0/weight']
    img = np.einsum('nchw,co->nohw', y, wt[0, 0] / np.sqrt(wt.shape[2])) + p['ToRGB_lod0/bias'].reshape(1, -1, 1, 1)
    return img


@pytest.mark.parametrize('fused_scale', ['auto', True])
def test_matches_reference_math(fused_scale):
    rec = make_sg1_record(resolution=16, fused_scale=fused_scale, seed=3)
    G = convert(rec)
    z = np.random.RandomState(7).randn(2, G.z_dim)
    ref = reference_forward(rec, z)
    out = G(torch.from_numpy(z).float(), noise_mode='const').detach().double().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_fused_upconv_is_not_plain_upconv():
    """Fused and separate up-convs differ (spatially flipped kernel): the converter must
    follow fused_scale, and 'auto' means fused from 128x128 up."""
    rec = make_sg1_record(resolution=16, seed=4)
    a = convert(rec)
    rec['static_kwargs']['fused_scale'] = True
    b = convert(rec)
    ws = a.mapping(zs(1, a.z_dim), None)
    assert not torch.allclose(a.synthesis(ws), b.synthesis(ws))
    G = Generator(z_dim=8, w_dim=8, img_resolution=256, channels=[4] * 7, mapping_layers=1)
    assert [getattr(G.synthesis, f'b{r}').layer0.fused for r in (8, 16, 32, 64, 128, 256)] == \
        [False, False, False, False, True, True]


def test_lod_fade_and_crop():
    rec = make_sg1_record(resolution=32, lod=0.5)
    G = convert(rec)
    ws = G.mapping(zs(1, G.z_dim), None)
    full = G.synthesis(ws)
    G.synthesis.lod.fill_(0)
    grown = G.synthesis(ws)
    G.synthesis.lod.fill_(1)
    prev = G.synthesis(ws)           # 16x16 ToRGB upscaled
    torch.testing.assert_close(full, 0.5 * grown + 0.5 * prev)
    small = G.synthesis(ws, stop_at=16)
    torch.testing.assert_close(prev, small.repeat_interleave(2, 2).repeat_interleave(2, 3))
    # lod is read from the buffer once per change (each read syncs a CUDA device and breaks
    # graph capture), and a state dict loaded in place is seen.
    state = {k: v.clone() for k, v in G.synthesis.state_dict().items()}
    state['lod'] = torch.tensor(0.5)
    G.synthesis.load_state_dict(state)
    reads = []
    real_float = torch.Tensor.__float__
    try:
        torch.Tensor.__float__ = lambda t: reads.append(1) or real_float(t)
        torch.testing.assert_close(G.synthesis(ws), full)
        torch.testing.assert_close(G.synthesis(ws), full)
    finally:
        torch.Tensor.__float__ = real_float
    assert len(reads) == 1

    G = convert(make_sg1_record(resolution=32), path='/tmp/karras2019stylegan-cars-32x24.pkl')
    assert G.init_kwargs['crop'] == [4, 4, 0, 0]
    img = G(zs(1, G.z_dim))
    assert img.shape == (1, 3, 24, 32) and G.img_shape == (24, 32)
    G.synthesis.crop = None
    torch.testing.assert_close(G(zs(1, G.z_dim))[:, :, 4:28], img)
    assert tf_stylegan1.crop_from_name('karras2019stylegan-cars-512x384.pkl', 512) == [64, 64, 0, 0]
    assert tf_stylegan1.crop_from_name('stylegan2-car-config-f.pkl', 512) == [64, 64, 0, 0]
    assert tf_stylegan1.crop_from_name('karras2019stylegan-ffhq-1024x1024.pkl', 1024) is None
    assert tf_stylegan1.crop_from_name('scarf-512.pkl', 512) is None


# ----------------------------------------------------------------------------- pickles end to end

def test_pickle_round_trip_through_restricted_unpickler(tmp_path):
    from explorer.engine.formats.restricted_pickle import TFNetworkRecord, restricted_load
    rec = make_sg1_record(seed=9)
    path = write_tf_pickle(tmp_path / 'sg1.pkl', rec)
    data = restricted_load(path)
    assert isinstance(data, tuple) and len(data) == 3 and all(isinstance(r, TFNetworkRecord) for r in data)
    Gs = data[2]
    names = list(Gs.components['synthesis'].variables)
    assert tf_stylegan1.recognise(Gs.static_kwargs, names)
    G = tf_stylegan1.convert(Gs, path)
    G_direct = convert(rec)
    z = zs(2, G.z_dim)
    assert torch.equal(G(z), G_direct(z))


def _sg1_pickle(tmp_path, name='sg1-32.pkl', **kw):
    return write_tf_pickle(tmp_path / name, make_sg1_record(seed=11, **kw))


def test_load_generator_on_tf_pickle(tmp_path):
    from explorer.engine.checkpoint import load_generator, read_checkpoint
    path = _sg1_pickle(tmp_path)
    data = read_checkpoint(path)
    G = data['G_ema']
    assert G.family == 'stylegan1' and G.img_resolution == 32 and G.num_ws == 8
    torch.testing.assert_close(G.mapping.w_avg, torch.from_numpy(
        make_sg1_record(seed=11)['variables']['dlatent_avg']))
    G2 = load_generator(path)
    assert not any(p.requires_grad for p in G2.parameters())
    # Non-square: the file name tells the aspect ratio; the padding is cropped.
    car = _sg1_pickle(tmp_path, name='tiny-cars-32x24.pkl')
    Gc = load_generator(car)
    assert Gc(zs(1, Gc.z_dim)).shape == (1, 3, 24, 32)


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM='offscreen')
    return subprocess.run([sys.executable, str(ROOT / 'main.py'), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_info_render_mix_on_tf_pickle(tmp_path):
    import json

    from explorer.engine.png import load_png, read_recipe
    path = _sg1_pickle(tmp_path)
    r = _cli('info', str(path), '--json', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info['family'] == 'stylegan1' and info['num_ws'] == 8 and info['resolution'] == 32
    assert info['layers'][:3] == ['4x4 const', '4x4 conv', '8x8 up']

    r = _cli('render', '--checkpoint', str(path), '--seeds', '0-1', '--psi', '0.7', '--cutoff', '8',
             '--outdir', str(tmp_path / 'out'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    img = load_png(tmp_path / 'out' / 'seed0001.png')
    assert img.shape == (32, 32, 3)
    assert read_recipe(tmp_path / 'out' / 'seed0001.png')['psi'] == 0.7
    # The PNG holds exactly what the API renders for seed 1.
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.latents import seeds_to_z
    G = load_generator(path)
    expected = to_uint8(G(seeds_to_z([1], G.z_dim), truncation_psi=0.7, truncation_cutoff=8))
    np.testing.assert_array_equal(img, expected)

    car = _sg1_pickle(tmp_path, name='tiny-cars-32x24.pkl')
    r = _cli('mix', '--checkpoint', str(car), '--rows', '1,2', '--cols', '3,4,5', '--styles', 'coarse',
             '--out', str(tmp_path / 'grid.png'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    grid = load_png(tmp_path / 'grid.png')
    assert grid.shape == (3 * 24, 4 * 32, 3)
    Gc = load_generator(car)
    from explorer.engine.latents import compute_ws, mix_group
    ws = mix_group(compute_ws(Gc, [2]), compute_ws(Gc, [4]), (0, 1, 2, 3))
    cell = to_uint8(Gc.synthesis(ws))                 # row seed 2 with coarse styles of seed 4
    np.testing.assert_array_equal(grid[2 * 24:3 * 24, 2 * 32:3 * 32], cell)


def test_cli_clear_error_on_broken_tf_pickle(tmp_path):
    rec = make_sg1_record()
    del rec['components']['synthesis']['variables']['ToRGB_lod0/bias']
    path = write_tf_pickle(tmp_path / 'broken.pkl', rec)
    r = _cli('info', str(path), cwd=tmp_path)
    assert r.returncode == 2
    assert 'broken.pkl' in r.stderr and 'ToRGB_lod0/bias' in r.stderr and 'Traceback' not in r.stderr


def test_own_format_round_trip(tmp_path):
    from explorer.engine.checkpoint import load_generator, save_generator
    G = convert(make_sg1_record(seed=5, lod=0.25), path='x-cars-32x24.pkl')
    path = save_generator(G, tmp_path / 'sg1.pt')
    G2 = load_generator(path)
    assert G2.family == 'stylegan1' and G2.init_kwargs == G.init_kwargs
    z = zs(2, G.z_dim)
    assert torch.equal(G2(z), G(z)) and G2(z).shape == (2, 3, 24, 32)


def test_fixed_structure_and_dense_input_variants():
    rec = make_sg1_record(structure='fixed', const_input_layer=False)
    syn = rec['components']['synthesis']['variables']
    for n in [k for k in syn if k.startswith('ToRGB_lod') and not k.startswith('ToRGB_lod0/')]:
        del syn[n]
    G = convert(rec)
    assert G.style_layers()[0].kind == 'dense' and G.synthesis.b16.torgb is None
    assert G(zs(1, G.z_dim)).shape == (1, 3, 32, 32)
    for r in (rec, rec['components']['mapping'], rec['components']['synthesis']):
        r['static_kwargs']['structure'] = 'linear'   # progressive: every ToRGB_lod must be there
    with pytest.raises(CheckpointError, match='missing variables: G_synthesis/ToRGB_lod1/bias'):
        convert(rec)


def test_gui_render_engine_on_non_square_tf_pickle(tmp_path):
    """The GUI's engine (Qt-free) loads a StyleGAN1 pickle and renders recipes and grid tiles."""
    from explorer.engine.grid_spec import GridSpec, compose_grid
    from explorer.engine.recipe import Recipe
    from explorer.engine.session import Session
    eng = Session(device='cpu')
    info = eng.load(_sg1_pickle(tmp_path, name='tiny-cars-32x24.pkl'))
    assert info.family == 'stylegan1' and info.group('coarse') == (0, 1, 2, 3)
    frame, _ = eng.render(Recipe(seeds=(3,), psi=0.7, cutoff=8, layer_noise=tuple([0.5] * 8)))
    assert frame.shape == (24, 32, 3)
    spec = GridSpec(rows=(1,), cols=(2, 3), layers=(4, 5, 6, 7))
    tiles = {(k, r, c): t for k, r, c, t in eng.render_grid_iter(spec)}
    assert all(t.shape == (24, 32, 3) for t in tiles.values())
    assert compose_grid(spec, tiles, (24, 32, 3)).shape == (48, 96, 3)
