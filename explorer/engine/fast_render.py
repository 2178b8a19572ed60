"""Opt-in fast inference path for the synthesis network (no Qt, no training).

``FastRenderer(G, device, dtype='fp32'|'bf16'|'fp16', use_graphs=True)`` renders
the same images as ``G.synthesis`` (same parameters, same noise, same ``stop_at``
preview semantics) with fewer and cheaper operations:

- StyleGAN2 layers run from a *plan* precomputed once per checkpoint (rebuilt when a
  parameter or buffer changes, e.g. a training snapshot copied in): equalized-lr
  gains, the activation gain and the learned noise strength are folded into the
  weights, bias and noise constants; demodulation coefficients come from a small
  matrix-vector product with the precomputed per-(out, in) squared weight norms
  (``d = rsqrt(W2 @ s^2 + 1e-8)``, the same sum the reference forms over the
  modulated weight); the bias rides inside the convolution; noise add, leaky ReLU
  and clamp run in place. Where it touches fewer numbers (low resolutions, batches)
  the activations are scaled instead of the weights (non-fused modulation).
- The 3x3 stride-2 transposed conv of the up layers runs as four ordinary convs, one
  per output phase (same MACs; ordinary convs are ~2x faster on CPU); the FIR filter
  after it is a depthwise conv with a filter prepared once.
- CPU fp32: NNPACK's Winograd 3x3 convolutions (~2x oneDNN fp32 here). CPU bf16
  (AVX512-BF16): oneDNN in channels_last end to end. Batches on CPU go sample by
  sample (cache-resident).
- Lower precision (``bf16`` on capable CPUs or CUDA, ``fp16`` on CUDA): convs and
  activations in that dtype, styles, demodulation and the image accumulation in
  fp32, and the lowest-resolution blocks (up to ``fp32_upto``) in fp32, since their
  rounding errors are amplified by every later layer. ``bench`` reports PSNR.
- CUDA (not yet run on a GPU): channels_last for fp16/bf16, fused Triton epilogue
  when Triton is present, CUDA-graph capture per (plan, batch, stop_at, noise_mode);
  a new checkpoint or changed weights, resolution or batch size re-captures; new
  styles or noise only refill the static input buffers; capture failure falls back
  to eager rendering.
- Other families (StyleGAN3, StyleGAN1) run ``G.synthesis`` itself in fp32 (its
  kernels dispatch to Triton on CUDA, StyleGAN3 runs its own fp16 layers there),
  still with graphs on CUDA; ``bf16``/``fp16`` are refused for them.

The preview policy (which ``stop_at`` resolution an interactive request renders at) is
``explorer.engine.session.Session.preview_resolution``.
``render(..., interrupt=f)`` asks ``f()`` before every layer and stops with ``Cancelled``
when it returns True (the GUI worker: a newer request waits); ``interruptible`` does the
same for a plain ``G.synthesis`` call.
``EXPLORER_KERNELS=ref`` turns the plan off (plain ``G.synthesis``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from explorer.engine.layers import per_layer_values
from explorer.engine.progress import Cancelled
from kernels._dispatch import forced_ref, triton_available

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 / AMX present (bf16 convs then beat fp32 through oneDNN)?"""
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        return False
    return ('avx512_bf16' in flags) or ('amx_bf16' in flags)


def nnpack_available() -> bool:
    try:
        return bool(torch.backends.nnpack.is_available())
    except Exception:  # noqa: BLE001 - builds without the backend module
        return False


def dtype_supported(dtype: str, device) -> bool:
    device = torch.device(device)
    if dtype == 'fp32':
        return True
    if device.type == 'cuda':
        return dtype == 'fp16' or torch.cuda.is_bf16_supported()
    return dtype == 'bf16' and cpu_supports_bf16()


def psnr(img, ref) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2) against a reference."""
    mse = (img.float() - ref.float()).square().mean().item()
    return float('inf') if mse == 0 else 10 * math.log10(4.0 / mse)


def weights_token(module: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place."""
    return tuple((t.data_ptr(), t._version) for t in list(module.parameters()) + list(module.buffers()))


def synthesis_macs_upto(G, res) -> int:
    """Multiply-accumulates of ``G.synthesis`` up to and including resolution ``res`` (convs and
    ToRGB layers; used to scale measured frame times to preview resolutions)."""
    total = 0
    for name, m in G.synthesis.named_modules():
        w = getattr(m, 'weight', None)
        r = getattr(m, 'resolution', None)
        if isinstance(w, torch.Tensor) and w.ndim == 4 and r is not None and r <= res:
            total += w.numel() * r * r
    for name, m in G.synthesis.named_modules():
        if name.endswith('torgb') and hasattr(m, 'weight'):
            r = int(name.split('.')[0][1:]) if name.startswith('b') else 0
            if 0 < r <= res:
                total += m.weight.numel() * r * r
    return max(total, 1)


