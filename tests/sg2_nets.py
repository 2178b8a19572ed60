"""Test helper: small StyleGAN2 generators with non-trivial noise strengths and biases (the
fast-path tests compare them against the reference, so zero biases or noise would hide bugs)."""

from __future__ import annotations

import torch

from explorer.engine.bench import nontrivial
from explorer.engine.networks_stylegan2 import Generator


def make_sg2(res=32, base_per_px=16, cmax=32, clamp=None, arch='skip', seed=0):
    """``channel_base = res * base_per_px``; noise strengths 0.3, conv biases ~N(0, 0.3); eval, no grad."""
    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=res * base_per_px, channel_max=cmax, conv_clamp=clamp,
                                        architecture=arch))
    return nontrivial(G, noise_strength=0.3, bias_std=0.3)
