"""Rendered tensors to uint8 images: the one float -> uint8 rule (about [-1, 1] -> 0..255).

PNG writing and reading with the embedded recipe is ``explorer.engine.png`` (no torch).
"""

from __future__ import annotations

import numpy as np
import torch


def float_to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Float pixels in ~[-1, 1] -> uint8 levels, same shape and device (the one conversion rule)."""
    return (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] or [1, C, H, W] float in ~[-1, 1] -> [H, W, C] uint8 (C = 1 or 3)."""
    if img.ndim == 4:
        assert img.shape[0] == 1, 'to_uint8 takes one image'
        img = img[0]
    return float_to_uint8(img).permute(1, 2, 0).cpu().numpy()


def batch_to_uint8(imgs: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] uint8."""
    return float_to_uint8(imgs).permute(0, 2, 3, 1).cpu().numpy()
