"""Filtered leaky ReLU: StyleGAN3's alias-suppressing nonlinearity.

For every channel of a batch of 2-D images, in this order:

1. add the per-channel bias ``b``;
2. upsample by ``up`` (zero insertion), pad by ``padding`` (negative crops) and
   convolve with the upsampling FIR filter ``fu`` (scaled so the signal keeps its
   magnitude: gain ``up**2`` over the two axes);
3. multiply by ``gain``, apply leaky ReLU with negative ``slope``, clamp to
   ``[-clamp, +clamp]`` when ``clamp`` is given;
4. convolve with the downsampling FIR filter ``fd`` and keep every ``down``-th sample.

Filters are float32, 1-D (separable, ``[taps]``) or 2-D (``[fh, fw]``), or ``None``
for the identity. Padding is ``int``, ``[px, py]`` or ``[x0, x1, y0, y1]`` and is
measured on the upsampled image. The output has
``(in * up + pad0 + pad1 - (fu_taps - 1) - (fd_taps - 1) + down - 1) // down``
samples along each axis.

``filtered_lrelu_ref`` is the plain-torch reference twin, composed of the
``upfirdn2d`` and ``bias_act`` references. ``filtered_lrelu`` dispatches to a fused
kernel in ``kernels/triton_filtered_lrelu.py`` when that module exists and says it
supports the inputs, and otherwise composes the public ``upfirdn2d``/``bias_act``
ops (which have fast paths of their own).
"""

from __future__ import annotations

import importlib
import math

import torch

from kernels import selfcheck
from kernels._dispatch import fast_module, forced_ref, triton_unavailable
from kernels._params import get_filter_size, parse_padding
from kernels.bias_act import bias_act, bias_act_ref
from kernels.upfirdn2d import upfirdn2d, upfirdn2d_ref


def _check_args(x, fu, fd, b, up, down, gain, slope, clamp):
    assert isinstance(x, torch.Tensor) and x.ndim == 4, 'x must be [N, C, H, W]'
    for f in (fu, fd):
        assert f is None or (isinstance(f, torch.Tensor) and f.ndim in (1, 2)), 'filters must be 1-D, 2-D or None'
    if b is not None:
        assert isinstance(b, torch.Tensor) and b.ndim == 1 and b.shape[0] == x.shape[1], 'b must be [C]'
        assert b.dtype == x.dtype, 'b must have the dtype of x'
    assert isinstance(up, int) and up >= 1, 'up must be a positive int'
    assert isinstance(down, int) and down >= 1, 'down must be a positive int'
    assert gain == float(gain) and gain > 0, 'gain must be a positive number'
    assert slope == float(slope) and slope >= 0, 'slope must be >= 0'
    assert clamp is None or (clamp == float(clamp) and clamp >= 0), 'clamp must be None or >= 0'


def output_size(in_h, in_w, fu=None, fd=None, up=1, down=1, padding=0):
    """(out_h, out_w) of ``filtered_lrelu`` for the given input size and settings."""
    px0, px1, py0, py1 = parse_padding(padding)
    fu_w, fu_h = get_filter_size(fu)
    fd_w, fd_h = get_filter_size(fd)
    out_w = (in_w * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (in_h * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down
    return out_h, out_w


def _composed(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, upfirdn, bias_activate):
    _check_args(x, fu, fd, b, up, down, gain, slope, clamp)
    pad = list(parse_padding(padding))
    n, c, in_h, in_w = x.shape
    out_h, out_w = output_size(in_h, in_w, fu, fd, up, down, pad)
    in_dtype = x.dtype

    y = bias_activate(x, b)                                                     # + bias
    y = upfirdn(y, fu, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter)  # upsample + fu
    y = bias_activate(y, None, act='lrelu', alpha=slope, gain=gain, clamp=clamp)   # lrelu, gain, clamp
    y = upfirdn(y, fd, down=down, flip_filter=flip_filter)                      # fd + downsample

    assert y.shape == (n, c, out_h, out_w), (tuple(y.shape), (n, c, out_h, out_w))
    assert y.dtype == in_dtype
    return y


def filtered_lrelu_ref(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2,
                       clamp=None, flip_filter=False):
    """Reference twin: bias -> upfirdn2d(fu) -> lrelu/gain/clamp -> upfirdn2d(fd), plain torch."""
    return _composed(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter,
                     upfirdn=lambda t, f, **kw: upfirdn2d_ref(t, f, **kw),
                     bias_activate=lambda t, bb, **kw: bias_act_ref(t, bb, **kw))


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2,
                   clamp=None, flip_filter=False, impl='auto'):
    """Public op. ``x``: [N, C, H, W] -> [N, C, out_h, out_w] (see ``output_size``).

    ``impl='cpu'``: the polyphase CPU twin (``kernels.cpu_filtered_lrelu``, inference only,
    asked for explicitly: StyleGAN3's CPU inference plan uses it without going through here)."""
    if impl == 'cpu' and not forced_ref():
        from kernels.cpu_filtered_lrelu import filtered_lrelu_cpu
        return filtered_lrelu_cpu(x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain,
                                  slope=slope, clamp=clamp, flip_filter=flip_filter)
    if impl == 'cpu':
        impl = 'ref'
    fast = fast_module(impl, 'triton_filtered_lrelu', x)
    if fast is None:
        return filtered_lrelu_ref(x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain,
                                  slope=slope, clamp=clamp, flip_filter=flip_filter)
    if fast.supports(x, fu, fd, b, up=up, down=down, padding=padding, clamp=clamp, flip_filter=flip_filter):
        return fast.filtered_lrelu_triton(
            x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain, slope=slope, clamp=clamp,
            flip_filter=flip_filter, reference=filtered_lrelu_ref)
    # No fused kernel for these inputs: compose the public ops, each with its own fast path.
    return _composed(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter,
                     upfirdn=lambda t, f, **kw: upfirdn2d(t, f, impl=impl, **kw),
                     bias_activate=lambda t, bb, **kw: bias_act(t, bb, impl=impl, **kw))


def _selfcheck_small(device):
    """The first-use self-check (kernels.selfcheck): the Triton kernel beside the reference."""
    from kernels.upfirdn2d import setup_filter
    fast = importlib.import_module('kernels.triton_filtered_lrelu')
    x, b = selfcheck.randn(device, 1, 3, 8, 8), selfcheck.randn(device, 3, seed=1)
    f = setup_filter([1, 3, 3, 1], device=device)
    kw = dict(fu=f, fd=f, b=b, up=2, down=2, padding=[2, 1, 2, 1], clamp=1.0)
    return fast.filtered_lrelu_triton(x, reference=filtered_lrelu_ref, **kw), filtered_lrelu_ref(x, **kw)


selfcheck.register(selfcheck.FastPath('triton.filtered_lrelu', 'Triton filtered leaky ReLU (StyleGAN3)',
                                      _selfcheck_small, tolerance=1e-4, unavailable=triton_unavailable))
