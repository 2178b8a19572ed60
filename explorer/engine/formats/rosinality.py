"""rosinality/stylegan2-pytorch checkpoints (``{'g_ema': state_dict, 'latent_avg'?: ...}``).

The file is read with ``torch.load(weights_only=True)`` by ``checkpoint.py``; here its
``g_ema`` state dict is mapped onto this project's StyleGAN2 generator. The config
(size, style_dim, n_mlp, channels) is inferred from tensor shapes.

Why a plain copy gives the same function (rosinality's published design):

- ``EqualLinear`` stores ``randn / lr_mul`` and multiplies by ``lr_mul / sqrt(in)`` at
  run time, bias by ``lr_mul``; its fused leaky ReLU is ``lrelu(x + b, 0.2) * sqrt(2)``:
  exactly our ``FullyConnectedLayer`` with ``lr_multiplier`` (0.01 for the mapping).
- ``ModulatedConv2d`` keeps weights as ``[1, out, in, k, k]``, scales by
  ``1/sqrt(in k^2)``, modulates and demodulates (ToRGB: no demodulation); its 2x
  up-conv is a stride-2 transposed conv followed by a [1,3,3,1] blur, which is what
  our up-sampling modulated conv computes with the same (unflipped) kernel.
- ``NoiseInjection.weight`` [1] is ``noise_strength``; ``noises.noise_<i>`` are the
  constant noise maps (i = 0 for 4x4, then up-conv / conv per resolution);
  ``FusedLeakyReLU.bias`` is the conv bias; ``ToRGB.bias`` is [1, C, 1, 1].
- Latent index order (conv, conv, torgb sharing the next conv's w) is the official one.

Not inferable from shapes: ``lr_mlp`` (rosinality's default 0.01 is assumed).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from explorer.errors import CheckpointError

FORMAT = 'rosinality'
MAPPING_LR = 0.01   # rosinality's default lr_mlp
BLUR_1D = (1, 3, 3, 1)


def _t(state, name, path):
    v = state.get(name)
    if not isinstance(v, torch.Tensor):
        raise CheckpointError(path, f'rosinality g_ema lacks tensor {name!r}')
    return v


def infer_config(state: dict, path) -> dict:
    """{'size', 'style_dim', 'n_mlp', 'channels': {res: C}, 'img_channels'} from shapes."""
    mlp = sorted(int(m[1]) for k in state if (m := re.fullmatch(r'style\.(\d+)\.weight', k)))
    if not mlp or mlp != list(range(1, len(mlp) + 1)):
        raise CheckpointError(path, 'rosinality g_ema: mapping layers style.<N>.weight missing or not numbered 1..n')
    style_dim = _t(state, 'style.1.weight', path).shape[1]
    n_rgbs = len({int(m[1]) for k in state if (m := re.fullmatch(r'to_rgbs\.(\d+)\.conv\.weight', k))})
    log_size = n_rgbs + 2
    size = 2 ** log_size
    channels = {4: _t(state, 'conv1.conv.weight', path).shape[1]}
    for i in range(n_rgbs):
        res = 2 ** (i + 3)
        channels[res] = _t(state, f'convs.{2 * i}.conv.weight', path).shape[1]
    img_channels = _t(state, 'to_rgb1.conv.weight', path).shape[1]
    return dict(size=size, style_dim=int(style_dim), n_mlp=len(mlp), channels=channels,
                img_channels=int(img_channels))


def _channel_params(channels: dict, path) -> tuple[int, int]:
    """(channel_base, channel_max) reproducing rosinality's channel table exactly."""
    cmax = max(channels.values())
    # rosinality: 512 up to 32x32, then 256*cm at 64, halving per resolution (16384*cm / res).
    for base in sorted({c * r for r, c in channels.items()}):
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return int(base), int(cmax)
    raise CheckpointError(path, f'rosinality channel layout {channels} cannot be represented '
                                f'(channel_base / resolution capped at channel_max)')


def _check_blur(state, path):
    k = torch.tensor(BLUR_1D, dtype=torch.float32)
    k2 = torch.outer(k, k)
    k2 = k2 / k2.sum()
    for name, v in state.items():
        if name.endswith('.kernel'):
            if v.shape != (4, 4):
                raise CheckpointError(path, f'{name}: unsupported blur kernel shape {tuple(v.shape)}')
            scale = float(v.sum())
            if scale <= 0 or not torch.allclose(v / scale, k2, atol=1e-6):
                raise CheckpointError(path, f'{name}: only the [1,3,3,1] blur kernel is supported')


