"""Shared helpers to decide between a reference op and a fast kernel."""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from kernels import selfcheck

VALID_IMPLS = ('auto', 'ref', 'triton')


def forced_ref() -> bool:
    """True when ``EXPLORER_KERNELS=ref`` asks for the reference path everywhere."""
    return os.environ.get('EXPLORER_KERNELS', '').strip().lower() == 'ref'


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    """Triton importable? (Checked lazily; nothing is imported or compiled at import.)"""
    return importlib.util.find_spec('triton') is not None


def triton_interpret() -> bool:
    return os.environ.get('TRITON_INTERPRET', '') == '1'


def triton_unavailable(device) -> str | None:
    """Why the Triton kernels cannot run on ``device`` (None: they can); for the self-check."""
    if not triton_available():
        return 'Triton is not installed'
    if device.type == 'cuda' or (device.type == 'cpu' and triton_interpret()):
        return None
    return f'Triton kernels run on CUDA only, not on {device.type}'


def resolve_impl(impl: str, *tensors: torch.Tensor) -> str:
    """Map ``impl`` to 'ref' or 'triton' for the given inputs.

    'auto' -> 'triton' only when Triton is importable and every tensor is on CUDA
    (or the Triton interpreter is on), else 'ref'. An explicit 'triton' on a machine
    without Triton raises a clear error.
    """
    if impl not in VALID_IMPLS:
        raise ValueError(f'impl must be one of {VALID_IMPLS}, got {impl!r}')
    if forced_ref():
        return 'ref'
    if impl == 'ref':
        return 'ref'
    if impl == 'triton':
        if not triton_available():
            raise RuntimeError("impl='triton' requested but Triton is not installed")
        return 'triton'
    # auto
    if not triton_available():
        return 'ref'
    if all(t is None or t.is_cuda for t in tensors) and any(t is not None and t.is_cuda for t in tensors):
        return 'triton'
    return 'ref'


def fast_module(impl: str, name: str, *tensors: torch.Tensor):
    """The fast-path module ``kernels.<name>`` when ``impl`` and the inputs pick it (see
    ``resolve_impl``) and it imports; None means: use the reference. Imported on first use,
    so importing ``kernels`` never imports (or compiles) Triton. With ``impl='auto'`` on a
    CUDA or MPS device the kernel must first pass its self-check (``kernels.selfcheck``,
    once per process; ``triton_bias_act`` is the path 'triton.bias_act'); an explicit
    ``impl='triton'`` is taken as asked."""
    if resolve_impl(impl, *tensors) != 'triton':
        return None
    if impl == 'auto':
        device = next(t.device for t in tensors if t is not None)
        if not selfcheck.allowed(name.replace('triton_', 'triton.', 1), device):
            return None
    try:
        return importlib.import_module(f'kernels.{name}')
    except ImportError:
        return None
