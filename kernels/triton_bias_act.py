"""Triton fast path for ``kernels.bias_act``: bias + activation + gain + clamp in one pass.

Supported activations: linear, relu, lrelu (what the generators and discriminators
use); anything else falls back to the reference. Gradients are exact to any order:
the backward pass is again a single elementwise kernel whose mask depends only on
the saved output ``y`` (the activations used here are piecewise linear), so its own
derivative with respect to ``y`` is zero and the double backward the R1 penalty
needs is the same kernel once more.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels._params import resolve_act_params
from kernels._triton_common import ACT_CODES, FLOAT_DTYPES, device_ok, grid_1d
from kernels.triton_epilogue import act_gain_clamp

BLOCK = 1024


@triton.jit
def _bias_act_fwd(x_ptr, b_ptr, y_ptr, total, C, inner, alpha, gain, clamp,
                  HAS_BIAS: tl.constexpr, ACT: tl.constexpr, HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # int64: large batches pass 2^31
    mask = offs < total
    v = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        c = (offs // inner) % C
        v += tl.load(b_ptr + c, mask=mask, other=0.0).to(tl.float32)
    v = act_gain_clamp(v, alpha, gain, clamp, ACT, HAS_CLAMP)
    tl.store(y_ptr + offs, v.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _bias_act_grad(dy_ptr, y_ptr, dx_ptr, total, alpha, gain, clamp,
                   ACT: tl.constexpr, HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # int64: large batches pass 2^31
    mask = offs < total
    g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    d = g * gain
    if ACT == 1:
        d = tl.where(y > 0, d, 0.0)
    if ACT == 2:
        d = tl.where(y > 0, d, d * alpha)
    if HAS_CLAMP:
        d = tl.where(tl.abs(y) < clamp, d, 0.0)
    tl.store(dx_ptr + offs, d.to(dx_ptr.dtype.element_ty), mask=mask)


def supports(x, b=None, dim=1, act='linear', **_):
    """Can the Triton kernel take these inputs?"""
    if act not in ACT_CODES or x.dtype not in FLOAT_DTYPES or x.numel() == 0:
        return False
    if b is not None and (b.ndim != 1 or b.dtype != x.dtype):
        return False
    return device_ok(x, b)


def _launch_fwd(x, b, dim, act_code, alpha, gain, clamp):
    x = x.contiguous()
    y = torch.empty_like(x)
    total = x.numel()
    C = x.shape[dim] if b is not None else 1
    inner = math.prod(x.shape[dim + 1:]) if b is not None else 1
    _bias_act_fwd[grid_1d(total, BLOCK)](
        x, b if b is not None else x, y, total, C, inner, alpha, gain, clamp,
        HAS_BIAS=b is not None, ACT=act_code, HAS_CLAMP=clamp >= 0, BLOCK=BLOCK)
    return y


def _needs_y(act_code, clamp) -> bool:
    """Does the gradient read the saved output? Not for linear without clamp (dx = dy * gain):
    then nothing is saved, so callers may modify that output in place, e.g. the resnet
    blocks' ``y.add_(x)`` on the skip branch (as with the reference, which saves nothing)."""
    return act_code != 0 or clamp >= 0


def _launch_grad(dy, y, act_code, alpha, gain, clamp):
    dy = dy.contiguous()
    dx = torch.empty_like(dy)
    total = dy.numel()
    _bias_act_grad[grid_1d(total, BLOCK)](
        dy, y if y is not None else dy, dx, total, alpha, gain, clamp,
        ACT=act_code, HAS_CLAMP=clamp >= 0, BLOCK=BLOCK)
    return dx


class _BiasActGrad(torch.autograd.Function):
    """dx = dy * act'(y) * gain * [|y| < clamp]; linear in dy, constant in y (``y`` is None
    when the gradient does not depend on it, see ``_needs_y``)."""

    @staticmethod
    def forward(ctx, dy, y, act_code, alpha, gain, clamp):
        ctx.save_for_backward(y)
        ctx.params = (act_code, alpha, gain, clamp)
        return _launch_grad(dy, y, act_code, alpha, gain, clamp)

    @staticmethod
    def backward(ctx, ddx):
        y, = ctx.saved_tensors
        return _BiasActGrad.apply(ddx, y, *ctx.params), None, None, None, None, None


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, dim, act_code, alpha, gain, clamp):
        y = _launch_fwd(x, b, dim, act_code, alpha, gain, clamp)
        ctx.save_for_backward(y if _needs_y(act_code, clamp) else None)
        ctx.params = (dim, act_code, alpha, gain, clamp)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, dy):
        y, = ctx.saved_tensors
        dim, act_code, alpha, gain, clamp = ctx.params
        dx = _BiasActGrad.apply(dy, y, act_code, alpha, gain, clamp)
        db = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            db = dx.sum([i for i in range(dx.ndim) if i != dim])
        return dx, db, None, None, None, None, None


def bias_act_triton(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None):
    """Same contract as ``kernels.bias_act.bias_act_ref``."""
    _, alpha, gain, clamp = resolve_act_params(act, alpha, gain, clamp)
    if b is not None:
        assert b.ndim == 1 and b.shape[0] == x.shape[dim], (tuple(b.shape), tuple(x.shape), dim)
    dim = dim % x.ndim
    return _BiasAct.apply(x, b, dim, ACT_CODES[act], alpha, gain, clamp)
