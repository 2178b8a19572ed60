"""Fused bias + activation + gain + clamp.

``bias_act(x, b, dim=1, act='lrelu', alpha=None, gain=None, clamp=None)`` computes
``clamp(act(x + b) * gain, -clamp, clamp)`` with the bias broadcast along ``dim``.
The reference twin below is plain torch; the fast path lives in
``kernels/triton_bias_act.py`` and is only imported when asked for.
"""

from __future__ import annotations

import importlib

from kernels import selfcheck
from kernels._dispatch import fast_module, triton_unavailable
from kernels._params import resolve_act_params


def bias_act_ref(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None):
    """Reference: plain torch ops, differentiable to any order."""
    spec, alpha, gain, clamp = resolve_act_params(act, alpha, gain, clamp)
    if b is not None:
        assert b.ndim == 1 and b.shape[0] == x.shape[dim], (tuple(b.shape), tuple(x.shape), dim)
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha=alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None, impl='auto'):
    """Public op: bias, activation, gain and clamp in one call."""
    fast = fast_module(impl, 'triton_bias_act', x)
    if fast is not None and fast.supports(x, b, dim=dim, act=act):
        return fast.bias_act_triton(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def _selfcheck_small(device):
    """The first-use self-check (kernels.selfcheck): the Triton kernel beside the reference."""
    fast = importlib.import_module('kernels.triton_bias_act')
    x, b = selfcheck.randn(device, 2, 8, 5, 5), selfcheck.randn(device, 8, seed=1)
    kw = dict(dim=1, act='lrelu', alpha=0.2, gain=1.4, clamp=0.8)
    return fast.bias_act_triton(x, b, **kw), bias_act_ref(x, b, **kw)


selfcheck.register(selfcheck.FastPath('triton.bias_act', 'Triton bias + activation + gain + clamp',
                                      _selfcheck_small, tolerance=1e-4, unavailable=triton_unavailable))
