"""Golden images: a tiny generator of each family, its weights set deterministically from
their names (independent of init order and of torch's init functions), rendered on the CPU
for fixed seeds and compared with PNGs stored in tests/golden within a small tolerance.

A change that alters what any family draws (a kernel, the mapping, noise, truncation, the
seed -> z rule) shows up here. Regenerate deliberately with ``GOLDEN_REGENERATE=1`` and look
at the new PNGs before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.engine.export import to_uint8
from explorer.engine.png import load_png, save_png
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import render

GOLDEN = Path(__file__).resolve().parent / 'golden'
SEEDS = (0, 1, 4000000000)
MAX_LEVEL_DIFF = 2          # 8-bit levels: float rounding across CPUs/BLAS builds, never a different picture
MAX_MEAN_DIFF = 0.05


def _family(name):
    from explorer.engine import networks_stylegan1 as sg1
    from explorer.engine import networks_stylegan2 as sg2
    from explorer.engine import networks_stylegan3 as sg3
    if name == 'stylegan1':
        return sg1.Generator(z_dim=16, w_dim=16, img_resolution=16, channels=[16, 16, 8], mapping_layers=2,
                             mapping_fmaps=16)
    if name == 'stylegan2':
        return sg2.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                             mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=128, channel_max=16))
    return sg3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
                         channel_max=16, num_layers=4, mapping_kwargs=dict(num_layers=2))


def _fill(G):
    """Every float tensor from a numpy RandomState keyed by its sorted name (filters, which
    are designed from the config, and integer buffers stay as built)."""
    sd = G.state_dict()
    out = {}
    for i, name in enumerate(sorted(sd)):
        v = sd[name]
        if not v.is_floating_point() or name.endswith(('_filter', '.filter', 'transform')):
            out[name] = v
            continue
        rng = np.random.RandomState(1000 + i)
        a = rng.standard_normal(tuple(v.shape)).astype(np.float32)
        if name.endswith('freqs'):              # StyleGAN3 Fourier features: within the input band
            a = (a / np.linalg.norm(a, axis=-1, keepdims=True) * rng.uniform(0, 1, a.shape[:-1] + (1,)) * 2)
            a = a.astype(np.float32)
        elif name.endswith('phases'):
            a = (rng.uniform(size=tuple(v.shape)) - 0.5).astype(np.float32)
        elif name.endswith('noise_strength'):
            a = np.full(tuple(v.shape), 0.3, np.float32)
        elif name.endswith('magnitude_ema'):
            a = np.full(tuple(v.shape), 1.0, np.float32)
        elif name.startswith('mapping.') and name.endswith('weight'):
            a *= 100                            # stored / lr_multiplier (0.01): a real spread of w
        elif name.endswith('w_avg'):
            a *= 0.5
        elif 'bias' in name:
            a *= 0.1
        out[name] = torch.from_numpy(a)
    G.load_state_dict(out)
    return G.eval()


def _render(family, synthesis='ref'):
    G = _fill(_family(family))
    tiles = [to_uint8(render(G, Recipe(seeds=(s,), psi=0.7, synthesis=synthesis))) for s in SEEDS]
    return np.concatenate(tiles, axis=1)          # [16, 48, 3]


@pytest.mark.parametrize('synthesis', ['ref', 'auto'])      # the reference made the PNGs; the default too
@pytest.mark.parametrize('family', ['stylegan1', 'stylegan2', 'stylegan3'])
def test_golden_image(family, synthesis):
    img = _render(family, synthesis)
    path = GOLDEN / f'{family}.png'
    if os.environ.get('GOLDEN_REGENERATE') and synthesis == 'ref':
        save_png(path, img, {'family': family, 'seeds': list(SEEDS), 'psi': 0.7})
    expected = load_png(path)
    assert expected.shape == img.shape
    diff = np.abs(expected.astype(np.int16) - img.astype(np.int16))
    assert diff.max() <= MAX_LEVEL_DIFF and diff.mean() <= MAX_MEAN_DIFF, (diff.max(), diff.mean())
    assert img.std() > 4, 'the golden picture should not be flat'