# ---------------------------------------------------------------------------- StyleGAN2 plan

def _fir_up_params(f: torch.Tensor, channels: int, up: int, pad0: int, pad1: int, gain: float, dtype, device):
    """Depthwise transposed-conv form of upfirdn2d(up=up, padding=[pad0, pad1] on both axes).

    Zero insertion followed by correlation with the flipped filter equals a strided
    transposed convolution with the unflipped filter and padding ``K - 1 - pad0``;
    ``output_padding = pad1 - pad0 + up - 1`` makes the lengths agree (negative: crop).
    """
    if f.ndim == 1:
        f = torch.outer(f, f)
    k = f.shape[0]
    pt = k - 1 - pad0
    if pt < 0:
        raise NotImplementedError('FIR padding larger than the filter')
    w = (f * gain).to(device=device, dtype=dtype)[None, None].expand(channels, 1, k, k).contiguous()
    return w, pt, pad1 - pad0 + up - 1


def _upfirdn_up(x, w, up, pt, out_pad):
    """x: [N, C, H, W] -> [N, C, H*up, W*up] (depthwise, groups=C)."""
    C = x.shape[1]
    if out_pad < 0:
        y = F.conv_transpose2d(x, w, stride=up, padding=pt, groups=C)
        return y[:, :, :out_pad, :out_pad]
    return F.conv_transpose2d(x, w, stride=up, padding=pt, output_padding=out_pad, groups=C)


def _fir_pad_params(f: torch.Tensor, channels, gain, dtype, device):
    """Depthwise correlation weights for a same-rate FIR (what upfirdn2d does with up=down=1)."""
    if f.ndim == 1:
        f = torch.outer(f, f)
    w = (f * gain).flip([0, 1]).to(device=device, dtype=dtype)
    return w[None, None].expand(channels, 1, *f.shape).contiguous()


def _reshape(t, shape):
    """``t.reshape(shape)``, but ``t`` itself when the shape is unchanged: reshape re-derives
    the stride of size-1 dims, which makes oneDNN misread a channels_last tensor as NCHW."""
    return t if list(t.shape) == list(shape) else t.reshape(shape)


def _polyphase_3x3(weight):
    """Split a 3x3 stride-2 transposed conv (unflipped weight [O, I, 3, 3]) into the
    ordinary correlations that produce output phase (py, px): phase 0 along an axis
    reads taps (2, 0) from (x[m-1], x[m]) (padding 1), phase 1 reads tap 1 (no padding).
    -> [(py, px, sub-weight [O, I, kh, kw], (pad_y, pad_x))]."""
    taps = {0: [2, 0], 1: [1]}
    out = []
    for py in (0, 1):
        for px in (0, 1):
            sub = weight[:, :, taps[py]][:, :, :, taps[px]].contiguous()
            out.append((py, px, sub, (1 - py, 1 - px)))
    return out


