"""StyleGAN (version 1) generator: AdaIN style modulation, written from the paper.

"A Style-Based Generator Architecture for Generative Adversarial Networks"
(Karras, Laine, Aila 2019). The inference math follows NVIDIA's published
TensorFlow definition so that a converted official pickle renders the same images:

- mapping: optional label embedding concatenated to z, pixel norm, ``mapping_layers``
  dense layers (equalized lr, gain sqrt(2), lr multiplier 0.01 on weights and biases,
  leaky ReLU 0.2 after every layer including the last), broadcast to ``num_ws``;
  truncation lerps toward the tracked average ``w_avg`` (TF: ``dlatent_avg``).
- synthesis: a learned 4x4 constant, then two layers per resolution. Every layer
  ends with the same epilogue: noise (one per-channel weight) -> bias -> activation
  -> [pixel norm] -> instance norm -> AdaIN style (``x * (1 + scale) + bias`` from an
  affine map of w). Upsampling layers are nearest x2 + 3x3 conv (or, from 128x128 up,
  the equivalent fused transposed conv), followed by a [1, 2, 1] blur.
- output: a 1x1 ToRGB conv (gain 1) plus bias at the final resolution. The lower
  resolution ToRGB layers from progressive growing are kept so that a snapshot
  taken mid-growth (``lod`` > 0) renders like the original.

The activation itself has no gain (unlike StyleGAN2): the sqrt(2) only enters the
He constants of the conv and mapping weights.

Shapes: z [N, z_dim], c [N, c_dim], ws [N, num_ws, w_dim], img [N, C, H, W].
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from explorer.engine.capabilities import nnpack_available
from explorer.engine.cpu_heap import keep_freed_memory
from explorer.engine.fast_plan import few_samples_on_cpu, nnpack_conv
from explorer.engine.fast_synthesis import check_impl
from explorer.engine.layers import StyleLayer, per_layer_values
from explorer.errors import UserError
from kernels import forced_ref

NOISE_MODES = ('const', 'random', 'none')
OFFICIAL_TRUNCATION_PSI = 0.7       # G_style default in the official code
OFFICIAL_TRUNCATION_CUTOFF = 8      # truncate ws[:8] (the 4x4..32x32 layers)
_DEFAULT = object()                 # "use this model's default" for forward()


def official_fmaps(stage, fmap_base=8192, fmap_decay=1.0, fmap_max=512) -> int:
    """Feature maps of the official ``nf(stage)``."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def _act(x, name):
    if name == 'lrelu':
        return F.leaky_relu(x, 0.2)
    if name == 'relu':
        return F.relu(x)
    raise ValueError(f'unknown nonlinearity {name!r}')


def _check_act(name):
    if name not in ('lrelu', 'relu'):
        raise ValueError(f"nonlinearity must be 'lrelu' or 'relu', got {name!r}")


def pixel_norm(x, eps=1e-8):
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def instance_norm(x, eps=1e-8):  # [N, C, H, W], per sample and channel over H, W
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * (x.square().mean(dim=(2, 3), keepdim=True) + eps).rsqrt()


def runtime_gain(fan_in, gain, use_wscale, lrmul=1.0) -> float:
    """Factor the stored weight is multiplied by at run time (equalized learning rate)."""
    if use_wscale:
        return float(gain / math.sqrt(fan_in) * lrmul)
    return float(lrmul)


def conv3x3(x, weight, fast=False):
    """3x3 convolution, padding 1. ``fast`` (the default no-grad path on the CPU): NNPACK's
    Winograd convolution, one sample at a time, on maps of 32x32 and more (2-2.7x oneDNN's fp32
    at one thread here; relative error ~1.4e-5), spread over the CPU lanes with more than one
    intra-op thread (``fast_plan.nnpack_conv``: the bits of one call; ATen's NNPACK pool runs on
    one thread); smaller maps and any NNPACK failure: ``F.conv2d``."""
    if fast and x.dtype == torch.float32 and x.shape[-1] * x.shape[-2] >= 1024:
        keep_freed_memory()
        w = weight.contiguous()
        try:
            return torch.cat([nnpack_conv(x[i:i + 1].contiguous(), w, None, 1) for i in range(x.shape[0])])
        except RuntimeError:
            pass
    return F.conv2d(x, weight, padding=1)


