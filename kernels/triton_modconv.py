"""Triton fast path for ``kernels.modulated_conv2d``.

A modulated conv becomes three launches instead of about a dozen:

1. ``_modulate_kernel``: one program per (sample, output channel) row computes
   ``w * s`` over the row, its sum of squares, the demodulation coefficient
   ``rsqrt(sum + 1e-8)`` and writes the per-sample weight ``w * s * d * out_gain``
   (fp32 accumulation, so the fp16 pre-normalisation of the reference is not needed);
2. one grouped convolution (cuDNN) over the whole batch, with the FIR resampling of
   ``conv2d_resample`` for up/down layers;
3. ``_epilogue_kernel``: noise add (+ bias + leaky ReLU + gain + clamp when the
   caller hands them over, see ``modulated_conv2d_epilogue``) in one pass, in place.

``modulated_conv2d_triton`` keeps the reference contract (conv + noise).
``synthesis_layer_triton`` is the whole StyleGAN2 synthesis layer epilogue
(noise, bias, activation, clamp) fused, used by ``explorer.engine.fast_render``.

Gradients: the weight-modulation kernel has an analytic backward written with
differentiable torch ops, so first and second derivatives match the reference.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._triton_common import ACT_CODES, FLOAT_DTYPES, device_ok, grid_1d
from kernels.conv2d_resample import conv2d_resample
from kernels.triton_epilogue import act_gain_clamp

ROW_BLOCK = 512
EPI_BLOCK = 1024


@triton.jit
def _modulate_kernel(w_ptr, s_ptr, g_ptr, out_ptr, O, ROW, KK,
                     DEMOD: tl.constexpr, HAS_GAIN: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)          # = n * O + o
    n = pid // O
    o = pid % O
    w_row = w_ptr + o.to(tl.int64) * ROW
    s_row = s_ptr + n.to(tl.int64) * (ROW // KK)
    out_row = out_ptr + pid.to(tl.int64) * ROW
    scale = 1.0
    if DEMOD:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, ROW, BLOCK):
            idx = start + tl.arange(0, BLOCK)
            m = idx < ROW
            wv = tl.load(w_row + idx, mask=m, other=0.0).to(tl.float32)
            sv = tl.load(s_row + idx // KK, mask=m, other=0.0).to(tl.float32)
            v = wv * sv
            acc += v * v
        scale = 1.0 / tl.sqrt(tl.sum(acc, axis=0) + 1e-8)
    if HAS_GAIN:
        scale = scale * tl.load(g_ptr + o).to(tl.float32)
    for start in range(0, ROW, BLOCK):
        idx = start + tl.arange(0, BLOCK)
        m = idx < ROW
        wv = tl.load(w_row + idx, mask=m, other=0.0).to(tl.float32)
        sv = tl.load(s_row + idx // KK, mask=m, other=0.0).to(tl.float32)
        tl.store(out_row + idx, (wv * sv * scale).to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _epilogue_kernel(x_ptr, noise_ptr, b_ptr, y_ptr, total, C, HW, noise_sn, alpha, gain, clamp,
                     HAS_NOISE: tl.constexpr, HAS_BIAS: tl.constexpr, ACT: tl.constexpr,
                     HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # int64: large batches pass 2^31
    mask = offs < total
    v = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    pix = offs % HW
    nc = offs // HW
    if HAS_NOISE:
        n = nc // C
        v += tl.load(noise_ptr + n * noise_sn + pix, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        v += tl.load(b_ptr + nc % C, mask=mask, other=0.0).to(tl.float32)
    v = act_gain_clamp(v, alpha, gain, clamp, ACT, HAS_CLAMP)
    tl.store(y_ptr + offs, v.to(y_ptr.dtype.element_ty), mask=mask)


def supports(x, weight, up=1, down=1, **_):
    if x.ndim != 4 or weight.ndim != 4 or x.dtype not in FLOAT_DTYPES or x.numel() == 0:
        return False
    return device_ok(x, weight)


def _modulate_launch(weight, styles, demodulate, out_gain=None, out_dtype=torch.float32):
    O, I, kh, kw = weight.shape
    N = styles.shape[0]
    w = weight.detach().to(torch.float32).contiguous()
    s = styles.detach().to(torch.float32).contiguous()
    out = torch.empty([N, O, I, kh, kw], dtype=out_dtype, device=weight.device)
    g = out_gain.detach().to(torch.float32).contiguous() if out_gain is not None else w
    _modulate_kernel[(N * O,)](w, s, g, out, O, I * kh * kw, kh * kw,
                               DEMOD=bool(demodulate), HAS_GAIN=out_gain is not None, BLOCK=ROW_BLOCK)
    return out


def modulate_weight_ref(weight, styles, demodulate=True):
    """Plain-torch twin of the modulation kernel: [O, I, k, k], [N, I] -> [N, O, I, k, k]."""
    m = weight.unsqueeze(0) * styles.reshape(styles.shape[0], 1, -1, 1, 1)
    if demodulate:
        m = m * (m.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    return m


class _ModulateWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, styles, demodulate):
        ctx.save_for_backward(weight, styles)
        ctx.demodulate = demodulate
        return _modulate_launch(weight, styles, demodulate)

    @staticmethod
    def backward(ctx, g):
        weight, styles = ctx.saved_tensors
        w = weight.to(torch.float32)
        s = styles.to(torch.float32).reshape(styles.shape[0], 1, -1, 1, 1)
        m = w.unsqueeze(0) * s                                              # [N, O, I, k, k]
        if ctx.demodulate:
            d = (m.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()  # [N, O, 1, 1, 1]
            gm = g * d - m * d.pow(3) * (g * m).sum(dim=[2, 3, 4], keepdim=True)
        else:
            gm = g
        gw = (gm * s).sum(0).to(weight.dtype) if ctx.needs_input_grad[0] else None
        gs = (gm * w.unsqueeze(0)).sum(dim=[1, 3, 4]).to(styles.dtype) if ctx.needs_input_grad[1] else None
        return gw, gs, None


def modulate_weight_triton(weight, styles, demodulate=True):
    """[O, I, k, k] x [N, I] -> per-sample (demodulated) weights [N, O, I, k, k], fp32."""
    return _ModulateWeight.apply(weight, styles, bool(demodulate))


def epilogue(x, noise=None, bias=None, act='linear', alpha=0.2, gain=1.0, clamp=None, out=None):
    """One pass: ``clamp(act(x + noise + bias) * gain)``. ``noise``: [H, W], [1|N, 1, H, W] or None.
    No autograd (inference only); ``out=x`` works in place, in any memory format."""
    N, C, H, W = x.shape
    x = x.contiguous()
    # The kernel indexes NCHW-contiguous memory: a channels_last ``out`` (e.g. a cuDNN output
    # for channels_last input) gets the result through a contiguous temporary.
    y = out if out is not None and out.is_contiguous() else torch.empty_like(x)
    noise_sn = 0
    if noise is not None:
        noise = noise.to(x.dtype)
        if noise.ndim == 4 and noise.shape[0] == N and N > 1:
            assert noise.shape[1] == 1
            noise_sn = H * W
        noise = noise.reshape(-1, H, W)[:1 if noise_sn == 0 else N].contiguous()
    total = x.numel()
    _epilogue_kernel[grid_1d(total, EPI_BLOCK)](
        x, noise if noise is not None else x, bias.contiguous() if bias is not None else x, y, total, C, H * W,
        noise_sn, float(alpha), float(gain), float(clamp) if clamp is not None else -1.0,
        HAS_NOISE=noise is not None, HAS_BIAS=bias is not None, ACT=ACT_CODES['lrelu' if act == 'lrelu' else 'linear'],
        HAS_CLAMP=clamp is not None and clamp >= 0, BLOCK=EPI_BLOCK)
    if out is not None and y is not out:
        return out.copy_(y)
    return y


def _grouped_conv(x, w, up, down, padding, resample_filter, flip_weight):
    N = x.shape[0]
    O, I, kh, kw = w.shape[1:]
    y = conv2d_resample(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, I, kh, kw).to(x.dtype),
                        f=resample_filter, up=up, down=down, padding=padding, groups=N, flip_weight=flip_weight)
    return y.reshape(N, -1, *y.shape[2:])


def modulated_conv2d_triton(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                            demodulate=True, flip_weight=True, fused_modconv=True):
    """Same contract as ``kernels.modulated_conv2d.modulated_conv2d_ref`` (fused or not, the
    result is the same math; this path always runs one grouped conv)."""
    assert styles.shape == (x.shape[0], weight.shape[1]), (tuple(styles.shape), tuple(x.shape))
    w = modulate_weight_triton(weight, styles, demodulate)
    y = _grouped_conv(x, w, up, down, padding, resample_filter, flip_weight)
    if noise is None:
        return y
    if torch.is_grad_enabled() and (y.requires_grad or noise.requires_grad):
        return y + noise.to(y.dtype)
    return epilogue(y, noise=noise, out=y)


def synthesis_layer_triton(x, weight, styles, noise=None, bias=None, up=1, padding=1, resample_filter=None,
                           flip_weight=True, act='lrelu', alpha=0.2, gain=1.0, clamp=None, demodulate=True):
    """Inference-only StyleGAN2 synthesis layer: modulate + one conv + fused epilogue."""
    w = _modulate_launch(weight, styles, demodulate)
    y = _grouped_conv(x, w, up, 1, padding, resample_filter, flip_weight)
    return epilogue(y, noise=noise, bias=bias, act=act, alpha=alpha, gain=gain, clamp=clamp, out=y)
