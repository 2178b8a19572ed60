"""Fused bias + activation + gain + clamp.

``bias_act(x, b, dim=1, act='lrelu', alpha=None, gain=None, clamp=None)`` computes
``clamp(act(x + b) * gain, -clamp, clamp)`` with the bias broadcast along ``dim``.
The reference twin below is plain torch; the fast path lives in
``kernels/triton_bias_act.py`` and is only imported when asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from kernels._dispatch import resolve_impl


@dataclass(frozen=True)
class ActivationSpec:
    func: Callable[..., torch.Tensor]
    def_alpha: float
    def_gain: float


activation_funcs = {
    'linear': ActivationSpec(lambda x, alpha: x, 0.0, 1.0),
    'relu': ActivationSpec(lambda x, alpha: torch.relu(x), 0.0, math.sqrt(2)),
    'lrelu': ActivationSpec(lambda x, alpha: torch.nn.functional.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    'tanh': ActivationSpec(lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    'sigmoid': ActivationSpec(lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
    'elu': ActivationSpec(lambda x, alpha: torch.nn.functional.elu(x), 0.0, 1.0),
    'selu': ActivationSpec(lambda x, alpha: torch.nn.functional.selu(x), 0.0, 1.0),
    'softplus': ActivationSpec(lambda x, alpha: torch.nn.functional.softplus(x), 0.0, 1.0),
    'swish': ActivationSpec(lambda x, alpha: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def _resolve_params(act, alpha, gain, clamp):
    if act not in activation_funcs:
        raise ValueError(f'unknown activation {act!r}')
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    return spec, alpha, gain, clamp


def bias_act_ref(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None):
    """Reference: plain torch ops, differentiable to any order."""
    spec, alpha, gain, clamp = _resolve_params(act, alpha, gain, clamp)
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
    which = resolve_impl(impl, x)
    if which == 'triton':
        try:
            from kernels import triton_bias_act  # lazy: nothing compiles at import
        except ImportError:
            triton_bias_act = None
        if triton_bias_act is not None and triton_bias_act.supports(x, b, dim=dim, act=act):
            return triton_bias_act.bias_act_triton(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