def blur_kernel(taps) -> torch.Tensor:
    """Normalized 2D low-pass kernel [k, k] from 1D taps (outer product)."""
    f = np.asarray(taps, dtype=np.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    if f.ndim != 2:
        raise ValueError(f'blur filter must be 1D or 2D, got shape {f.shape}')
    return torch.from_numpy(f / f.sum())


def blur2d(x, kernel):
    """Depthwise correlation with ``kernel`` [kh, kw], zero 'SAME' padding."""
    c = x.shape[1]
    kh, kw = kernel.shape
    if (kh, kw) == (1, 1) and float(kernel[0, 0]) == 1.0:
        return x
    pad = [(kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2]
    w = kernel.to(x.dtype).reshape(1, 1, kh, kw).repeat(c, 1, 1, 1)
    return F.conv2d(F.pad(x, pad), w, groups=c)


def upscale2d(x, factor=2):
    """Nearest-neighbour upscaling (each pixel repeated factor x factor)."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


class Dense(torch.nn.Module):
    """Fully connected layer, weight [out, in], runtime-scaled weight and bias."""

    def __init__(self,
        in_features,        # Input features.
        out_features,       # Output features.
        gain=math.sqrt(2),  # He gain of the weight.
        use_wscale=True,    # Equalized learning rate?
        lrmul=1.0,          # Learning-rate multiplier (weights and bias).
        bias=True,          # Add a bias?
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lrmul)
        self.bias = torch.nn.Parameter(torch.zeros([out_features])) if bias else None
        self.weight_gain = runtime_gain(in_features, gain, use_wscale, lrmul)
        self.bias_gain = float(lrmul)

    def forward(self, x):  # [N, in] -> [N, out]
        x = x.matmul((self.weight * self.weight_gain).t())
        if self.bias is not None:
            x = x + self.bias * self.bias_gain
        return x

    def extra_repr(self):
        return f'in_features={self.in_features}, out_features={self.out_features}'


class MappingNetwork(torch.nn.Module):
    """z (+ label) -> w [N, num_ws, w_dim], with ``w_avg`` for the truncation trick."""

    def __init__(self,
        z_dim,                      # Latent (Z) dimensionality.
        c_dim,                      # Label dimensionality, 0 = unconditional.
        w_dim,                      # Disentangled latent (W) dimensionality.
        num_ws,                     # Number of ws to broadcast to.
        num_layers=8,               # Number of dense layers.
        layer_features=512,         # Features of the hidden layers.
        lrmul=0.01,                 # Learning-rate multiplier of the dense layers.
        nonlinearity='lrelu',       # 'lrelu' or 'relu'.
        use_wscale=True,            # Equalized learning rate?
        normalize_latents=True,     # Pixel-normalize the input?
    ):
        super().__init__()
        _check_act(nonlinearity)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.nonlinearity = nonlinearity
        self.normalize_latents = normalize_latents
        if c_dim > 0:  # label -> z-sized embedding, concatenated (not scaled at run time)
            self.label_embed = torch.nn.Parameter(torch.randn([c_dim, z_dim]))
        features = [z_dim * (2 if c_dim > 0 else 1)] + [layer_features] * (num_layers - 1) + [w_dim]
        for idx in range(num_layers):
            setattr(self, f'fc{idx}', Dense(features[idx], features[idx + 1], gain=math.sqrt(2),
                                            use_wscale=use_wscale, lrmul=lrmul))
        self.register_buffer('w_avg', torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        with few_samples_on_cpu(z):
            return self._forward(z, c, truncation_psi, truncation_cutoff)

    def _forward(self, z, c, truncation_psi, truncation_cutoff):
        assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, f'z must be [N, {self.z_dim}]'
        x = z.to(torch.float32)
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f'this model is conditional: c must be [N, {self.c_dim}]')
            x = torch.cat([x, c.to(torch.float32).matmul(self.label_embed)], dim=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        for idx in range(self.num_layers):
            x = _act(getattr(self, f'fc{idx}')(x), self.nonlinearity)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if truncation_psi is not None and truncation_psi != 1:
            n = self.num_ws if truncation_cutoff is None else max(0, min(int(truncation_cutoff), self.num_ws))
            avg = self.w_avg.to(x.dtype)
            x[:, :n] = avg + (x[:, :n] - avg) * float(truncation_psi)
        return x


class SynthesisLayer(torch.nn.Module):
    """One style layer: [const | dense | conv | up-conv + blur] -> noise -> bias -> act
    -> [pixel norm] -> [instance norm] -> AdaIN style from w."""

    def __init__(self,
        kind,                       # 'const', 'dense' (4x4 from w), 'conv' or 'up'.
        in_channels,                # Input channels (w_dim for 'dense', unused for 'const').
        out_channels,               # Output channels.
        w_dim,                      # W dimensionality.
        resolution,                 # Output resolution.
        nonlinearity='lrelu',       # 'lrelu' or 'relu'.
        use_wscale=True,            # Equalized learning rate?
        use_noise=True,             # Per-pixel noise input?
        use_pixel_norm=False,       # Pixel norm after the activation?
        use_instance_norm=True,     # Instance norm before the style?
        use_styles=True,            # AdaIN style input?
        fused=False,                # 'up' only: one transposed conv instead of upscale + conv.
        blur_filter=(1, 2, 1),      # 'up' only: low-pass after upsampling, None = off.
    ):
        super().__init__()
        if kind not in ('const', 'dense', 'conv', 'up'):
            raise ValueError(f'unknown layer kind {kind!r}')
        _check_act(nonlinearity)
        self.kind = kind
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.nonlinearity = nonlinearity
        self.use_noise = use_noise
        self.use_pixel_norm = use_pixel_norm
        self.use_instance_norm = use_instance_norm
        self.use_styles = use_styles
        self.fused = bool(fused) and kind == 'up'
        gain = math.sqrt(2)
        if kind == 'const':
            self.const = torch.nn.Parameter(torch.ones([out_channels, resolution, resolution]))
        elif kind == 'dense':  # Progressive-GAN style 4x4 input, gain sqrt(2)/4
            self.weight = torch.nn.Parameter(torch.randn([out_channels * resolution * resolution, in_channels]))
            self.weight_gain = runtime_gain(in_channels, gain / 4, use_wscale)
        else:
            self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
            self.weight_gain = runtime_gain(in_channels * 9, gain, use_wscale)
        if kind == 'up' and blur_filter:
            self.register_buffer('blur', blur_kernel(blur_filter), persistent=False)
        else:
            self.blur = None
        if use_noise:
            self.register_buffer('noise_const', torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([out_channels]))  # per channel
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        if use_styles:
            self.style = Dense(w_dim, out_channels * 2, gain=1, use_wscale=use_wscale)

    def _main(self, x, w, fast=False):
        if self.kind == 'const':
            return self.const.unsqueeze(0).repeat([w.shape[0], 1, 1, 1])
        if self.kind == 'dense':
            y = w.matmul((self.weight * self.weight_gain).t())
            return y.reshape(-1, self.out_channels, self.resolution, self.resolution)
        weight = self.weight * self.weight_gain  # [out, in, 3, 3]
        if self.kind == 'conv':
            return conv3x3(x, weight, fast)
        if not self.fused:
            x = conv3x3(upscale2d(x), weight, fast)
        else:
            # Upscale + 3x3 conv as one stride-2 transposed conv: the 3x3 kernel summed
            # over the four 1-pixel shifts gives the 4x4 kernel. As in the official
            # definition this equals upscale + conv with the kernel flipped in space, so
            # a model trained fused must be run fused.
            wt = F.pad(weight.transpose(0, 1), [1, 1, 1, 1])  # [in, out, 5, 5]
            wt = wt[:, :, 1:, 1:] + wt[:, :, :-1, 1:] + wt[:, :, 1:, :-1] + wt[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, wt, stride=2, padding=1)
        if self.blur is not None:
            x = blur2d(x, self.blur)
        return x

    def forward(self, x, w, noise_mode='const', noise_scale=1.0, noise_generator=None, fast=False):
        # x: [N, in, R/2 or R, ...] (None for const/dense); w: [N, w_dim]; fast: see conv3x3
        x = self._main(x, w, fast)
        N, C, H, W = x.shape
        assert (C, H, W) == (self.out_channels, self.resolution, self.resolution), (tuple(x.shape), self.kind)
        if self.use_noise and noise_mode != 'none' and noise_scale != 0:
            if noise_mode == 'random':
                if noise_generator is None:
                    noise = torch.randn([N, 1, H, W], device=x.device)
                else:
                    noise = torch.randn([N, 1, H, W], generator=noise_generator).to(x.device)
            else:
                noise = self.noise_const.reshape(1, 1, H, W)
            x = x + noise * (self.noise_strength * noise_scale).reshape(1, -1, 1, 1)
        x = x + self.bias.reshape(1, -1, 1, 1)
        x = _act(x, self.nonlinearity)
        if self.use_pixel_norm:
            x = pixel_norm(x)
        if self.use_instance_norm:
            x = instance_norm(x)
        if self.use_styles:
            style = self.style(w).reshape(N, 2, C, 1, 1)
            x = x * (style[:, 0] + 1) + style[:, 1]
        return x


class ToRGB(torch.nn.Module):
    """1x1 conv (gain 1) + bias to image channels."""

    def __init__(self, in_channels, img_channels, use_wscale=True):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn([img_channels, in_channels, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([img_channels]))
        self.weight_gain = runtime_gain(in_channels, 1.0, use_wscale)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.weight_gain) + self.bias.reshape(1, -1, 1, 1)


class SynthesisBlock(torch.nn.Module):
    """One resolution: layer0 (const/dense at 4x4, up-conv above) -> layer1 (conv), + torgb."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, first_kind='up',
                 fused=False, blur_filter=(1, 2, 1), use_wscale=True, has_torgb=True, **layer_kwargs):
        super().__init__()
        self.resolution = resolution
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.layer0 = SynthesisLayer(first_kind, in_channels, out_channels, w_dim, resolution, fused=fused,
                                     blur_filter=blur_filter, use_wscale=use_wscale, **layer_kwargs)
        self.layer1 = SynthesisLayer('conv', out_channels, out_channels, w_dim, resolution,
                                     use_wscale=use_wscale, **layer_kwargs)
        self.torgb = ToRGB(out_channels, img_channels, use_wscale=use_wscale) if has_torgb else None

    def forward(self, x, ws, noise_scales=(1.0, 1.0), **layer_kwargs):  # ws: [N, 2, w_dim]
        x = self.layer0(x, ws[:, 0], noise_scale=noise_scales[0], **layer_kwargs)
        x = self.layer1(x, ws[:, 1], noise_scale=noise_scales[1], **layer_kwargs)
        return x


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R] (before any crop)."""

    def __init__(self,
        w_dim,                      # W dimensionality.
        img_resolution,             # Output resolution (power of two >= 4).
        img_channels,               # Output channels.
        channels,                   # Feature maps per resolution 4, 8, ..., img_resolution.
        nonlinearity='lrelu',       # 'lrelu' or 'relu'.
        use_wscale=True,            # Equalized learning rate?
        use_noise=True,             # Noise inputs?
        use_pixel_norm=False,       # Pixel norm in each layer?
        use_instance_norm=True,     # Instance norm in each layer?
        const_input_layer=True,     # Learned constant (True) or dense layer from w (False) at 4x4?
        fused_scale='auto',         # Fused up-conv: True, False or 'auto' (output >= 128).
        blur_filter=(1, 2, 1),      # Low-pass after upsampling, None = off.
        crop=None,                  # [top, bottom, left, right] pixels removed from the output.
        progressive=True,           # ToRGB at every resolution (progressive growing) or only the last?
    ):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f'img_resolution must be a power of two >= 4, got {img_resolution}')
        if fused_scale not in (True, False, 'auto'):
            raise ValueError(f"fused_scale must be True, False or 'auto', got {fused_scale!r}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.resolution_log2 + 1)]
        if crop is not None and (len(crop) != 4 or min(crop) < 0 or crop[0] + crop[1] >= img_resolution
                                 or crop[2] + crop[3] >= img_resolution):
            raise ValueError(f'crop must be [top, bottom, left, right] leaving a non-empty image, got {crop}')
        self.crop = list(crop) if crop else None
        self.progressive = progressive
        if len(channels) != len(self.block_resolutions):
            raise ValueError(f'channels needs {len(self.block_resolutions)} entries (4..{img_resolution}), '
                             f'got {len(channels)}')
        self.num_ws = 2 * len(self.block_resolutions)
        layer_kwargs = dict(nonlinearity=nonlinearity, use_noise=use_noise, use_pixel_norm=use_pixel_norm,
                            use_instance_norm=use_instance_norm)
        for i, res in enumerate(self.block_resolutions):
            if res == 4:
                kind = 'const' if const_input_layer else 'dense'
                in_ch = w_dim if kind == 'dense' else 0
            else:
                kind = 'up'
                in_ch = channels[i - 1]
            fused = fused_scale if fused_scale != 'auto' else res >= 128
            block = SynthesisBlock(in_ch, int(channels[i]), w_dim, res, img_channels, first_kind=kind,
                                   fused=fused, blur_filter=blur_filter, use_wscale=use_wscale,
                                   has_torgb=progressive or res == img_resolution, **layer_kwargs)
            setattr(self, f'b{res}', block)
        # Level of detail of progressive growing (0 = fully grown); fractional values
        # blend the two ToRGB outputs as during a fade-in.
        self.register_buffer('lod', torch.zeros([]))
        self._lod_key = self._lod_value = None

    def lod_value(self) -> float:
        """``float(self.lod)``, read from the buffer only when it changed (a new tensor or an
        in-place write such as load_state_dict): on CUDA each read waits for the device, which
        also made CUDA-graph capture of this network fail."""
        try:
            key = (self.lod.data_ptr(), self.lod.device, self.lod._version)
        except RuntimeError:        # an inference-mode tensor has no version counter
            return float(self.lod)
        if key != self._lod_key:
            self._lod_value, self._lod_key = float(self.lod), key
        return self._lod_value

    @property
    def img_shape(self) -> tuple[int, int]:
        """(height, width) of the full-resolution output after the crop."""
        t, b, l, r = self.crop or (0, 0, 0, 0)
        return self.img_resolution - t - b, self.img_resolution - l - r

    def fast_available(self) -> bool:
        """Does ``impl='auto'`` under ``torch.no_grad()`` take the fast (NNPACK) path here?"""
        p = next(self.parameters())
        return (not self.training and not forced_ref() and p.device.type == 'cpu' and p.dtype == torch.float32
                and nnpack_available())

    def _fast_ok(self, impl, ws) -> bool:
        return (impl == 'auto' and not torch.is_grad_enabled() and isinstance(ws, torch.Tensor)
                and ws.device.type == 'cpu' and self.fast_available())

    def forward(self, ws, noise_mode='const', noise_scale=None, noise_generator=None, force_fp32=False,
                stop_at=None, impl='auto', **_ignored):
        """ws [N, num_ws, w_dim] -> img [N, C, H, W]; ``stop_at``: the image at a lower resolution
        through that resolution's ToRGB. ``force_fp32`` and other extras are accepted and ignored.

        ``impl``: ``'auto'`` (default) | ``'ref'``, as for StyleGAN2 (DESIGN.md: under
        ``torch.no_grad()`` the fastest path that matches the reference to float rounding).
        'auto' under ``torch.no_grad()`` on the CPU (eval mode, ``EXPLORER_KERNELS`` not ``ref``,
        NNPACK present) runs the same layers with NNPACK's 3x3 convolutions (``conv3x3``; max
        |difference| from the reference <= 1e-4 on [-1, 1] images, measured ~1e-5), a batch one
        sample at a time (const/none noise: an image's bits do not depend on its batch). Else,
        and always with gradients enabled, it is this reference."""
        check_impl(impl)
        fast = self._fast_ok(impl, ws)
        if fast and ws.ndim == 3 and ws.shape[0] > 1 and noise_mode != 'random':
            return torch.cat([self.forward(ws[i:i + 1], noise_mode=noise_mode, noise_scale=noise_scale,
                                           stop_at=stop_at, impl=impl) for i in range(ws.shape[0])])
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f'ws must be [N, {self.num_ws}, {self.w_dim}]'
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        ws = ws.to(torch.float32)
        scales = per_layer_values(noise_scale, self.num_ws)
        lod = self.lod_value() if self.progressive else 0.0
        last = self.img_resolution if stop_at is None else min(max(int(stop_at), 4), self.img_resolution)
        if not self.progressive:
            last = self.img_resolution
        x = img = None
        for i, res in enumerate(self.block_resolutions):
            if res > last:
                break
            block = getattr(self, f'b{res}')
            x = block(x, ws[:, 2 * i:2 * i + 2], noise_scales=scales[2 * i:2 * i + 2], noise_mode=noise_mode,
                      noise_generator=noise_generator, fast=fast)
            block_lod = self.resolution_log2 - int(np.log2(res))
            if lod == 0 and res < last:
                continue  # fully grown: only the last ToRGB is used
            y = block.torgb(x)
            if img is None:
                img = y
            else:
                t = min(max(lod - block_lod, 0.0), 1.0)
                img = upscale2d(img)
                img = y + (img - y) * t
        if self.crop:
            scale = img.shape[2] / self.img_resolution
            t, b, l, r = (int(round(v * scale)) for v in self.crop)
            img = img[:, :, t:img.shape[2] - b, l:img.shape[3] - r]
        return img



class Generator(torch.nn.Module):
    """StyleGAN1 generator: ``mapping`` (z, c -> ws) and ``synthesis`` (ws -> img).

    ``crop = [top, bottom, left, right]`` removes padding rows/columns from the
    square network output (the official cars model: 512x512 network, 512x384
    images, ``crop=[64, 64, 0, 0]``); crops scale with ``stop_at`` previews.
    """

    family = 'stylegan1'

    def __init__(self,
        z_dim=512,                  # Latent (Z) dimensionality.
        c_dim=0,                    # Label dimensionality, 0 = unconditional.
        w_dim=512,                  # Disentangled latent (W) dimensionality.
        img_resolution=1024,        # Network output resolution (power of two).
        img_channels=3,             # Output colour channels.
        channels=None,              # Feature maps per resolution 4..R; None = official nf() formula.
        fmap_base=8192,             # Official nf(): overall feature-map multiplier.
        fmap_decay=1.0,             # Official nf(): log2 reduction per doubling.
        fmap_max=512,               # Official nf(): maximum feature maps.
        mapping_layers=8,           # Dense layers in the mapping network.
        mapping_fmaps=512,          # Hidden features of the mapping network.
        mapping_lrmul=0.01,         # Learning-rate multiplier of the mapping network.
        mapping_nonlinearity='lrelu',  # Mapping activation.
        normalize_latents=True,     # Pixel-normalize z?
        nonlinearity='lrelu',       # Synthesis activation.
        use_wscale=True,            # Equalized learning rate?
        use_noise=True,             # Noise inputs?
        use_pixel_norm=False,       # Pixel norm in synthesis layers?
        use_instance_norm=True,     # Instance norm in synthesis layers?
        const_input_layer=True,     # Learned constant input?
        fused_scale='auto',         # Fused up-conv: True, False, 'auto' (>= 128x128).
        blur_filter=(1, 2, 1),      # Low-pass after upsampling, None = off.
        crop=None,                  # [top, bottom, left, right] pixels removed from the output.
        progressive=True,           # Keep the lower-resolution ToRGBs of progressive growing?
        truncation_psi=OFFICIAL_TRUNCATION_PSI,        # forward()'s default psi (official: 0.7).
        truncation_cutoff=OFFICIAL_TRUNCATION_CUTOFF,  # forward()'s default cutoff (official: 8).
    ):
        super().__init__()
        log2 = int(np.log2(img_resolution)) if img_resolution > 0 else 0
        if channels is None:
            channels = [official_fmaps(r - 1, fmap_base, fmap_decay, fmap_max) for r in range(2, log2 + 1)]
        channels = [int(c) for c in channels]
        blur_filter = list(blur_filter) if blur_filter else None
        crop = [int(v) for v in crop] if crop else None
        self.init_kwargs = dict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            channels=channels, mapping_layers=mapping_layers, mapping_fmaps=mapping_fmaps,
            mapping_lrmul=mapping_lrmul, mapping_nonlinearity=mapping_nonlinearity,
            normalize_latents=normalize_latents, nonlinearity=nonlinearity, use_wscale=use_wscale,
            use_noise=use_noise, use_pixel_norm=use_pixel_norm, use_instance_norm=use_instance_norm,
            const_input_layer=const_input_layer, fused_scale=fused_scale, blur_filter=blur_filter, crop=crop,
            progressive=progressive, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.truncation_psi = truncation_psi
        self.truncation_cutoff = truncation_cutoff
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, channels=channels,
            nonlinearity=nonlinearity, use_wscale=use_wscale, use_noise=use_noise, use_pixel_norm=use_pixel_norm,
            use_instance_norm=use_instance_norm, const_input_layer=const_input_layer, fused_scale=fused_scale,
            blur_filter=blur_filter, crop=crop, progressive=progressive)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                      layer_features=mapping_fmaps, lrmul=mapping_lrmul,
                                      nonlinearity=mapping_nonlinearity, use_wscale=use_wscale,
                                      normalize_latents=normalize_latents)

    @property
    def crop(self):
        return self.synthesis.crop

    @property
    def img_shape(self) -> tuple[int, int]:
        """(height, width) of the images ``synthesis`` returns."""
        return self.synthesis.img_shape

    def set_crop(self, crop) -> None:
        """Change the output crop ([top, bottom, left, right] or None); kept in init_kwargs."""
        crop = [int(v) for v in crop] if crop else None
        R = self.img_resolution
        if crop is not None and (len(crop) != 4 or min(crop) < 0 or crop[0] + crop[1] >= R or crop[2] + crop[3] >= R):
            raise ValueError(f'crop must be [top, bottom, left, right] leaving a non-empty image, got {crop}')
        self.synthesis.crop = crop
        self.init_kwargs['crop'] = crop

    def forward(self, z, c=None, truncation_psi=_DEFAULT, truncation_cutoff=_DEFAULT, update_emas=False,
                **synthesis_kwargs):
        """Like the official ``Gs``: truncation defaults to the model's (psi 0.7, cutoff 8)."""
        if truncation_psi is _DEFAULT:
            truncation_psi = self.truncation_psi
        if truncation_cutoff is _DEFAULT:
            truncation_cutoff = self.truncation_cutoff
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)

    def style_layers(self) -> list[StyleLayer]:
        """Two style inputs per resolution: (const|dense|up, conv)."""
        layers = []
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f'b{res}')
            for layer in (block.layer0, block.layer1):
                layers.append(StyleLayer(len(layers), res, layer.kind, layer.use_noise))
        assert len(layers) == self.num_ws
        return layers

    def style_affine_weights(self) -> list[torch.Tensor]:
        """Per ws index, the weight [2C, w_dim] of the layer's style (AdaIN scale and bias)."""
        weights = []
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f'b{res}')
            for layer in (block.layer0, block.layer1):
                style = getattr(layer, 'style', None)
                if style is None:
                    raise UserError('this StyleGAN1 network has no style inputs (use_styles=False)')
                weights.append(style.weight)
        assert len(weights) == self.num_ws
        return [w.detach() for w in weights]

    def preview_resolutions(self) -> list[int]:
        """Only the full resolution: the lower ToRGBs of a fully grown model are stale."""
        return [self.img_resolution]
