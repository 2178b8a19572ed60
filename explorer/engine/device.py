"""Device choice, one rule for the CLI and the GUI."""

from __future__ import annotations

import torch

from explorer.errors import UserError


def mps_available() -> bool:
    """Apple Metal (MPS) usable by this torch build on this machine?"""
    mps = getattr(torch.backends, 'mps', None)
    try:
        return bool(mps is not None and mps.is_available())
    except Exception:  # noqa: BLE001 - odd builds: treat as absent
        return False


def pick_device(name=None) -> torch.device:
    """None or 'auto': CUDA when available, else Apple MPS when available, else the CPU.
    Asking for CUDA or MPS on a machine without it is a UserError (one clear line), not a
    failure later in ``.to(device)``. MPS runs the reference path in fp32 (faster paths only
    after their first-use self-check, ``explorer.engine.selfcheck``)."""
    if name in (None, 'auto'):
        name = 'cuda' if torch.cuda.is_available() else 'mps' if mps_available() else 'cpu'
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserError('--device cuda given but no CUDA device is available')
    if device.type == 'mps' and not mps_available():
        raise UserError('--device mps given but Apple MPS is not available (macOS on Apple silicon, '
                        'with a torch build that has MPS)')
    return device


def device_name(device: torch.device) -> str:
    """What the status line shows: 'GPU: <name>', 'GPU: Apple MPS' or 'CPU (<n> threads)'."""
    if device.type == 'cuda':
        return f'GPU: {torch.cuda.get_device_name(device)}'
    if device.type == 'mps':
        return 'GPU: Apple MPS'
    n = torch.get_num_threads()
    return f'CPU ({n} thread{"s" if n != 1 else ""})'
