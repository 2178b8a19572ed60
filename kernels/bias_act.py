"""Fused bias + activation + gain + clamp.

``bias_act(x, b, dim=1, act='lrelu', alpha=None, gain=None, clamp=None)`` computes
``clamp(act(x + b) * gain, -clamp, clamp)`` with the bias broadcast along ``dim``.
The reference twin below is plain torch; the fast path lives in
``kernels/triton_bias_act.py`` and is only imported when asked for.
"""

from __future__ import annotations

from kernels._dispatch import fast_module
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
