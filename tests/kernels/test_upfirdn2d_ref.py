"""The reference upfirdn2d against its definition, written out with numpy loops.

The Triton parity tests compare kernels with this reference; this file pins the reference
itself (zero insertion, padding/cropping, correlation with the flipped filter, gain,
decimation) without Triton, on odd sizes and several up/down factors.
"""

import numpy as np
import pytest
import torch

from kernels.upfirdn2d import setup_filter, upfirdn2d_ref


def naive_upfirdn2d(x, f, up, down, pad, flip_filter, gain):
    """x [N, C, H, W] (numpy), f 1-D (separable) or 2-D; pad [x0, x1, y0, y1]."""
    upx = upy = up
    downx = downy = down
    x0, x1, y0, y1 = pad
    f2 = (np.outer(f, f) if f.ndim == 1 else f) * gain       # the whole 2-D response gets ``gain``
    if not flip_filter:
        f2 = f2[::-1, ::-1]
    N, C, H, W = x.shape
    z = np.zeros([N, C, H * upy, W * upx])
    z[:, :, ::upy, ::upx] = x
    Hp, Wp = H * upy + y0 + y1, W * upx + x0 + x1
    zp = np.zeros([N, C, Hp, Wp])
    for i in range(Hp):
        for j in range(Wp):
            si, sj = i - y0, j - x0
            if 0 <= si < H * upy and 0 <= sj < W * upx:
                zp[:, :, i, j] = z[:, :, si, sj]
    kh, kw = f2.shape
    oh, ow = Hp - kh + 1, Wp - kw + 1
    out = np.zeros([N, C, oh, ow])
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = (zp[:, :, i:i + kh, j:j + kw] * f2).sum(axis=(2, 3))
    return out[:, :, ::downy, ::downx]


@pytest.mark.parametrize('taps,up,down,pad,flip,gain', [
    ([1, 3, 3, 1], 1, 2, [1, 1, 1, 1], False, 1),              # StyleGAN2 downsample2d
    ([1, 3, 3, 1], 2, 1, [2, 1, 2, 1], False, 4),              # StyleGAN2 upsample2d
    ([1, 2, 3, 4, 5, 6, 7, 8], 2, 2, [3, -1, 2, 4], True, 2),  # separable (>= 8 taps), crop
    ([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 2, [4, 4, 4, 4], False, 1),   # separable down, odd length
    ([1, 3, 2], 3, 1, [1, 2, 3, 0], False, 1),                 # odd taps, up 3
    ([2, 1, 1], 1, 3, [0, 2, 1, 1], True, 1),                  # down 3, rows/cols not divisible
])
def test_reference_matches_definition(taps, up, down, pad, flip, gain):
    x = torch.randn(2, 3, 7, 6, generator=torch.Generator().manual_seed(0))
    f = setup_filter(taps)
    out = upfirdn2d_ref(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    want = naive_upfirdn2d(x.double().numpy(), f.double().numpy(), up, down, pad, flip, gain)
    assert out.shape == want.shape
    np.testing.assert_allclose(out.double().numpy(), want, rtol=1e-5, atol=1e-5)
