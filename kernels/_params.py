"""Argument conventions shared by the reference ops and their fast twins: activation specs
and their defaults, scaling factors, padding and filter sizes (plain Python + torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


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


def resolve_act_params(act, alpha, gain, clamp):
    if act not in activation_funcs:
        raise ValueError(f'unknown activation {act!r}')
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    return spec, alpha, gain, clamp


def parse_scaling(scaling):
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    sx, sy = scaling
    assert sx >= 1 and sy >= 1
    return int(sx), int(sy)


def parse_padding(padding):
    if isinstance(padding, int):
        padding = [padding, padding]
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    px0, px1, py0, py1 = padding
    return int(px0), int(px1), int(py0), int(py1)


def get_filter_size(f):
    if f is None:
        return 1, 1
    assert f.ndim in (1, 2)
    fw = f.shape[-1]
    fh = f.shape[0]
    return int(fw), int(fh)
