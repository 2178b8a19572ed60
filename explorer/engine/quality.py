"""Image-quality numbers for comparing a fast render with the reference."""

from __future__ import annotations

import math


def psnr(img, ref) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2) against a reference."""
    mse = (img.float() - ref.float()).square().mean().item()
    return float('inf') if mse == 0 else 10 * math.log10(4.0 / mse)
