"""rosinality .pt checkpoints: config from shapes, and the same function as rosinality's model.

``RosinalityReference`` below re-implements rosinality's generator forward pass from
its published description (PixelNorm, EqualLinear with lr_mul and fused leaky ReLU
scaled by sqrt(2), ModulatedConv2d with a stride-2 transposed conv + [1,3,3,1] blur
for up-sampling, NoiseInjection, ToRGB with an up-sampled skip), independently of
our modules, and runs it on the same state dict the file holds.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.engine.checkpoint import load_generator, read_checkpoint
from explorer.errors import CheckpointError

SQRT2 = math.sqrt(2)


# ----------------------------------------------------------------------------- reference math

def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w)
    if up > 1:
        y = x.new_zeros(n * c, 1, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, torch.flip(kernel, [0, 1])[None, None])
    x = x[:, :, ::down, ::down]
    return x.reshape(n, c, x.shape[2], x.shape[3])


def equal_linear(x, w, b, lr_mul=1.0, act=False):
    out = F.linear(x, w * (lr_mul / math.sqrt(w.shape[1])))
    if act:
        return F.leaky_relu(out + b * lr_mul, 0.2) * SQRT2
    return out + b * lr_mul


def modulated_conv(x, weight, style, demodulate=True, upsample=False):
    n, cin, h, w = x.shape
    _, cout, _, k, _ = weight.shape
    scale = 1 / math.sqrt(cin * k * k)
    wgt = scale * weight * style.view(n, 1, cin, 1, 1)  # [N, out, in, k, k]
    if demodulate:
        d = torch.rsqrt(wgt.pow(2).sum([2, 3, 4]) + 1e-8)
        wgt = wgt * d.view(n, cout, 1, 1, 1)
    if upsample:
        wgt = wgt.transpose(1, 2).reshape(n * cin, cout, k, k)
        out = F.conv_transpose2d(x.reshape(1, n * cin, h, w), wgt, padding=0, stride=2, groups=n)
        out = out.reshape(n, cout, out.shape[2], out.shape[3])
        p = (4 - 2) - (k - 1)
        return upfirdn2d(out, make_kernel([1, 3, 3, 1]) * 4, pad=((p + 1) // 2 + 1, p // 2 + 1))
    out = F.conv2d(x.reshape(1, n * cin, h, w), wgt.reshape(n * cout, cin, k, k), padding=k // 2, groups=n)
    return out.reshape(n, cout, h, w)


def rosinality_forward(s, z, n_mlp, log_size, psi=1.0, latent_avg=None):
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        x = equal_linear(x, s[f'style.{i}.weight'], s[f'style.{i}.bias'], lr_mul=0.01, act=True)
    if psi != 1:
        x = latent_avg + psi * (x - latent_avg)
    n_latent = log_size * 2 - 2
    lat = x[:, None].repeat(1, n_latent, 1)

    def styled(name, h, w_, noise, up=False):
        style = equal_linear(w_, s[f'{name}.conv.modulation.weight'], s[f'{name}.conv.modulation.bias'])
        h = modulated_conv(h, s[f'{name}.conv.weight'], style, upsample=up)
        h = h + s[f'{name}.noise.weight'] * noise
        return F.leaky_relu(h + s[f'{name}.activate.bias'].view(1, -1, 1, 1), 0.2) * SQRT2

    def to_rgb(name, h, w_, skip):
        style = equal_linear(w_, s[f'{name}.conv.modulation.weight'], s[f'{name}.conv.modulation.bias'])
        out = modulated_conv(h, s[f'{name}.conv.weight'], style, demodulate=False) + s[f'{name}.bias']
        if skip is not None:
            out = out + upfirdn2d(skip, make_kernel([1, 3, 3, 1]) * 4, up=2, pad=(2, 1))
        return out

    h = s['input.input'].repeat(z.shape[0], 1, 1, 1)
    h = styled('conv1', h, lat[:, 0], s['noises.noise_0'])
    skip = to_rgb('to_rgb1', h, lat[:, 1], None)
    i = 1
    for j in range(log_size - 2):
        h = styled(f'convs.{2 * j}', h, lat[:, i], s[f'noises.noise_{2 * j + 1}'], up=True)
        h = styled(f'convs.{2 * j + 1}', h, lat[:, i + 1], s[f'noises.noise_{2 * j + 2}'])
        skip = to_rgb(f'to_rgbs.{j}', h, lat[:, i + 2], skip)
        i += 2
    return skip


def rosinality_state(size=16, style_dim=8, n_mlp=3, channels=None, seed=0):
    """A state dict with rosinality's names and shapes, random values."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    log_size = int(math.log2(size))
    ch = channels or {4: 16, 8: 16, 16: 12, 32: 6}
    s = {}
    for i in range(1, n_mlp + 1):
        s[f'style.{i}.weight'] = r(style_dim, style_dim) / 0.01
        s[f'style.{i}.bias'] = r(style_dim) * 0.1
    s['input.input'] = r(1, ch[4], 4, 4)

    def styled(name, cin, cout, k=3, up=False):
        s[f'{name}.conv.weight'] = r(1, cout, cin, k, k)
        s[f'{name}.conv.modulation.weight'] = r(cin, style_dim)
        s[f'{name}.conv.modulation.bias'] = 1 + 0.1 * r(cin)
        if up:
            s[f'{name}.conv.blur.kernel'] = make_kernel([1, 3, 3, 1]) * 4
        s[f'{name}.noise.weight'] = r(1) * 0.3
        s[f'{name}.activate.bias'] = r(cout) * 0.1

    def torgb(name, cin, up):
        if up:
            s[f'{name}.upsample.kernel'] = make_kernel([1, 3, 3, 1]) * 4
        s[f'{name}.conv.weight'] = r(1, 3, cin, 1, 1)
        s[f'{name}.conv.modulation.weight'] = r(cin, style_dim)
        s[f'{name}.conv.modulation.bias'] = 1 + 0.1 * r(cin)
        s[f'{name}.bias'] = r(1, 3, 1, 1) * 0.1

    styled('conv1', ch[4], ch[4])
    torgb('to_rgb1', ch[4], False)
    for j in range(log_size - 2):
        res = 2 ** (j + 3)
        styled(f'convs.{2 * j}', ch[res // 2], ch[res], up=True)
        styled(f'convs.{2 * j + 1}', ch[res], ch[res])
        torgb(f'to_rgbs.{j}', ch[res], True)
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        s[f'noises.noise_{i}'] = r(1, 1, res, res)
    return s


def _z(n=2, dim=8):
    return torch.from_numpy(np.random.RandomState(0).randn(n, dim)).float()


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize('size,channels', [(16, {4: 16, 8: 16, 16: 8}),
                                           (32, {4: 16, 8: 16, 16: 16, 32: 8}),
                                           (8, {4: 12, 8: 12})])
def test_rosinality_matches_reference_math(tmp_path, size, channels):
    s = rosinality_state(size=size, channels=channels)
    latent_avg = torch.randn(8)
    path = tmp_path / 'ros.pt'
    torch.save({'g_ema': s, 'latent_avg': latent_avg}, path)
    data = read_checkpoint(path)
    G = data['G_ema']
    assert data['format'] == 'rosinality' and not data['w_avg_estimated']
    assert (G.img_resolution, G.z_dim, G.w_dim, G.mapping.num_layers) == (size, 8, 8, 3)
    assert G.num_ws == int(math.log2(size)) * 2 - 2
    assert torch.equal(G.mapping.w_avg, latent_avg)
    z = _z()
    for psi in (1.0, 0.6):
        with torch.no_grad():
            ours = G(z, None, truncation_psi=psi, noise_mode='const')
            ref = rosinality_forward(s, z, 3, int(math.log2(size)), psi=psi, latent_avg=latent_avg)
        assert ours.shape == ref.shape == (2, 3, size, size)
        assert ref.abs().mean() > 0.05
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    # Deterministic, and through the public loader too.
    G2 = load_generator(path)
    with torch.no_grad():
        assert torch.equal(G2(z, None, noise_mode='const'), G2(z, None, noise_mode='const'))


def test_rosinality_without_latent_avg_estimates_it(tmp_path):
    s = rosinality_state(size=8, channels={4: 12, 8: 12})
    path = tmp_path / 'noavg.pt'
    torch.save({'g_ema': s}, path)
    data = read_checkpoint(path)
    G = data['G_ema']
    assert data['w_avg_estimated']
    with torch.no_grad():
        w = G.mapping(torch.randn(20000, 8, generator=torch.Generator().manual_seed(9)), None)[:, 0].mean(0)
    torch.testing.assert_close(G.mapping.w_avg, w, atol=0.1 * float(w.abs().max()) + 1e-3, rtol=0)


def test_rosinality_errors(tmp_path):
    s = rosinality_state(size=16, channels={4: 16, 8: 16, 16: 8})
    bad = dict(s)
    bad['convs.0.conv.weight'] = bad['convs.0.conv.weight'][:, :, :5]
    p = tmp_path / 'shape.pt'
    torch.save({'g_ema': bad}, p)
    with pytest.raises(CheckpointError, match='shape.pt'):
        read_checkpoint(p)
    bad = dict(s)
    del bad['noises.noise_3']
    p = tmp_path / 'missing.pt'
    torch.save({'g_ema': bad}, p)
    with pytest.raises(CheckpointError, match='noises.noise_3'):
        read_checkpoint(p)
    bad = dict(s, **{'extra.thing': torch.zeros(2)})
    p = tmp_path / 'extra.pt'
    torch.save({'g_ema': bad}, p)
    with pytest.raises(CheckpointError, match='extra.thing'):
        read_checkpoint(p)
    bad = dict(s, **{'convs.0.conv.blur.kernel': torch.ones(4, 4)})
    p = tmp_path / 'blur.pt'
    torch.save({'g_ema': bad}, p)
    with pytest.raises(CheckpointError, match='blur kernel'):
        read_checkpoint(p)
    # A channel table our channel_base/channel_max scheme cannot express.
    odd = rosinality_state(size=16, channels={4: 8, 8: 16, 16: 8})
    p = tmp_path / 'odd.pt'
    torch.save({'g_ema': odd}, p)
    with pytest.raises(CheckpointError, match='cannot be represented'):
        read_checkpoint(p)
    # Truncated file.
    good = tmp_path / 'good.pt'
    torch.save({'g_ema': s}, good)
    cut = tmp_path / 'cut.pt'
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match='cut.pt'):
        read_checkpoint(cut)


def test_info_on_rosinality(tmp_path, capsys):
    from explorer.cli import main
    p = tmp_path / 'ros.pt'
    torch.save({'g_ema': rosinality_state(size=16, channels={4: 16, 8: 16, 16: 8})}, p)
    assert main(['info', str(p)]) == 0
    out = capsys.readouterr().out
    assert 'rosinality' in out and 'stylegan2' in out


def test_rosinality_training_checkpoint_with_args(tmp_path):
    """train.py checkpoints also hold 'g', 'd', optimiser states and an argparse Namespace."""
    import argparse
    s = rosinality_state(size=8, channels={4: 12, 8: 12})
    p = tmp_path / 'train.pt'
    torch.save({'g': s, 'd': {'convs.0.0.weight': torch.zeros(2)}, 'g_ema': s, 'g_optim': {'state': {}},
                'args': argparse.Namespace(size=8, n_mlp=3, latent=8)}, p)
    data = read_checkpoint(p)
    assert data['format'] == 'rosinality' and data['G_ema'].img_resolution == 8
