"""The activation epilogue every Triton kernel here ends with: activation, gain, clamp.

``ACT`` codes are ``kernels._triton_common.ACT_CODES`` (0 linear, 1 relu, 2 leaky ReLU with
slope ``alpha``); ``HAS_CLAMP`` clamps to ``[-clamp, clamp]`` after the gain. Values are fp32.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def act_gain_clamp(v, alpha, gain, clamp, ACT: tl.constexpr, HAS_CLAMP: tl.constexpr):
    if ACT == 1:
        v = tl.where(v > 0, v, 0.0)
    if ACT == 2:
        v = tl.where(v > 0, v, v * alpha)
    v = v * gain
    if HAS_CLAMP:
        v = tl.minimum(tl.maximum(v, -clamp), clamp)
    return v
