"""Modulated (and optionally demodulated) convolution, StyleGAN2's core layer.

style -> per-sample weight scale -> demodulation coefficients -> conv (+ resampling)
-> optional noise add. The reference below follows the published StyleGAN2 math:

    w'_{n,o,i,k}  = w_{o,i,k} * s_{n,i}
    d_{n,o}       = rsqrt(sum_{i,k} w'^2 + 1e-8)
    y_n           = conv(x_n, w' * d)            (fused: one grouped conv)
                  = conv(x_n * s_n, w) * d       (non-fused: plain conv, scaled)

The fp16 path pre-normalizes weight and styles by their max so nothing overflows.
"""

from __future__ import annotations

import importlib
import math

import torch

from kernels import selfcheck
from kernels._dispatch import fast_module, triton_unavailable
from kernels.conv2d_resample import conv2d_resample


def modulated_conv2d_ref(
    x,                      # [N, I, H, W] input activations.
    weight,                 # [O, I, kh, kw] convolution weight.
    styles,                 # [N, I] modulation coefficients.
    noise=None,             # Optional tensor broadcastable to the output, added after demodulation.
    up=1,                   # Integer upsampling factor.
    down=1,                 # Integer downsampling factor.
    padding=0,              # Padding with respect to the upsampled image.
    resample_filter=None,   # Prepared FIR filter (kernels.setup_filter).
    demodulate=True,        # Apply weight demodulation?
    flip_weight=True,       # True = correlation (torch conv2d), False = convolution.
    fused_modconv=True,     # One grouped conv over the whole batch?
):
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert x.ndim == 4 and x.shape[1] == in_channels, (tuple(x.shape), tuple(weight.shape))
    assert styles.shape == (batch_size, in_channels), (tuple(styles.shape), batch_size, in_channels)

    # Pre-normalize inputs to avoid fp16 overflow.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float('inf'), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float('inf'), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down,
                            padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            x = torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1))
        elif demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        elif noise is not None:
            x = x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                        groups=batch_size, flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                     demodulate=True, flip_weight=True, fused_modconv=True, impl='auto'):
    """Public op; ``impl='triton'`` fuses modulation/demodulation into one kernel."""
    fast = fast_module(impl, 'triton_modconv', x)
    if fast is not None and fast.supports(x, weight, up=up, down=down):
        return fast.modulated_conv2d_triton(
            x, weight, styles, noise=noise, up=up, down=down, padding=padding,
            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
            fused_modconv=fused_modconv)
    return modulated_conv2d_ref(x, weight, styles, noise=noise, up=up, down=down, padding=padding,
                                resample_filter=resample_filter, demodulate=demodulate,
                                flip_weight=flip_weight, fused_modconv=fused_modconv)


def _selfcheck_small(device):
    """The first-use self-check (kernels.selfcheck): the Triton kernel beside the reference."""
    from kernels.upfirdn2d import setup_filter
    fast = importlib.import_module('kernels.triton_modconv')
    x, w = selfcheck.randn(device, 2, 4, 6, 6), selfcheck.randn(device, 5, 4, 3, 3, seed=1)
    s = selfcheck.randn(device, 2, 4, seed=2)
    kw = dict(up=2, padding=1, resample_filter=setup_filter([1, 3, 3, 1], device=device), demodulate=True)
    return fast.modulated_conv2d_triton(x, w, s, **kw), modulated_conv2d_ref(x, w, s, **kw)


def _selfcheck_epilogue(device):
    """The fast renderer's fused noise + bias + lrelu + gain + clamp against bias_act_ref."""
    from kernels.bias_act import bias_act_ref
    fast = importlib.import_module('kernels.triton_modconv')
    x, noise = selfcheck.randn(device, 2, 4, 6, 6), selfcheck.randn(device, 1, 1, 6, 6, seed=1)
    b = selfcheck.randn(device, 4, seed=2)
    ref = bias_act_ref(x + noise, b, act='lrelu', alpha=0.2, gain=1.4, clamp=0.9)
    return fast.epilogue(x.clone(), noise=noise, bias=b, act='lrelu', alpha=0.2, gain=1.4, clamp=0.9), ref


# The convolutions may run in TF32 on CUDA (~1e-3 from fp32), hence the looser bound.
selfcheck.register(selfcheck.FastPath('triton.modconv', 'Triton modulated convolution (fused modulation)',
                                      _selfcheck_small, tolerance=1e-2, unavailable=triton_unavailable))
selfcheck.register(selfcheck.FastPath('triton.epilogue', 'Triton noise + bias + activation epilogue (fast renderer)',
                                      _selfcheck_epilogue, tolerance=1e-4, unavailable=triton_unavailable))
