"""Triton fast path for ``kernels.filtered_lrelu`` (StyleGAN3's alias-free nonlinearity).

Two launches instead of the reference's four passes over the (up-sampled, so
largest) intermediate image:

1. bias + zero-insertion upsampling + ``fu`` FIR + gain + leaky ReLU + clamp, fused
   in the gather kernel of ``kernels/triton_upfirdn2d.py`` (the bias is added only
   to real samples, before upsampling, exactly as in the reference);
2. ``fd`` FIR + decimation, the same kernel.

Gradients: backward runs the plain-torch reference (handed over by the dispatcher in
``kernels/filtered_lrelu.py``, so this file does not import its twin) under autograd. That is exact
for first and second order: the op is piecewise linear in ``x`` and ``b``, so the
gradient's own derivative with respect to them is zero almost everywhere, and the
dependence on the incoming gradient is kept in the graph.
"""

from __future__ import annotations

import torch

from kernels import triton_upfirdn2d as _up
from kernels._params import parse_padding
from kernels._triton_common import FLOAT_DTYPES, device_ok


def supports(x, fu, fd, b, up=1, down=1, padding=0, clamp=None, flip_filter=False, **_):
    if x.ndim != 4 or x.dtype not in FLOAT_DTYPES or x.numel() == 0:
        return False
    for f in (fu, fd):
        if f is not None and (f.dtype != torch.float32 or f.ndim not in (1, 2)):
            return False
    return device_ok(x, fu, fd, b)


def _forward(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    tmp = _up.launch(x, fu, up=up, padding=padding, flip_filter=flip_filter, gain=up ** 2, bias=b,
                     act='lrelu', alpha=slope, act_gain=gain, clamp=clamp)
    return _up.launch(tmp, fd, down=down, flip_filter=flip_filter)


class _FilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, fu, fd, up, down, padding, gain, slope, clamp, flip_filter, reference):
        ctx.save_for_backward(x, b)
        ctx.args = (fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
        ctx.reference = reference
        return _forward(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        fu, fd, up, down, padding, gain, slope, clamp, flip_filter = ctx.args
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            bd = b.detach().requires_grad_(True) if b is not None else None
            y = ctx.reference(xd, fu=fu, fd=fd, b=bd, up=up, down=down, padding=padding, gain=gain,
                                   slope=slope, clamp=clamp, flip_filter=flip_filter)
            inputs = [xd] + ([bd] if bd is not None else [])
            grads = torch.autograd.grad(y, inputs, dy, create_graph=torch.is_grad_enabled())
        dx = grads[0]
        db = grads[1] if bd is not None else None
        return dx, db, None, None, None, None, None, None, None, None, None, None


def filtered_lrelu_triton(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=2 ** 0.5, slope=0.2,
                          clamp=None, flip_filter=False, *, reference):
    """Same contract as ``kernels.filtered_lrelu.filtered_lrelu_ref``; ``reference`` is that
    function (the backward pass differentiates it)."""
    padding = list(parse_padding(padding))
    return _FilteredLReLU.apply(x, b, fu, fd, int(up), int(down), padding, float(gain), float(slope),
                                None if clamp is None else float(clamp), bool(flip_filter), reference)
