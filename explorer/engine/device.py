"""Device choice, one rule for the CLI and the GUI."""

from __future__ import annotations

import torch

from explorer.errors import UserError


def pick_device(name=None) -> torch.device:
    """None or 'auto': CUDA when available, else the CPU. Asking for CUDA on a machine
    without it is a UserError (one clear line), not a failure later in ``.to(device)``."""
    if name in (None, 'auto'):
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserError('--device cuda given but no CUDA device is available')
    return device


def device_name(device: torch.device) -> str:
    """What the status line shows: 'GPU: <name>' or 'CPU (<n> threads)'."""
    if device.type == 'cuda':
        return f'GPU: {torch.cuda.get_device_name(device)}'
    n = torch.get_num_threads()
    return f'CPU ({n} thread{"s" if n != 1 else ""})'
