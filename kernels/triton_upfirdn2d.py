"""Triton fast path for ``kernels.upfirdn2d``: zero-insertion upsampling, padding,
FIR filtering and decimation in one gather kernel (no upsampled temporary).

Each output pixel ``(oy, ox)`` reads the taps of the upsampled-and-padded image it
covers directly from the input: upsampled position ``u = o * down + k - pad0`` holds
an input sample only when ``u`` is a multiple of ``up`` inside ``[0, in * up)``.
The filter is handed to the kernel already in correlation order (flipped unless
``flip_filter``); 1-D filters are applied separably as ``f[ky] * f[kx]``.

The same kernel optionally adds a per-channel bias before upsampling and applies
leaky ReLU, gain and clamp after filtering: ``kernels/triton_filtered_lrelu.py``
uses that to fuse its first three steps.

The gradient of upfirdn2d is upfirdn2d with ``up`` and ``down`` swapped, the
filter flipped and the padding mirrored, so backward (and backward of backward,
for R1) reuses the same kernel through a self-referencing autograd function.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._params import parse_padding, parse_scaling
from kernels._triton_common import ACT_CODES, FLOAT_DTYPES, device_ok, grid_1d
from kernels.triton_epilogue import act_gain_clamp

BLOCK = 256


@triton.jit
def _upfirdn2d_kernel(x_ptr, f_ptr, b_ptr, y_ptr, total, C, H, W, OH, OW, KH, KW,
                      UPX, UPY, DOWNX, DOWNY, PADX0, PADY0, fgain, alpha, act_gain, clamp,
                      SEPARABLE: tl.constexpr, HAS_BIAS: tl.constexpr, ACT: tl.constexpr,
                      HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # int64: large batches pass 2^31
    mask = offs < total
    ox = offs % OW
    t = offs // OW
    oy = t % OH
    nc = t // OH
    base = nc.to(tl.int64) * H * W
    if HAS_BIAS:
        bias = tl.load(b_ptr + nc % C, mask=mask, other=0.0).to(tl.float32)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for ky in range(0, KH):
        uy = oy * DOWNY + ky - PADY0
        uyc = tl.where(uy >= 0, uy, 0)
        iy = uyc // UPY
        vy = (uy >= 0) & (uyc - iy * UPY == 0) & (iy < H)
        for kx in range(0, KW):
            ux = ox * DOWNX + kx - PADX0
            uxc = tl.where(ux >= 0, ux, 0)
            ix = uxc // UPX
            valid = mask & vy & (ux >= 0) & (uxc - ix * UPX == 0) & (ix < W)
            if SEPARABLE:
                fv = tl.load(f_ptr + ky) * tl.load(f_ptr + kx)
            else:
                fv = tl.load(f_ptr + ky * KW + kx)
            v = tl.load(x_ptr + base + iy * W + ix, mask=valid, other=0.0).to(tl.float32)
            if HAS_BIAS:
                v = tl.where(valid, v + bias, 0.0)
            acc += v * fv
    acc = act_gain_clamp(acc * fgain, alpha, act_gain, clamp, ACT, HAS_CLAMP)
    tl.store(y_ptr + offs, acc.to(y_ptr.dtype.element_ty), mask=mask)


def supports(x, f, up=1, down=1, **_):
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.dtype not in FLOAT_DTYPES or x.numel() == 0:
        return False
    if f is not None and (f.ndim not in (1, 2) or f.dtype != torch.float32):
        return False
    parse_scaling(up), parse_scaling(down)  # validates
    return device_ok(x, f)


def _corr_filter(f, flip_filter, device):
    """Filter in correlation order, float32, contiguous, with the tap count per axis."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=device)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f.to(device=device, dtype=torch.float32).contiguous()
    kw = f.shape[-1]
    kh = f.shape[0]
    return f, int(kh), int(kw)


def output_shape(x, f, up, down, padding):
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    fw = 1 if f is None else f.shape[-1]
    fh = 1 if f is None else f.shape[0]
    n, c, h, w = x.shape
    oh = (h * upy + py0 + py1 - fh) // downy + 1
    ow = (w * upx + px0 + px1 - fw) // downx + 1
    return n, c, oh, ow


def launch(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, bias=None, act=None, alpha=0.2,
           act_gain=1.0, clamp=None, out_dtype=None):
    """Run the kernel (no autograd). ``act``: None | 'lrelu'. ``bias``: [C] added before upsampling."""
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    x = x.contiguous()
    fc, kh, kw = _corr_filter(f, flip_filter, x.device)
    separable = fc.ndim == 1
    n, c, oh, ow = output_shape(x, fc, up, down, padding)
    assert oh >= 1 and ow >= 1, 'upfirdn2d: output would be empty'
    y = torch.empty([n, c, oh, ow], dtype=out_dtype or x.dtype, device=x.device)
    total = y.numel()
    fgain = float(gain)  # 2-D: f * gain; 1-D: gain**0.5 on each axis, gain overall
    _upfirdn2d_kernel[grid_1d(total, BLOCK)](
        x, fc, bias.contiguous() if bias is not None else x, y, total, c, x.shape[2], x.shape[3], oh, ow, kh, kw,
        upx, upy, downx, downy, px0, py0, fgain, float(alpha), float(act_gain) if act else 1.0,
        float(clamp) if clamp is not None else -1.0,
        SEPARABLE=separable, HAS_BIAS=bias is not None, ACT=ACT_CODES['lrelu' if act == 'lrelu' else 'linear'],
        HAS_CLAMP=clamp is not None and clamp >= 0, BLOCK=BLOCK)
    return y


def _grad_params(in_hw, out_hw, f, up, down, padding, flip_filter):
    """Arguments of the upfirdn2d that computes dL/dx from dL/dy (the adjoint)."""
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    fw = 1 if f is None else f.shape[-1]
    fh = 1 if f is None else f.shape[0]
    ih, iw = in_hw
    oh, ow = out_hw
    p = [
        fw - px0 - 1,
        iw * upx - ow * downx + px0 - upx + 1,
        fh - py0 - 1,
        ih * upy - oh * downy + py0 - upy + 1,
    ]
    return dict(up=[downx, downy], down=[upx, upy], padding=p, flip_filter=not flip_filter)


class _UpFirDn2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, f, up, down, padding, flip_filter, gain):
        y = launch(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
        ctx.f = f
        ctx.args = (tuple(x.shape[2:]), tuple(y.shape[2:]), up, down, padding, flip_filter, gain)
        return y

    @staticmethod
    def backward(ctx, dy):
        in_hw, out_hw, up, down, padding, flip_filter, gain = ctx.args
        g = _grad_params(in_hw, out_hw, ctx.f, up, down, padding, flip_filter)
        dx = _UpFirDn2d.apply(dy, ctx.f, g['up'], g['down'], g['padding'], g['flip_filter'], gain)
        assert tuple(dx.shape[2:]) == in_hw, (tuple(dx.shape), in_hw)
        return dx, None, None, None, None, None, None


def upfirdn2d_triton(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Same contract as ``kernels.upfirdn2d.upfirdn2d_ref``."""
    assert f is None or (f.dtype == torch.float32 and not f.requires_grad)
    up = list(parse_scaling(up))
    down = list(parse_scaling(down))
    padding = list(parse_padding(padding))
    return _UpFirDn2d.apply(x, f, up, down, padding, flip_filter, gain)
