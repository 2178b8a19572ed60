"""Upsample, FIR-filter and downsample 2-D images (upfirdn2d).

The op pads/upsamples by zero insertion, convolves every channel with the same
2-D (or separable 1-D) FIR filter, then keeps every ``down``-th pixel. Conventions
(padding order ``[x0, x1, y0, y1]``, filter flipping, ``gain`` applied as
``gain ** (f.ndim / 2)``) follow the published StyleGAN2 description so that
filters prepared by ``setup_filter`` behave identically across the project.
"""

from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F

from kernels import selfcheck
from kernels._dispatch import fast_module, triton_unavailable
from kernels._params import get_filter_size, parse_padding, parse_scaling


def setup_filter(f, device=torch.device('cpu'), normalize=True, flip_filter=False, gain=1, separable=None):
    """Turn a list/array into a float32 FIR filter tensor.

    1-D filters with fewer than 8 taps become the 2-D outer product (non-separable)
    unless ``separable`` says otherwise. ``normalize`` divides by the sum.
    """
    if f is None:
        f = 1
    # Designed on the CPU, then moved: a network built under ``with torch.device('meta')`` (to check
    # an untrusted checkpoint's config without allocating) gets a real filter, not a data-less one.
    f = torch.as_tensor(f, dtype=torch.float32, device='cpu')
    assert f.ndim in (0, 1, 2)
    assert f.numel() > 0
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = (f.ndim == 1 and f.numel() >= 8)
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    assert f.ndim == (1 if separable else 2)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d_ref(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Reference twin: zero-insertion upsampling, pad/crop, depthwise conv, decimation (as
    the conv's stride)."""
    assert isinstance(x, torch.Tensor) and x.ndim == 4
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    assert isinstance(f, torch.Tensor) and f.ndim in (1, 2)
    assert f.dtype == torch.float32 and not f.requires_grad
    batch_size, num_channels, in_height, in_width = x.shape
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    padx0, padx1, pady0, pady1 = parse_padding(padding)

    # Upsample by inserting zeros.
    x = x.reshape([batch_size, num_channels, in_height, 1, in_width, 1])
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape([batch_size, num_channels, in_height * upy, in_width * upx])

    # Pad, or crop where the padding is negative.
    x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
    x = x[:, :, max(-pady0, 0): x.shape[2] - max(-pady1, 0), max(-padx0, 0): x.shape[3] - max(-padx1, 0)]

    # conv2d is correlation: flip the filter unless told the filter is already flipped.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))

    # Decimation is the convolution's stride: the same outputs as filtering everything and
    # keeping every down-th pixel, without computing the (down^2 - 1) discarded ones.
    f = f[None, None].repeat([num_channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        return F.conv2d(x, f, groups=num_channels, stride=(downy, downx))
    x = F.conv2d(x, f.unsqueeze(2), groups=num_channels, stride=(1, downx))
    return F.conv2d(x, f.unsqueeze(3), groups=num_channels, stride=(downy, 1))


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl='auto'):
    """Public op. ``x``: [N, C, H, W]; ``f``: prepared filter (see ``setup_filter``)."""
    fast = fast_module(impl, 'triton_upfirdn2d', x)
    if fast is not None and fast.supports(x, f, up=up, down=down):
        return fast.upfirdn2d_triton(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl='auto'):
    """Filter with ``f`` keeping the size (padding adds to the centring pad)."""
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [padx0 + fw // 2, padx1 + (fw - 1) // 2, pady0 + fh // 2, pady1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl='auto'):
    """Upsample by ``up`` with filter ``f``; output is ``up`` times larger."""
    upx, upy = parse_scaling(up)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [
        padx0 + (fw + upx - 1) // 2,
        padx1 + (fw - upx) // 2,
        pady0 + (fh + upy - 1) // 2,
        pady1 + (fh - upy) // 2,
    ]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl='auto'):
    """Downsample by ``down`` with filter ``f``; output is ``down`` times smaller."""
    downx, downy = parse_scaling(down)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [
        padx0 + (fw - downx + 1) // 2,
        padx1 + (fw - downx) // 2,
        pady0 + (fh - downy + 1) // 2,
        pady1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def _selfcheck_small(device):
    """The first-use self-check (kernels.selfcheck): the Triton kernel beside the reference."""
    fast = importlib.import_module('kernels.triton_upfirdn2d')
    x, f = selfcheck.randn(device, 1, 3, 8, 8), setup_filter([1, 3, 3, 1], device=device)
    kw = dict(up=2, down=1, padding=[2, 1, 2, 1], flip_filter=False, gain=4)
    return fast.upfirdn2d_triton(x, f, **kw), upfirdn2d_ref(x, f, **kw)


selfcheck.register(selfcheck.FastPath('triton.upfirdn2d', 'Triton upsample / FIR filter / downsample',
                                      _selfcheck_small, tolerance=1e-4, unavailable=triton_unavailable))
