"""Copying tensors into a module by name, all-or-nothing (every checkpoint reader uses it)."""

from __future__ import annotations

import torch

from explorer.errors import CheckpointError


def load_state_strict(module, state: dict, path='<memory>', context='', own=None) -> None:
    """Copy tensors by name into ``module``; refuse missing, unexpected or mis-shaped tensors.

    own: the name -> tensor map to fill (default ``module.state_dict()``); context: what the
    tensors are, put before every message (e.g. ``'G_ema: '``)."""
    own = module.state_dict() if own is None else own
    check_state(own, state, path, context)
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value)      # (casts to the model's dtype)


def check_state(own: dict, state: dict, path='<memory>', context='') -> None:
    """Refuse (CheckpointError) unless ``state`` has exactly the names of ``own``, each a tensor
    of the same shape. ``own`` may hold meta tensors: nothing is read or allocated."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f'missing tensors (not in the file): {_short(missing)}')
        if unexpected:
            parts.append(f'unexpected tensors (no place in the model): {_short(unexpected)}')
        raise CheckpointError(path, context + '; '.join(parts))
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(path, f'{context}{name} is not a tensor')
        if tuple(value.shape) != tuple(own[name].shape):
            raise CheckpointError(path, f'{context}shape mismatch for {name}: file {tuple(value.shape)}, '
                                        f'model {tuple(own[name].shape)}')


def _short(names, n=5):
    s = ', '.join(names[:n])
    return s + (f' and {len(names) - n} more' if len(names) > n else '')