def convert_state(state: dict, our_names: set, path) -> dict:
    """rosinality g_ema tensors -> our tensor names; every rosinality tensor must be used."""
    out, used = {}, set()

    def take(src, dst, fn=None):
        v = _t(state, src, path)
        out[dst] = fn(v) if fn is not None else v
        used.add(src)

    n_mlp = sum(1 for k in state if re.fullmatch(r'style\.\d+\.weight', k))
    for i in range(n_mlp):
        take(f'style.{i + 1}.weight', f'mapping.fc{i}.weight')
        take(f'style.{i + 1}.bias', f'mapping.fc{i}.bias')
    take('input.input', 'synthesis.b4.const', lambda v: v[0])

    def styled(src, dst, noise_idx):
        take(f'{src}.conv.weight', f'{dst}.weight', lambda v: v[0])
        take(f'{src}.conv.modulation.weight', f'{dst}.affine.weight')
        take(f'{src}.conv.modulation.bias', f'{dst}.affine.bias')
        take(f'{src}.noise.weight', f'{dst}.noise_strength', lambda v: v.reshape([]))
        take(f'{src}.activate.bias', f'{dst}.bias')
        take(f'noises.noise_{noise_idx}', f'{dst}.noise_const', lambda v: v[0, 0])

    def torgb(src, dst):
        take(f'{src}.conv.weight', f'{dst}.weight', lambda v: v[0])
        take(f'{src}.conv.modulation.weight', f'{dst}.affine.weight')
        take(f'{src}.conv.modulation.bias', f'{dst}.affine.bias')
        take(f'{src}.bias', f'{dst}.bias', lambda v: v.reshape(-1))

    styled('conv1', 'synthesis.b4.conv1', 0)
    torgb('to_rgb1', 'synthesis.b4.torgb')
    n_rgbs = sum(1 for k in state if re.fullmatch(r'to_rgbs\.\d+\.conv\.weight', k))
    for i in range(n_rgbs):
        res = 2 ** (i + 3)
        styled(f'convs.{2 * i}', f'synthesis.b{res}.conv0', 2 * i + 1)
        styled(f'convs.{2 * i + 1}', f'synthesis.b{res}.conv1', 2 * i + 2)
        torgb(f'to_rgbs.{i}', f'synthesis.b{res}.torgb')
    used.update(k for k in state if k.endswith('.kernel'))  # blur kernels: checked, fixed in our modules
    leftover = sorted(set(state) - used)
    if leftover:
        raise CheckpointError(path, f'rosinality g_ema has tensors with no place in the model: '
                                    f'{", ".join(leftover[:5])}')
    return out


def estimate_w_avg(G, n=4096, seed=0):
    """Mean of w over seeded random z (what rosinality's mean_latent does), when not stored."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn([n, G.z_dim], generator=g)
    with torch.no_grad():
        return G.mapping(z, None)[:, 0].mean(dim=0)


def read(data: dict, path) -> dict:
    from explorer.engine.net_check import build_checked
    from explorer.engine.state import check_state, load_state_strict
    path = Path(path)
    state = data.get('g_ema')
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "rosinality checkpoint: 'g_ema' is not a state dict of tensors")
    state = {str(k): v for k, v in state.items()}
    cfg = infer_config(state, path)
    _check_blur(state, path)
    base, cmax = _channel_params(cfg['channels'], path)
    kwargs = dict(z_dim=cfg['style_dim'], c_dim=0, w_dim=cfg['style_dim'], img_resolution=cfg['size'],
                  img_channels=cfg['img_channels'],
                  mapping_kwargs=dict(num_layers=cfg['n_mlp'], lr_multiplier=MAPPING_LR),
                  synthesis_kwargs=dict(channel_base=base, channel_max=cmax, architecture='skip'))
    converted = {}

    def verify(meta):  # on the meta device: names and shapes only, before any allocation
        own = meta.state_dict()
        ours = convert_state(state, set(own), path)
        ours.update((name, own[name]) for name in own if name.endswith('resample_filter'))
        ours['mapping.w_avg'] = own['mapping.w_avg']
        check_state(own, ours, path)
        converted.update(ours)

    G = build_checked('stylegan2', kwargs, verify=verify, path=path, context='rosinality g_ema: ')
    own = G.state_dict()
    ours = {name: (own[name] if name.endswith('resample_filter') else value) for name, value in converted.items()}
    w_avg_estimated = False
    latent_avg = data.get('latent_avg')
    if isinstance(latent_avg, torch.Tensor) and latent_avg.numel() == cfg['style_dim']:
        ours['mapping.w_avg'] = latent_avg.reshape(-1).to(torch.float32)
    else:
        ours['mapping.w_avg'] = torch.zeros(cfg['style_dim'])
        w_avg_estimated = True
    load_state_strict(G, ours, path)
    if w_avg_estimated:
        with torch.no_grad():
            G.mapping.w_avg.copy_(estimate_w_avg(G))
    return {'format': FORMAT, 'path': path, 'G_ema': G.eval(), 'G': None, 'D': None, 'family': 'stylegan2',
            'config': cfg, 'w_avg_estimated': w_avg_estimated}