def _fold_up_fir(weight, fir, fir_pad):
    """The whole up layer (3x3 stride-2 transposed conv with unflipped ``weight`` [O, I, 3, 3],
    then the depthwise FIR correlation ``fir`` [O, 1, J, J] with zero padding ``fir_pad``) as
    ONE ordinary 3x3 conv with 4*O output channels followed by ``pixel_shuffle(., 2)``.

    Output pixel (2q+a, 2r+b) = sum over (u, v) of x[q+u, r+v] * G_ab[u, v] with
    G_ab[u, v] = sum_{j1, j2} fir[j1, j2] * weight[a + j1 - p - 2u, b + j2 - p - 2v]
    (p = fir_pad; taps outside the 3x3 weight are zero). Returns the kernel stack
    [4*O, I, 3, 3] in pixel_shuffle's channel order (o, a, b), or None when some phase
    needs taps outside u, v in {-1, 0, 1} (then the layer keeps the polyphase path)."""
    O, I, k, _ = weight.shape
    J = fir.shape[-1]
    p = int(fir_pad)
    if k != 3 or fir.shape[-2] != J:
        return None
    for a in (0, 1):        # the u range that has any non-zero tap must be within [-1, 1]
        lo = -((p + k - 1 - a) // 2)            # ceil((a - p - (k - 1)) / 2)
        hi = (a + J - 1 - p) // 2
        if lo < -1 or hi > 1:
            return None
    f = fir[:, 0].to(torch.float64)                                   # [O, J, J]
    w = weight.to(torch.float64)
    G = torch.zeros(O, 2, 2, I, 3, 3, dtype=torch.float64, device=weight.device)
    for a in (0, 1):
        for b in (0, 1):
            for u in (-1, 0, 1):
                for v in (-1, 0, 1):
                    acc = G[:, a, b, :, u + 1, v + 1]
                    for j1 in range(J):
                        t1 = a + j1 - p - 2 * u
                        if not 0 <= t1 < k:
                            continue
                        for j2 in range(J):
                            t2 = b + j2 - p - 2 * v
                            if 0 <= t2 < k:
                                acc += f[:, j1, j2, None] * w[:, :, t1, t2]
    return G.reshape(4 * O, I, 3, 3).to(weight.dtype).contiguous()


@dataclass
class _LayerPlan:
    kind: str                      # 'conv' | 'up' | 'torgb'
    affine_w: torch.Tensor         # [I, w_dim] (fp32; equalized-lr gain folded)
    affine_b: torch.Tensor         # [I]
    weight: torch.Tensor           # [O, I, k, k] raw weight (fp32)
    w2: torch.Tensor | None        # [O, I] sum_k weight^2, for demodulation
    bias: torch.Tensor             # [O] bias * act_gain (conv) or bias (torgb)
    act_gain: float
    clamp: float | None            # already multiplied by the gain
    padding: int = 0
    noise_const: torch.Tensor | None = None   # [H, W] noise_const * strength * act_gain
    noise_strength: float = 0.0               # strength * act_gain (for random noise)
    resolution: int = 0
    ws_index: int = 0
    fir_w: torch.Tensor | None = None         # up layers: depthwise 4x4 FIR (gain folded)
    fir_pad: int = 0
    extra: dict = field(default_factory=dict)


class _SG2Plan:
    """Precomputed constants of a StyleGAN2 SynthesisNetwork for one device/dtype."""

    def __init__(self, synthesis, device, dtype, channels_last=False):
        self.device = torch.device(device)
        self.dtype = dtype
        self.channels_last = channels_last
        self.use_nnpack = False
        # fp32 NNPACK up layers from this output resolution on run folded (_fold_up_fir):
        # measured on a 2-core EPYC at 1 thread, config-f: 1024 px 742 -> ~360 ms, 512 px
        # 355 -> ~225 ms; at 256 px and below the polyphase path is as fast or faster.
        self.fold_from = 256
        self.synthesis = synthesis
        self.blocks = []
        for res, start, count in synthesis.block_ws_slices():
            block = getattr(synthesis, f'b{res}')
            entry = {'res': res, 'block': block, 'layers': [], 'torgb': None, 'skip': None}
            idx = start
            if block.in_channels == 0:
                entry['const'] = block.const.detach().to(self.device, torch.float32)
            else:
                entry['layers'].append(self._layer(block.conv0, 'up', idx))
                idx += 1
            entry['layers'].append(self._layer(block.conv1, 'conv', idx))
            idx += 1
            if block.is_last or block.architecture == 'skip':
                entry['torgb'] = self._torgb(block.torgb, idx)
            if block.in_channels != 0 and block.architecture == 'resnet':
                entry['skip'] = block.skip
            f = block.resample_filter.detach().to(self.device, torch.float32)
            fw = f.shape[-1]
            # upsample2d(img): padding [(fw+1)//2, (fw-2)//2], gain 4.
            entry['img_up'] = _fir_up_params(f, synthesis.img_channels, 2, (fw + 1) // 2, (fw - 2) // 2, 4.0,
                                             torch.float32, self.device)
            self.blocks.append(entry)

    def _affine(self, layer):
        fc = layer.affine
        w = fc.weight.detach().to(self.device, torch.float32) * fc.weight_gain
        b = fc.bias.detach().to(self.device, torch.float32) * fc.bias_gain
        return w, b

    def _layer(self, layer, kind, ws_index):
        aw, ab = self._affine(layer)
        weight = layer.weight.detach().to(self.device, torch.float32).contiguous()
        g = float(layer.act_gain)
        plan = _LayerPlan(kind=kind, affine_w=aw, affine_b=ab, weight=weight,
                          w2=weight.square().sum(dim=[2, 3]), bias=layer.bias.detach().to(self.device) * g,
                          act_gain=g, clamp=(layer.conv_clamp * 1.0) if layer.conv_clamp is not None else None,
                          padding=layer.padding, resolution=layer.resolution, ws_index=ws_index)
        if layer.activation != 'lrelu':
            raise NotImplementedError(f'fast path supports lrelu synthesis layers, got {layer.activation!r}')
        if layer.use_noise:
            strength = float(layer.noise_strength.detach())
            plan.noise_const = (layer.noise_const.detach().to(self.device, torch.float32) * (strength * g))
            plan.noise_strength = strength * g
        if kind == 'up':
            f = layer.resample_filter.detach().to(self.device, torch.float32)
            if f.ndim == 1:
                f = torch.outer(f, f)
            # conv2d_resample's up path: transposed conv (no padding for k=3, p=1), then
            # FIR with padding [p0, p1] = [p + (fw+1)//2 - (k-1), p + (fw-2)//2 - (k-2)], gain 4.
            fw = f.shape[-1]
            k = weight.shape[-1]
            p0 = layer.padding + (fw + 1) // 2 - (k - 1)
            p1 = layer.padding + (fw - 2) // 2 - (k - 2)
            if p0 != p1 or p0 < 0:
                raise NotImplementedError('asymmetric up-conv padding')
            plan.fir_w = _fir_pad_params(f, weight.shape[0], 4.0, torch.float32, self.device)
            plan.fir_pad = p0
            if k == 3:
                plan.extra['phases'] = _polyphase_3x3(weight)
        return plan

    def _torgb(self, layer, ws_index):
        aw, ab = self._affine(layer)
        aw = aw * layer.weight_gain
        ab = ab * layer.weight_gain
        weight = layer.weight.detach().to(self.device, torch.float32)
        return _LayerPlan(kind='torgb', affine_w=aw, affine_b=ab, weight=weight, w2=None,
                          bias=layer.bias.detach().to(self.device, torch.float32), act_gain=1.0,
                          clamp=layer.conv_clamp, ws_index=ws_index)

    # ------------------------------------------------------------------ execution

    def cast(self, dtype, fp32_upto=0):
        """Low-precision copies of the conv weights / FIR filters (styles stay fp32).
        Blocks up to resolution ``fp32_upto`` stay fp32: they are cheap, and rounding
        errors made there are amplified by every later layer."""
        for entry in self.blocks:
            for lp in entry['layers']:
                if entry['res'] <= fp32_upto:
                    continue
                lp.extra['dtype'] = dtype
                if lp.fir_w is not None:
                    lp.extra['fir_w'] = lp.fir_w.to(dtype)
                lp.extra['bias'] = lp.bias.to(dtype)
                if lp.noise_const is not None:
                    lp.extra['noise_const'] = lp.noise_const.to(dtype)
        self.dtype = dtype

    def noise_list(self, batch, noise_mode, scales, generator=None):
        """Per conv layer: additive noise (act gain and strength folded) or None, in the
        order and shapes the reference draws random noise."""
        out = []
        for entry in self.blocks:
            for lp in entry['layers']:
                if lp.noise_const is None or noise_mode == 'none':
                    out.append(None)
                    continue
                scale = scales[lp.ws_index]
                if noise_mode == 'const':
                    n = lp.extra.get('noise_const', lp.noise_const)
                    out.append(n if scale == 1 else n * scale)
                else:
                    shape = [batch, 1, lp.resolution, lp.resolution]
                    if generator is None:
                        r = torch.randn(shape, device=self.device)
                    else:
                        r = torch.randn(shape, generator=generator).to(self.device)
                    out.append((r * (lp.noise_strength * scale)).to(lp.extra.get('dtype', torch.float32)))
        return out

    def styles(self, lp, w):
        return torch.addmm(lp.affine_b.unsqueeze(0), w, lp.affine_w.t())  # [N, I]

    def _nnpack_ok(self, x, w):
        """NNPACK pays for fp32 3x3 convs on maps of 32x32 and more (its Winograd tiles make
        tiny maps slower than oneDNN)."""
        return (self.use_nnpack and x.dtype == torch.float32 and tuple(w.shape[-2:]) == (3, 3)
                and x.shape[-1] * x.shape[-2] >= 1024)

    def _conv(self, x, w, bias, padding):
        """Ordinary stride-1 conv; NNPACK (Winograd, about 2x oneDNN's fp32 speed for 3x3 on
        CPU, relative error ~1e-5) where enabled, else ``F.conv2d``."""
        if self._nnpack_ok(x, w):
            try:
                return torch._nnpack_spatial_convolution(x.contiguous(), w.contiguous(), bias, [padding, padding])
            except RuntimeError:
                self.use_nnpack = False
        return F.conv2d(x, w, bias=bias, padding=padding)

    @staticmethod
    def _dt(lp):
        return lp.extra.get('dtype', torch.float32)

    def _use_nonfused(self, lp, x):
        """Scale activations instead of weights when that touches fewer numbers (small
        resolutions) or for batches (one shared-weight conv instead of a grouped one).
        Not in fp16, where unnormalised activations times styles could overflow."""
        if self._dt(lp) == torch.float16:
            return False
        N, I, H, W = x.shape
        O, _, k, _ = lp.weight.shape
        return N > 1 or H * W * (I + O) < O * I * k * k

    def _raw(self, lp, key, t):
        """Raw (unmodulated) weight ``t`` in the compute dtype and memory format, cast once."""
        cache = lp.extra.setdefault('raw', {})
        if key not in cache:
            nnpack = self.use_nnpack and self._dt(lp) == torch.float32 and lp.resolution ** 2 >= 1024
            fmt = torch.channels_last if self.channels_last and not nnpack else torch.contiguous_format
            cache[key] = t.to(self._dt(lp)).contiguous(memory_format=fmt)
        return cache[key]

    def _modulated(self, lp, key, raw, scale, dt):
        """raw [O, I, kh, kw] x scale [N, O, I] -> [N*O, I, kh, kw] in ``dt``, produced directly
        in channels_last layout when the plan runs channels_last (oneDNN then stays in NHWC)."""
        N = scale.shape[0]
        O, I, kh, kw = raw.shape
        if not self.channels_last:
            return (raw.unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)).to(dt).reshape(N * O, I, kh, kw)
        cache = lp.extra.setdefault('perm', {})
        if key not in cache:
            cache[key] = raw.permute(0, 2, 3, 1).contiguous()          # [O, kh, kw, I]
        w = cache[key].unsqueeze(0) * scale.unsqueeze(2).unsqueeze(3)  # [N, O, kh, kw, I]
        return w.to(dt).reshape(N * O, kh, kw, I).permute(0, 3, 1, 2)

    def _folded(self, lp, x):
        """The folded kernel stack of an up layer (see _fold_up_fir), built on first use, when
        this layer runs in fp32 through NNPACK at a resolution of ``fold_from`` or more and
        one sample at a time; else None."""
        if (lp.kind != 'up' or 'phases' not in lp.extra or x.shape[0] != 1 or self._dt(lp) != torch.float32
                or 2 * x.shape[-1] < self.fold_from or not self._nnpack_ok(x, lp.weight)):
            return None
        if 'fold' not in lp.extra:
            lp.extra['fold'] = _fold_up_fir(lp.weight, lp.fir_w, lp.fir_pad)
            lp.extra['fold_bias'] = lp.bias.to(torch.float32).repeat_interleave(4).contiguous()
        return lp.extra['fold']

    def _up_phases(self, x, lp, weights, groups):
        """Stride-2 3x3 transposed conv as four ordinary convs, one per output phase (same
        MACs; ordinary convs run about twice as fast as transposed ones on CPU)."""
        N, _, H, W = x.shape
        O = lp.weight.shape[0]
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        y = torch.empty([N if groups == 1 else 1, O * (groups if groups > 1 else 1), 2 * H + 1, 2 * W + 1],
                        dtype=x.dtype, device=x.device, memory_format=fmt)
        for (py, px, _, pad), kk in zip(lp.extra['phases'], weights):
            y[:, :, py::2, px::2] = F.conv2d(x, kk, padding=pad, groups=groups)
        return y

    def conv_layer(self, lp, x, w, noise, epilogue=None):
        dt = self._dt(lp)
        x = x.to(dt)
        N, I, H, W = x.shape
        O, _, k, _ = lp.weight.shape
        s = self.styles(lp, w)                                              # [N, I] fp32
        d = (s.square() @ lp.w2.t() + 1e-8).rsqrt() * lp.act_gain           # [N, O] (act gain folded)
        bias = lp.extra.get('bias', lp.bias)
        fir = lp.extra.get('fir_w', lp.fir_w)
        phases = lp.extra.get('phases')
        folded = self._folded(lp, x)
        if folded is not None:
            if self._use_nonfused(lp, x):
                xs = x * s.to(dt).reshape(N, I, 1, 1)
                y = F.pixel_shuffle(self._conv(xs, folded, None, 1), 2)
                y = y.mul_(d.to(dt).reshape(N, O, 1, 1)).add_(bias.reshape(1, O, 1, 1))
            else:
                wt = self._modulated(lp, 'fold', folded, d.repeat_interleave(4, dim=1).unsqueeze(2)
                                     * s.unsqueeze(1), dt)
                y = F.pixel_shuffle(self._conv(_reshape(x, [1, N * I, H, W]), wt,
                                               lp.extra['fold_bias'], 1), 2)
        elif self._use_nonfused(lp, x):
            xs = x * s.to(dt).reshape(N, I, 1, 1)
            if lp.kind == 'conv':
                y = self._conv(xs, self._raw(lp, 'w', lp.weight), None, lp.padding)
            elif phases is not None:
                y = self._up_phases(xs, lp, [self._raw(lp, (py, px), sub) for py, px, sub, _ in phases], 1)
            else:
                y = F.conv_transpose2d(xs, self._raw(lp, 'wt', lp.weight.transpose(0, 1)), stride=2)
            y = y.mul_(d.to(dt).reshape(N, O, 1, 1))
            if lp.kind == 'up':
                y = F.conv2d(y, fir, padding=lp.fir_pad, groups=O)
            y = y.add_(bias.reshape(1, O, 1, 1))
        else:
            scale = d.unsqueeze(2) * s.unsqueeze(1)                          # [N, O, I]
            xg = _reshape(x, [1, N * I, H, W])
            if lp.kind == 'conv':
                wt = self._modulated(lp, 'w', lp.weight, scale, dt)
                if N == 1:
                    y = self._conv(xg, wt, bias, lp.padding)
                else:
                    y = F.conv2d(xg, wt, bias=bias.repeat(N), padding=lp.padding, groups=N)
            else:
                if phases is not None:
                    subs = [self._modulated(lp, (py, px), sub, scale, dt) for py, px, sub, _ in phases]
                    y = self._up_phases(xg, lp, subs, N)
                else:
                    # Transposed conv weight per group: [I, O, k, k], unflipped (conv2d_resample's up path).
                    wt = (lp.weight.unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)).to(dt)
                    y = F.conv_transpose2d(xg, wt.transpose(1, 2).reshape(N * I, O, k, k), stride=2, groups=N)
                y = F.conv2d(_reshape(y, [N, O, 2 * H + 1, 2 * W + 1]), fir, bias=bias, padding=lp.fir_pad, groups=O)
            y = _reshape(y, [N, O, *y.shape[2:]])
        if epilogue is not None:
            return epilogue(y, noise, lp)
        if noise is not None:
            y = y.add_(noise)
        y = F.leaky_relu_(y, 0.2)
        if lp.clamp is not None:
            y = y.clamp_(-lp.clamp, lp.clamp)
        return y

    def torgb(self, lp, x, w):
        N, I = x.shape[:2]
        s = self.styles(lp, w)                                             # [N, I]
        O = lp.weight.shape[0]
        # In the activations' dtype (converting them to fp32 would cost a pass over the
        # largest tensor; measured: no PSNR difference), accumulated into the fp32 image.
        wt = (lp.weight.unsqueeze(0) * s.reshape(N, 1, I, 1, 1)).to(x.dtype)
        y = F.conv2d(_reshape(x, [1, N * I, *x.shape[2:]]), wt.reshape(N * O, I, 1, 1),
                     bias=lp.bias.to(x.dtype).repeat(N), groups=N)
        y = _reshape(y, [N, O, *y.shape[2:]]).to(torch.float32)
        if lp.clamp is not None:
            y = y.clamp_(-lp.clamp, lp.clamp)
        return y

    def run(self, ws, noises, stop_at=None, memory_format=torch.contiguous_format, epilogue=None, interrupt=None):
        """interrupt: a callable asked before every layer; when it returns True the render
        stops with ``Cancelled`` (a newer request made this one pointless)."""
        check = _checker(interrupt)
        N = ws.shape[0]
        ws = ws.to(torch.float32)
        img = None
        x = None
        ni = 0
        for entry in self.blocks:
            res = entry['res']
            block = entry['block']
            layers = entry['layers']
            if 'const' in entry:
                x = entry['const'].unsqueeze(0).expand(N, -1, -1, -1)
                x = x.contiguous(memory_format=memory_format)
            if entry['skip'] is not None:
                check()
                y_skip = block.skip(x.to(torch.float32), gain=np.sqrt(0.5))
                x = self.conv_layer(layers[0], x, ws[:, layers[0].ws_index], noises[ni], epilogue)
                check()
                # resnet's conv1 carries an extra gain sqrt(0.5) (exact: lrelu is positively homogeneous).
                x = self.conv_layer(layers[1], x, ws[:, layers[1].ws_index], noises[ni + 1], epilogue)
                x = y_skip.add_(x.to(torch.float32) * np.sqrt(0.5))
                ni += 2
            else:
                for lp in layers:
                    check()
                    x = self.conv_layer(lp, x, ws[:, lp.ws_index], noises[ni], epilogue)
                    ni += 1
            if img is not None:
                wf, pt, op = entry['img_up']
                img = _upfirdn_up(img, wf, 2, pt, op)
            if entry['torgb'] is not None:
                y = self.torgb(entry['torgb'], x, ws[:, entry['torgb'].ws_index])
                img = y if img is None else img.add_(y)
            if stop_at is not None and res >= stop_at:
                if img is None:
                    raise ValueError(f'architecture {block.architecture!r} has no image before the last block')
                break
        return img


