"""The StyleGAN3 CPU inference plan behind ``SynthesisNetwork.forward(impl='auto')``.

Under ``torch.no_grad()`` on a CPU, StyleGAN3 synthesis runs from constants prepared once
per checkpoint (rebuilt when a layer's parameter or buffer changes, e.g. a training
snapshot copied in):

- Modulated convolution: the weight normalised by its RMS per output channel and the
  per-(out, in) squared norms of that weight are precomputed, so the demodulation
  coefficients are a small matrix-vector product (``d = rsqrt(W2 @ s^2 + 1e-8)``, the sum
  the reference forms over the modulated weight); style, demodulation and the input gain
  (``magnitude_ema``) scale the weight once per sample; the bias rides in the convolution.
  fp32 3x3 convolutions run through NNPACK's Winograd kernels (~2.5x oneDNN here), 1x1
  (config R, ToRGB) through oneDNN.
- Filtered leaky ReLU: ``kernels.cpu_filtered_lrelu`` (polyphase upsampling, strided
  depthwise downsampling, separable passes, channels_last, gains folded into the taps).
- Samples run one at a time: a sample's image has the same bits whatever its position in
  the batch (bit-identical re-renders of recipes).
- fp32 with two or more intra-op threads: the CPU lanes of ``fast_plan`` (every op at one
  intra-op thread): each convolution split by rows or output channels (``nnpack_conv``; the
  bits of one call), the filtered leaky ReLU's strips shared out; the same bits at any thread
  count (measured SG3-T 256 at 2 threads 1.24 -> 0.96 s; before, NNPACK ran on one thread).
- ``dtype=torch.bfloat16`` (the interactive preview on CPUs with AVX512-BF16): convolutions
  and filters in bf16 through oneDNN in channels_last; styles, demodulation and the
  Fourier input in fp32, the output in fp32.

Accuracy of the fp32 plan against the reference (``impl='ref'``), measured with random
weights (bench/sg3_speed.py): max abs difference on the [-1, 1] output 8.0e-7 (PSNR 142 dB)
for StyleGAN3-T 256 px, 1.2e-6 (138 dB) for R; tests/engine/test_fast_sg3.py holds small T
and R networks to <= 1e-5 x max(1, |output|) and >= 100 dB. bf16: ~60 dB (T 256).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from explorer.engine.capabilities import nnpack_available
from explorer.engine.cpu_heap import keep_freed_memory
from explorer.engine.fast_plan import (
    by_output_channels,
    cpu_lanes,
    nnpack_conv,
    one_intra_op_thread,
    run_lanes,
    weights_token,
)
from explorer.engine.interrupt import checker
from kernels.cpu_filtered_lrelu import FilteredLReLUPlan


def layers_token(synthesis) -> tuple:
    """Changes whenever a layer's parameter or buffer is replaced or modified in place (the
    Fourier input is not part of the plan: it runs its own module)."""
    return tuple(t for name in synthesis.layer_names for t in weights_token(getattr(synthesis, name)))


class _Layer:
    """Constants of one SynthesisLayer."""

    def __init__(self, layer, dtype):
        fc = layer.affine
        self.module = layer
        self.affine_w = (fc.weight.detach().to(torch.float32) * fc.weight_gain).contiguous()   # [I, w_dim]
        self.affine_b = (fc.bias.detach().to(torch.float32) * fc.bias_gain).contiguous()       # [I]
        self.is_torgb = bool(layer.is_torgb)
        self.demodulate = not self.is_torgb
        I = layer.in_channels
        k = layer.conv_kernel
        self.k = k
        self.style_gain = 1 / np.sqrt(I * k * k) if self.is_torgb else None
        w = layer.weight.detach().to(torch.float32)
        if self.demodulate:
            w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
            self.w2 = w.square().sum(dim=[2, 3])                                             # [O, I]
        self.weight = w.contiguous()                                                         # [O, I, k, k]
        self.input_gain = layer.magnitude_ema.detach().to(torch.float32).rsqrt()             # []
        self.bias = layer.bias.detach().to(torch.float32).contiguous()                       # [O]
        self.dtype = dtype
        if dtype != torch.float32:
            self.bias_lp = self.bias.to(dtype)
        gain = 1 if self.is_torgb else np.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        self.flrelu = FilteredLReLUPlan(layer.up_filter, layer.down_filter, layer.up_factor, layer.down_factor,
                                        layer.padding, gain, slope, layer.conv_clamp, layer.out_channels,
                                        dtype=dtype)
        self.out_size = (int(layer.out_size[1]), int(layer.out_size[0]))

    def modulated_weight(self, w):
        """w [1, w_dim] -> the per-sample conv weight [O, I, k, k] (fp32)."""
        s = torch.addmm(self.affine_b.unsqueeze(0), w, self.affine_w.t())[0]     # [I]
        if self.is_torgb:
            return self.weight * (s * self.style_gain * self.input_gain).reshape(1, -1, 1, 1)
        s = s * s.square().mean().rsqrt()
        d = (self.w2 @ s.square() + 1e-8).rsqrt()                                   # [O]
        scale = d.unsqueeze(1) * (s * self.input_gain).unsqueeze(0)                # [O, I]
        return self.weight * scale.unsqueeze(2).unsqueeze(3)


class SG3Plan:
    """Precomputed constants of a StyleGAN3 ``SynthesisNetwork`` (CPU, ``dtype`` fp32 or bf16)."""

    def __init__(self, synthesis, dtype=torch.float32, use_nnpack=None):
        keep_freed_memory()
        self.synthesis = synthesis
        self.dtype = dtype
        if use_nnpack is None:
            use_nnpack = dtype == torch.float32 and nnpack_available()
        self.use_nnpack = bool(use_nnpack)
        self.layers = [_Layer(getattr(synthesis, name), dtype) for name in synthesis.layer_names]
        self.token = layers_token(synthesis)
        self.last_start = 0      # ws index the last call started at (0: the Fourier input)
        self._resume = None      # {'ws', 'transform', 'at', 'act'}: see run(resume=True)
        self._want = None

    def _conv(self, lp, x, wt, lanes=1):
        """x [1, I, H, W] -> conv with wt [O, I, k, k] (+ bias), padding k - 1; fp32 with
        ``lanes`` > 1: spread over the CPU lanes (the bits of one call, see ``fast_plan``)."""
        pad = lp.k - 1
        if self.dtype == torch.float32:
            if self.use_nnpack and lp.k == 3:
                try:
                    return nnpack_conv(x.contiguous(), wt, lp.bias, pad, lanes)
                except RuntimeError:
                    self.use_nnpack = False
            O = wt.shape[0]
            return by_output_channels(lambda a, b: F.conv2d(x, wt[a:b], lp.bias[a:b], padding=pad), O,
                                      [1, O, x.shape[2] + 2 * pad - lp.k + 1, x.shape[3] + 2 * pad - lp.k + 1], lanes)
        wt = wt.to(self.dtype).contiguous(memory_format=torch.channels_last)
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, wt, lp.bias_lp, padding=pad)

    def run_one(self, w, check=None, hooks=True, resume=False):
        """w [1, num_ws, w_dim] fp32 -> img [1, C, R, R] fp32 (before ``output_scale``).

        resume: start from the activation kept from an earlier call when the ws rows before
        it and the input transform are unchanged (see ``run``); ``self.last_start`` says where
        this call started (0: the Fourier input)."""
        lanes = cpu_lanes() if self.dtype == torch.float32 else 1
        with one_intra_op_thread() if lanes > 1 else contextlib.nullcontext():
            return self._run_one(w, check, hooks, resume, lanes)

    def _run_one(self, w, check, hooks, resume, lanes):
        start, x, want = self._resume_point(w) if resume else (0, None, None)
        self.last_start = start
        strips = (lambda fn, n: run_lanes(fn, n, lanes)) if lanes > 1 else None
        kept = (0, None)
        if start == 0:
            x = self.synthesis.input(w[:, 0])
        for i, lp in enumerate(self.layers):
            if i + 1 < start:
                continue
            if i + 1 == want:
                kept = (want, x)        # the input of ws index ``want``: where the next frame starts
            if hooks:   # e.g. ``interrupt.interruptible``: a stopping point before each layer
                for hook in lp.module._forward_pre_hooks.values():
                    hook(lp.module, (x, w[:, i + 1]))
            if check is not None:
                check()
            wt = lp.modulated_weight(w[:, i + 1])
            y = self._conv(lp, x, wt, lanes)
            x = lp.flrelu.run_one(y, map_strips=strips)
            assert tuple(x.shape[2:]) == lp.out_size, (tuple(x.shape), lp.out_size)
        if resume:
            self._resume = {'ws': w[0].clone(), 'transform': self.synthesis.input.transform.clone(),
                            'at': kept[0], 'act': kept[1]}
        return x.to(torch.float32).contiguous()

    # ------------------------------------------------------------------ resuming (interactive view)

    def _resume_point(self, w):
        """(ws index to start at, its input activation or None, ws index whose input to keep).

        The first ws index whose row differs from the last resumable call's tells where this
        edit acts; the next frame of the same drag will most likely differ from there on too,
        so that input is kept (one activation, ~40 MB at most at 256 px)."""
        last = self._resume
        if last is None or not torch.equal(last['transform'], self.synthesis.input.transform):
            return 0, None, None
        diff = (w[0] != last['ws']).any(dim=1).nonzero()
        if not len(diff):       # the same ws again: from the kept activation, keeping it
            return (last['at'], last['act'], last['at']) if last['act'] is not None else (0, None, None)
        changed = int(diff[0, 0])
        want = changed if changed > 0 else None
        if last['act'] is not None and 0 < last['at'] <= changed:
            return last['at'], last['act'], (want if want is not None and want >= last['at'] else last['at'])
        return 0, None, want

    @torch.no_grad()
    def run(self, ws, interrupt=None, resume=False):
        """ws [N, num_ws, w_dim] -> img [N, C, R, R] fp32, like ``SynthesisNetwork.forward``.

        resume (batch 1, the interactive view): a drag that changes the styles from ws index
        k on (one layer's style, a fine-layer direction) re-runs only the layers from k after
        its first frame: the input of layer k is kept from the frame before. The same ops on
        the same numbers, so the same bits as a full run; ``last_start`` says where it began."""
        check = checker(interrupt) if interrupt is not None else None
        ws = ws.to(torch.float32)
        if resume and ws.shape[0] == 1:
            x = self.run_one(ws, check, resume=True)
            scale = self.synthesis.output_scale
            return x * scale if scale != 1 else x
        self.last_start = 0
        out = [self.run_one(ws[i:i + 1], check) for i in range(ws.shape[0])]
        x = out[0] if len(out) == 1 else torch.cat(out)
        scale = self.synthesis.output_scale
        return x * scale if scale != 1 else x


def plan_for(synthesis, dtype=torch.float32) -> SG3Plan:
    """The cached plan of ``synthesis`` for ``dtype``, rebuilt when its layers' weights changed."""
    cache = synthesis.__dict__.setdefault('_fast_plans', {})
    plan = cache.get(dtype)
    if plan is None or plan.token != layers_token(synthesis):
        plan = cache[dtype] = SG3Plan(synthesis, dtype)
    return plan
