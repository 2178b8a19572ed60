"""Seeds as plain data (no torch): parsing seed lists and the seed -> z rule.

Seeds are unsigned 32-bit and map to z exactly as NVIDIA's scripts do:
``np.random.RandomState(seed).randn(1, z_dim)``. The UI parses seeds with these functions
without importing torch.
"""

from __future__ import annotations

import re

import numpy as np

from explorer.errors import UserError

MAX_SEED = 2 ** 32 - 1


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """[1, z_dim] float64, identical to the official tools."""
    if not 0 <= int(seed) <= MAX_SEED:
        raise UserError(f'seed {seed} out of range 0..{MAX_SEED}')
    return np.random.RandomState(int(seed)).randn(1, z_dim)


_RANGE = re.compile(r'^\s*(\d+)\s*(?:-\s*(\d+))?\s*$')


def parse_int_list(text: str, what: str = 'seeds') -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]; clear UserError otherwise."""
    if text is None or not str(text).strip():
        raise UserError(f'no {what} given')
    out = []
    for part in str(text).split(','):
        m = _RANGE.match(part)
        if not m:
            raise UserError(f'cannot parse {what} {text!r}: use numbers and ranges like 0-7,10')
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        if b < a:
            raise UserError(f'cannot parse {what} {text!r}: range {a}-{b} runs backwards')
        if b - a > 1_000_000:
            raise UserError(f'range {a}-{b} in {what} is too long')
        out.extend(range(a, b + 1))
    return out


def parse_seeds(text: str) -> list[int]:
    seeds = parse_int_list(text, 'seeds')
    for s in seeds:
        if s > MAX_SEED:
            raise UserError(f'seed {s} out of range 0..{MAX_SEED}')
    return seeds
