"""Comparing two frames (numpy only, no torch, no Qt; the UI's Compare view uses it).

Frames are uint8 [H, W, C] of the same shape: a pinned frame "A" and the live frame "B"
(before/after an edit, two checkpoints of one resolution, exact vs fast vs bf16).
"""

from __future__ import annotations

import numpy as np


def _pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f'the frames differ in size: {list(a.shape)} vs {list(b.shape)}')
    return a, b


def psnr(a, b, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical frames)."""
    a, b = _pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def split(a, b, frac: float) -> np.ndarray:
    """A left of the column ``round(frac * W)``, B from there on."""
    a, b = _pair(a, b)
    x = int(round(min(max(float(frac), 0.0), 1.0) * a.shape[1]))
    out = b.copy()
    out[:, :x] = a[:, :x]
    return out


def side_by_side(a, b, gap: int = 4, fill: int = 32) -> np.ndarray:
    """A | B with a ``gap`` pixel band of grey ``fill`` between them."""
    a, b = _pair(a, b)
    band = np.full((a.shape[0], int(gap)) + a.shape[2:], fill, a.dtype)
    return np.concatenate([a, band, b], axis=1)


def difference(a, b, gain: float | None = None) -> tuple[np.ndarray, float]:
    """|A - B| x gain as uint8 (None: the largest difference shows white, gain >= 1) -> (map, gain)."""
    a, b = _pair(a, b)
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))
    if gain is None:
        top = float(d.max()) if d.size else 0.0
        gain = max(1.0, 255.0 / top) if top > 0 else 1.0
    return np.clip(np.rint(d * gain), 0, 255).astype(np.uint8), float(gain)
