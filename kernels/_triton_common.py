"""Helpers shared by the Triton kernels. Imported only by ``kernels/triton_*.py``,
which the public ops import lazily, so importing ``kernels`` never imports Triton.

Triton runs on CUDA tensors, or on CPU tensors under the interpreter
(``TRITON_INTERPRET=1``, set before Triton is first imported), which is how the
parity tests run on machines without a GPU.
"""

from __future__ import annotations

import torch

from kernels._dispatch import triton_interpret

# dtypes every kernel handles (accumulation is always fp32).
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

ACT_CODES = {'linear': 0, 'relu': 1, 'lrelu': 2}


def device_ok(*tensors) -> bool:
    """All tensors on CUDA, or all on CPU with the interpreter on."""
    ts = [t for t in tensors if t is not None]
    if not ts:
        return False
    if all(t.is_cuda for t in ts):
        return len({t.device for t in ts}) == 1
    if triton_interpret():
        return all(t.device.type == 'cpu' for t in ts)
    return False


def grid_1d(total: int, block: int):
    return (max(1, (total + block - 1) // block),)
