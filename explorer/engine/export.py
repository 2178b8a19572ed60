"""Rendered tensors to uint8 images: the one float -> uint8 rule (about [-1, 1] -> 0..255), and
the one way to tile a batch of them into a grid (``tile_grid``).

PNG writing and reading with the embedded recipe is ``explorer.engine.png`` (no torch).
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.engine.fast_plan import few_samples_on_cpu


def float_to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Float pixels in ~[-1, 1] -> uint8 levels, same shape and device (the one conversion rule)."""
    return (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] or [1, C, H, W] float in ~[-1, 1] -> [H, W, C] uint8 (C = 1 or 3). On the CPU at one
    intra-op thread: an OpenMP region here left libgomp's workers spinning on the cores the next
    frame's CPU lanes need (paper256 at 2 threads, frame after frame: the next synthesis 124.6 ms
    after a 2-thread conversion, 119.1 ms after a 1-thread one; the conversion 0.34 / 0.36 ms)."""
    if img.ndim == 4:
        assert img.shape[0] == 1, 'to_uint8 takes one image'
        img = img[0]
    with few_samples_on_cpu(img[None]):
        return float_to_uint8(img).permute(1, 2, 0).cpu().numpy()


def to_uint16(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] or [1, C, H, W] float in ~[-1, 1] -> [H, W, C] uint16 (16-bit PNG/TIFF export):
    the same mapping as ``float_to_uint8`` at 257 times the resolution (level v*257 is 8-bit v)."""
    if img.ndim == 4:
        assert img.shape[0] == 1, 'to_uint16 takes one image'
        img = img[0]
    x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255) * 257.0
    return x.round().to(torch.int32).permute(1, 2, 0).cpu().numpy().astype(np.uint16)


def batch_to_uint8(imgs: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] uint8."""
    return float_to_uint8(imgs).permute(0, 2, 3, 1).cpu().numpy()


def tile_grid(frames: np.ndarray, columns: int) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*H, cols*W, C] image, row by row (empty cells black).

    ``columns`` is capped at N, so a few frames make one row no wider than they are."""
    frames = np.asarray(frames)
    n, h, w, c = frames.shape
    cols = max(1, min(int(columns), n))
    rows = -(-n // cols)
    out = np.zeros([rows * h, cols * w, c], np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        out[r * h:(r + 1) * h, k * w:(k + 1) * w] = frames[i]
    return out
