"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, ProGAN).

A metric that needs no download and no pretrained network. Following the
paper's description (section 5 and appendix D):

1. Build a Laplacian pyramid of every image, from the full resolution down to
   16x16 (the last level is the 16x16 Gaussian level itself).
2. From every level of every image take ``patches_per_image`` random 7x7 patches
   ("descriptors", 7*7*3 = 147 numbers each).
3. Normalise each level's descriptor set per colour channel to zero mean and
   unit standard deviation (each set separately, as in the paper; ``joint=True``
   normalises both sets with the real set's statistics instead, which also sees
   global colour/brightness shifts).
4. Per level, estimate the sliced Wasserstein distance between the real and the
   fake descriptor sets with random unit projections (``repeats`` x
   ``dirs_per_repeat``), comparing sorted projections.

Values are reported multiplied by 1e3, per level (keyed by resolution) plus
their average ``'avg'``. Lower is better; two independent samples of the same
distribution give the floor, which falls as the number of images grows.
Everything is seeded, so the same inputs give the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _to_float(images):
    """uint8 [N, C, H, W] (0..255) or float ([-1, 1] or [0, 1] or 0..255) -> float32, kept as is."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(images)
    if images.ndim != 4:
        raise ValueError(f'expected images [N, C, H, W], got shape {tuple(images.shape)}')
    return images.to(torch.float32)


def _blur(x):
    """5x5 binomial blur (separable [1, 4, 6, 4, 1] / 16), reflected borders. x: [N, C, H, W]."""
    x = F.pad(x, (2, 2, 0, 0), mode='reflect')
    x = (x[..., :-4] + x[..., 4:]) * (1 / 16) + (x[..., 1:-3] + x[..., 3:-1]) * (4 / 16) + x[..., 2:-2] * (6 / 16)
    x = F.pad(x, (0, 0, 2, 2), mode='reflect')
    return ((x[..., :-4, :] + x[..., 4:, :]) * (1 / 16) + (x[..., 1:-3, :] + x[..., 3:-1, :]) * (4 / 16)
            + x[..., 2:-2, :] * (6 / 16))


def _down(x):
    return _blur(x)[:, :, ::2, ::2]


def _up(x):
    n, c, h, w = x.shape
    y = x.new_zeros(n, c, h * 2, w * 2)
    y[:, :, ::2, ::2] = x
    return _blur(y) * 4.0


def laplacian_pyramid(images, min_res=16):
    """List of levels, finest first: band-pass levels down to ``min_res``, then the Gaussian residual.

    images: [N, C, H, W] with H == W a power of two >= min_res. Level k has
    resolution H / 2**k; the last level (``min_res``) is the low-pass image.
    """
    x = _to_float(images)
    res = x.shape[-1]
    if x.shape[-2] != res or res < min_res or res & (res - 1):
        raise ValueError(f'images must be square with a power-of-two size >= {min_res}, got {tuple(x.shape)}')
    levels = []
    while x.shape[-1] > min_res:
        low = _down(x)
        levels.append(x - _up(low))
        x = low
    levels.append(x)
    return levels


def collapse_laplacian_pyramid(levels):
    """Inverse of :func:`laplacian_pyramid`: the original images (up to float rounding)."""
    x = levels[-1]
    for band in reversed(levels[:-1]):
        x = band + _up(x)
    return x


def _patches(level, count, generator):
    """Random 7x7 patches: [N * count, C, 7, 7] from level [N, C, H, W]."""
    n, c, h, w = level.shape
    size = 7
    ys = torch.randint(0, h - size + 1, (n, count), generator=generator)
    xs = torch.randint(0, w - size + 1, (n, count), generator=generator)
    off = torch.arange(size)
    rows = (ys[..., None] + off).view(n, count, size, 1)              # [N, K, 7, 1]
    cols = (xs[..., None] + off).view(n, count, 1, size)              # [N, K, 1, 7]
    idx_n = torch.arange(n).view(n, 1, 1, 1)
    p = level.permute(0, 2, 3, 1)[idx_n, rows, cols]                  # [N, K, 7, 7, C]
    return p.permute(0, 1, 4, 2, 3).reshape(n * count, c, size, size)


def _descriptors(images, patches_per_image, seed, min_res, batch=256):
    """Per pyramid level, descriptors [M, C, 7, 7] (not yet normalised)."""
    g = torch.Generator().manual_seed(seed)
    out = None
    for i in range(0, images.shape[0], batch):
        levels = laplacian_pyramid(images[i:i + batch], min_res=min_res)
        d = [_patches(lv, patches_per_image, g) for lv in levels]
        if out is None:
            out = [[x] for x in d]
        else:
            for lst, x in zip(out, d):
                lst.append(x)
    return [torch.cat(x) for x in out]


def _normalise(desc, stats=None):
    """Per-channel zero mean / unit std over all descriptors; returns flattened [M, C*49] and stats."""
    if stats is None:
        mean = desc.mean(dim=(0, 2, 3), keepdim=True)
        std = desc.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        stats = (mean, std)
    mean, std = stats
    return ((desc - mean) / std).reshape(desc.shape[0], -1), stats


def _quantiles(sorted_proj, m):
    """Resample sorted columns [M0, D] to m evenly spaced quantiles [m, D] (linear interpolation)."""
    m0 = sorted_proj.shape[0]
    if m0 == m:
        return sorted_proj
    pos = (torch.arange(m, dtype=torch.float64) + 0.5) * (m0 / m) - 0.5
    pos = pos.clamp(0, m0 - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=m0 - 1)
    w = (pos - lo).to(sorted_proj.dtype)[:, None]
    return sorted_proj[lo] * (1 - w) + sorted_proj[hi] * w


def sliced_wasserstein(A, B, repeats=4, dirs_per_repeat=128, seed=123):
    """Sliced Wasserstein-1 distance between point sets A [M, D] and B [M', D].

    Averages, over ``repeats * dirs_per_repeat`` random unit directions (seeded),
    the mean absolute difference of the sorted projections (quantile functions,
    resampled when the set sizes differ).
    """
    A = torch.as_tensor(A, dtype=torch.float32)
    B = torch.as_tensor(B, dtype=torch.float32)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f'expected [M, D] and [M\', D], got {tuple(A.shape)} and {tuple(B.shape)}')
    g = torch.Generator().manual_seed(seed)
    m = max(A.shape[0], B.shape[0])
    results = []
    for _ in range(repeats):
        dirs = torch.randn(A.shape[1], dirs_per_repeat, generator=g)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        # numpy's sort is several times faster than torch's on the CPU here.
        pa = torch.from_numpy(np.sort((A @ dirs).T.numpy(), axis=1)).T   # [M, dirs]
        pb = torch.from_numpy(np.sort((B @ dirs).T.numpy(), axis=1)).T
        pa, pb = _quantiles(pa, m), _quantiles(pb, m)
        results.append((pa - pb).abs().mean())
    return float(torch.stack(results).mean())


def swd(real_images, fake_images, patches_per_image=128, repeats=4, dirs_per_repeat=128,
        min_res=16, seed=0, joint=False) -> dict:
    """SWD x 1e3 per Laplacian level between two image sets, plus their average.

    real_images, fake_images: [N, 3, H, W] uint8 or float, same H == W (a power
    of two >= 16). The value range does not matter (descriptors are normalised)
    as long as both sets use the same one. Returns ``{res: value, ..., 'avg': value}``
    with ``res`` the level resolution (e.g. 128, 64, 32, 16).
    """
    real = _to_float(real_images)
    fake = _to_float(fake_images)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f'image shapes differ: real {tuple(real.shape[1:])} vs fake {tuple(fake.shape[1:])}')
    if real.shape[0] == 0 or fake.shape[0] == 0:
        raise ValueError('need at least one image in each set')
    desc_r = _descriptors(real, patches_per_image, seed, min_res)
    desc_f = _descriptors(fake, patches_per_image, seed, min_res)  # same positions: identical sets give 0
    res = real.shape[-1]
    out = {}
    for k, (dr, df) in enumerate(zip(desc_r, desc_f)):
        dr, stats = _normalise(dr)
        df, _ = _normalise(df, stats if joint else None)
        out[res >> k] = sliced_wasserstein(dr, df, repeats, dirs_per_repeat, seed=seed + 1000 + k) * 1e3
    out['avg'] = sum(out.values()) / len(out)
    return out