def _checker(interrupt):
    """A no-argument function that raises ``Cancelled`` once ``interrupt()`` is true."""
    if interrupt is None:
        return lambda: None

    def check():
        if interrupt():
            raise Cancelled()
    return check


@contextlib.contextmanager
def interruptible(module: torch.nn.Module, interrupt=None):
    """While inside, the submodules of ``module`` down to two levels (the blocks and their
    layers) ask ``interrupt()`` before they run and raise ``Cancelled`` when it returns True:
    stops a long ``G.synthesis`` call between layers (StyleGAN3/StyleGAN1 and the exact path)
    without changing the networks. (Deeper modules add calls, not useful stopping points.)"""
    if interrupt is None:
        yield
        return
    check = _checker(interrupt)
    handles = [m.register_forward_pre_hook(lambda _m, _a: check())
               for name, m in module.named_modules() if name and name.count('.') <= 1]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# ---------------------------------------------------------------------------- CUDA graphs

def _cuda_graph_capture(fn, static):
    """Warm up on a side stream, then capture ``fn(static)``; returns (replay, output)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn(static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    # 'thread_local': the GUI renders on its own thread while a training thread may use the
    # same GPU; the default 'global' mode would make that thread's cudaMalloc & co. fail
    # (and invalidate this capture) for as long as the capture lasts.
    with torch.cuda.graph(graph, capture_error_mode='thread_local'):
        out = fn(static)
    return graph.replay, out


class GraphCache:
    """Captured graphs keyed by everything that fixes shapes and weights.

    ``run(key, fn, inputs)`` captures ``fn`` on first use of ``key`` with static copies
    of ``inputs`` and afterwards only copies new values into those buffers and replays.
    It returns a copy of the static output, which the next replay overwrites (callers
    keep results across renders, as with ``G.synthesis``; the copy is one image-sized
    device copy). ``capture`` is injectable so the bookkeeping is testable without a GPU.
    """

    def __init__(self, capture=None, max_entries=4):
        self.capture = capture or _cuda_graph_capture
        self.max_entries = max_entries
        self.entries = {}
        self.captures = 0

    def clear(self):
        self.entries.clear()

    def run(self, key, fn, inputs: dict):
        entry = self.entries.pop(key, None)
        if entry is None:
            static = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}
            replay, out = self.capture(fn, static)
            self.captures += 1
            entry = (static, replay, out)
            while len(self.entries) >= self.max_entries:
                self.entries.pop(next(iter(self.entries)))
        self.entries[key] = entry  # most recently used last
        static, replay, out = entry
        for k, v in inputs.items():
            if isinstance(v, torch.Tensor):
                static[k].copy_(v)
        replay()
        return out.clone()


# ---------------------------------------------------------------------------- renderer

class FastRenderer:
    """Inference-only renderer around a generator ``G`` (not modified, not copied).

    ``render(ws, noise_mode='const', noise_scale=None, noise_generator=None, stop_at=None)``
    -> float32 image [N, C, R, R] (R = ``stop_at`` when given), like ``G.synthesis``.
    """

    def __init__(self, G, device=None, dtype='fp32', use_graphs=True, channels_last=None, use_plan=True,
                 graph_capture=None, fp32_upto=None, use_nnpack=None):
        if dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got {dtype!r}')
        self.G = G
        self.device = torch.device(device) if device is not None else next(G.parameters()).device
        self.dtype_name = dtype
        self.dtype = DTYPES[dtype]
        # bf16/fp16: blocks up to this resolution stay fp32 (cheap; their rounding errors are
        # amplified by every later layer). Measured: >= 40 dB at 256 px with 16, at 1024 px with 64.
        if fp32_upto is None:
            fp32_upto = max(16, int(G.img_resolution) // 16)
        self.fp32_upto = int(fp32_upto)
        self.use_plan = use_plan and G.family == 'stylegan2' and not forced_ref()
        if not self.use_plan and self.dtype != torch.float32:
            raise ValueError(f'{dtype} rendering needs the StyleGAN2 plan (family {self.family!r}'
                             f'{", EXPLORER_KERNELS=ref" if forced_ref() else ""}); use fp32 '
                             '(StyleGAN3 runs its own fp16 layers on CUDA)')
        if not dtype_supported(dtype, self.device):
            raise ValueError(f'{dtype} rendering is not supported on {self.device}')
        is_cuda = self.device.type == 'cuda'
        # CPU fp32: NNPACK's Winograd 3x3 convs (NCHW). CPU bf16: oneDNN in NHWC, much faster
        # there than NCHW (above all its depthwise FIR convs). CUDA: NHWC for fp16/bf16.
        if use_nnpack is None:
            use_nnpack = (not is_cuda) and nnpack_available()  # (bf16: for its fp32 low-res blocks)
        self.use_nnpack = bool(use_nnpack)
        if channels_last is None:
            channels_last = (self.dtype != torch.float32) or (not is_cuda and not self.use_nnpack)
        self.channels_last = bool(channels_last)
        self.use_graphs = bool(use_graphs) and (is_cuda or graph_capture is not None)
        self.graphs = GraphCache(capture=graph_capture)
        self.graph_capture_injected = graph_capture is not None
        self.use_triton = (is_cuda and triton_available() and not forced_ref() and not self.channels_last)
        self._plan = None
        self._token = None

    # -------------------------------------------------------------- bookkeeping

    @property
    def family(self):
        return self.G.family

    def _refresh(self):
        """(Re)build the plan when the weights changed (new checkpoint, training snapshot)."""
        token = (id(self.G), weights_token(self.G))
        if token == self._token and (self._plan is not None or not self.use_plan):
            return
        self.graphs.clear()
        self._token = token
        if self.use_plan:
            self._plan = _SG2Plan(self.G.synthesis, self.device, torch.float32, channels_last=self.channels_last)
            self._plan.use_nnpack = self.use_nnpack
            if self.dtype != torch.float32:
                self._plan.cast(self.dtype, fp32_upto=self.fp32_upto)

    def _epilogue(self):
        if not self.use_triton:
            return None
        from kernels import triton_modconv

        def epi(y, noise, lp):
            return triton_modconv.epilogue(y, noise=noise, act='lrelu', alpha=0.2, gain=1.0, clamp=lp.clamp, out=y)
        return epi

    # -------------------------------------------------------------- rendering

    def _scales(self, noise_scale):
        return per_layer_values(noise_scale, self.G.num_ws)

    def _run_plan(self, ws, noises, stop_at, interrupt=None):
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        N = ws.shape[0]
        if self.device.type == 'cpu' and N > 1:
            # CPU: one sample at a time. Batch-1 convs already run at the core's peak, and
            # the batch's activations would no longer fit in cache (measured: batch 8 ran at
            # ~60% of the batch-1 images/s). Per-sample noise slices keep random noise exact.
            out = []
            for i in range(N):
                ni = [n[i:i + 1] if (n is not None and n.ndim == 4 and n.shape[0] == N) else n for n in noises]
                out.append(self._plan.run(ws[i:i + 1], ni, stop_at=stop_at, memory_format=mf,
                                          epilogue=self._epilogue(), interrupt=interrupt))
            return torch.cat(out).contiguous()
        img = self._plan.run(ws, noises, stop_at=stop_at, memory_format=mf, epilogue=self._epilogue(),
                             interrupt=interrupt)
        return img.contiguous()

    def _run_generic(self, ws, noise_mode, noise_scale, noise_generator, stop_at, interrupt=None):
        kw = dict(noise_mode=noise_mode)
        if noise_scale is not None:
            kw['noise_scale'] = noise_scale
        if noise_generator is not None:
            kw['noise_generator'] = noise_generator
        if stop_at is not None and stop_at != self.G.img_resolution:
            kw['stop_at'] = stop_at
        with interruptible(self.G.synthesis, interrupt):
            return self.G.synthesis(ws, **kw).to(torch.float32)

    @torch.no_grad()
    def render(self, ws, noise_mode='const', noise_scale=None, noise_generator=None, stop_at=None,
               interrupt=None):
        """interrupt: optional callable asked between layers; True stops the render with
        ``explorer.engine.progress.Cancelled`` (eager renders only: a CUDA-graph replay,
        a few milliseconds, always completes)."""
        assert ws.ndim == 3 and ws.shape[1:] == (self.G.num_ws, self.G.w_dim), tuple(ws.shape)
        self._refresh()
        ws = ws.to(self.device, torch.float32)
        if stop_at is not None and stop_at >= self.G.img_resolution:
            stop_at = None
        if not self.use_plan:
            if self.use_graphs and noise_mode != 'random':
                key = ('generic', self._token, tuple(ws.shape), noise_mode, stop_at, self.dtype_name,
                       None if noise_scale is None else tuple(self._scales(noise_scale)))
                return self._graph_or_eager(
                    key, lambda st: self._run_generic(st['ws'], noise_mode, noise_scale, None, stop_at), {'ws': ws})
            return self._run_generic(ws, noise_mode, noise_scale, noise_generator, stop_at, interrupt)
        noises = self._plan.noise_list(ws.shape[0], noise_mode, self._scales(noise_scale), noise_generator)
        if not self.use_graphs:
            return self._run_plan(ws, noises, stop_at, interrupt)
        inputs = {'ws': ws}
        for i, n in enumerate(noises):
            if n is not None:
                inputs[f'n{i}'] = n.expand(ws.shape[0], 1, *n.shape[-2:]) if n.ndim == 4 else n
        key = ('plan', self._token, tuple(ws.shape), noise_mode, stop_at, self.dtype_name,
               tuple(None if n is None else tuple(inputs[f'n{i}'].shape) for i, n in enumerate(noises)))
        count = len(noises)

        def fn(st):
            return self._run_plan(st['ws'], [st.get(f'n{i}') for i in range(count)], stop_at)
        return self._graph_or_eager(key, fn, inputs)

    def _graph_or_eager(self, key, fn, inputs):
        """Replay a captured graph; if capture fails (an op that syncs with the host, an
        old driver), warn once and render eagerly from then on."""
        try:
            return self.graphs.run(key, fn, inputs)
        except Exception as e:  # noqa: BLE001 - any capture failure means: no graphs here
            if self.graph_capture_injected:
                raise
            import warnings
            warnings.warn(f'CUDA graph capture failed, rendering without graphs: {e}', RuntimeWarning)
            self.use_graphs = False
            self.graphs.clear()
            return fn(inputs)
