"""StyleGAN2 generator (configs E/F and the ADA variants), written from the papers.

"Analyzing and Improving the Image Quality of StyleGAN" (Karras et al. 2020) and
"Training Generative Adversarial Networks with Limited Data" (Karras et al. 2020).
Module, parameter and buffer names, and constructor arguments follow the official
ones (``mapping.fc0.weight``, ``synthesis.b4.conv1.noise_strength`` ...) so an
official checkpoint's ``init_kwargs`` and tensors map onto these modules directly.

Shapes: z [N, z_dim], c [N, c_dim], ws [N, num_ws, w_dim], img [N, C, H, W].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explorer.engine import fast_render, fast_synthesis
from explorer.engine.fast_plan import few_samples_on_cpu
from explorer.engine.layers import StyleLayer, per_layer_values
from kernels import activation_funcs, bias_act, conv2d_resample, modulated_conv2d, setup_filter, upsample2d

NOISE_MODES = ('const', 'random', 'none')


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with equalized learning rate (weights scaled at runtime)."""

    def __init__(self,
        in_features,            # Number of input features.
        out_features,           # Number of output features.
        bias=True,              # Additive bias before the activation?
        activation='linear',    # 'linear', 'lrelu', ...
        lr_multiplier=1,        # Learning-rate multiplier (equalized lr).
        bias_init=0,            # Initial bias value.
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], np.float32(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):  # [N, in] -> [N, out]
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == 'linear' and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        return bias_act(x, b, act=self.activation)

    def extra_repr(self):
        return f'in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}'


class Conv2dLayer(torch.nn.Module):
    """Plain conv with equalized lr, optional FIR up/down-sampling, bias, act, clamp."""

    def __init__(self,
        in_channels,                # Input channels.
        out_channels,               # Output channels.
        kernel_size,                # Kernel width and height.
        bias=True,                  # Additive bias?
        activation='linear',        # Activation function.
        up=1,                       # Integer upsampling factor.
        down=1,                     # Integer downsampling factor.
        resample_filter=(1, 3, 3, 1),  # Low-pass filter for resampling.
        conv_clamp=None,            # Clamp the output to +-X, None = off.
        channels_last=False,        # Expect channels_last input?
        trainable=True,             # Parameters (True) or frozen buffers (False)?
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer('resample_filter', setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * (kernel_size ** 2))
        self.act_gain = activation_funcs[activation].def_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)
        bias = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias) if bias is not None else None
        else:
            self.register_buffer('weight', weight)
            if bias is not None:
                self.register_buffer('bias', bias)
            else:
                self.bias = None

    def forward(self, x, gain=1):
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        flip_weight = (self.up == 1)
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=flip_weight)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)


class MappingNetwork(torch.nn.Module):
    """z (+ class embedding) -> w, with the tracked average ``w_avg`` for truncation."""

    def __init__(self,
        z_dim,                  # Input latent (Z) dimensionality, 0 = no latent.
        c_dim,                  # Conditioning label (C) dimensionality, 0 = none.
        w_dim,                  # Intermediate latent (W) dimensionality.
        num_ws,                 # Number of ws to broadcast to, None = return [N, w_dim].
        num_layers=8,           # Number of mapping layers.
        embed_features=None,    # Label embedding size, None = w_dim.
        layer_features=None,    # Hidden feature count, None = w_dim.
        activation='lrelu',     # Activation function.
        lr_multiplier=0.01,     # Learning-rate multiplier for the mapping layers.
        w_avg_beta=0.995,       # Decay of the tracked w average, None = do not track.
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features_list = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features_list[idx], features_list[idx + 1],
                                        activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f'fc{idx}', layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer('w_avg', torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False,
                skip_w_avg_update=None):
        with few_samples_on_cpu(z if z is not None else c):
            return self._forward(z, c, truncation_psi, truncation_cutoff, update_emas)

    def _forward(self, z, c, truncation_psi, truncation_cutoff, update_emas):
        x = None
        if self.z_dim > 0:
            assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, f'z must be [N, {self.z_dim}]'
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f'this model is conditional: c must be [N, {self.c_dim}]')
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            assert self.w_avg_beta is not None
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


def _make_noise(shape, device, generator):
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator).to(device)


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv (+ optional 2x up) -> noise -> bias -> lrelu -> clamp."""

    def __init__(self,
        in_channels,                # Input channels.
        out_channels,               # Output channels.
        w_dim,                      # W dimensionality.
        resolution,                 # Output resolution of this layer.
        kernel_size=3,              # Convolution kernel size.
        up=1,                       # Integer upsampling factor.
        use_noise=True,             # Per-pixel noise input?
        activation='lrelu',         # Activation function.
        resample_filter=(1, 3, 3, 1),  # Low-pass filter for upsampling.
        conv_clamp=None,            # Clamp activations to +-X, None = off.
        channels_last=False,        # Use channels_last weights?
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer('resample_filter', setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = activation_funcs[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        if use_noise:
            self.register_buffer('noise_const', torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode='random', fused_modconv=True, gain=1, noise_scale=1.0,
                noise_generator=None):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        in_resolution = self.resolution // self.up
        assert x.shape[1:] == (self.in_channels, in_resolution, in_resolution), (tuple(x.shape), self.in_channels)
        styles = self.affine(w)  # [N, I]

        noise = None
        if self.use_noise and noise_mode == 'random':
            noise = _make_noise([x.shape[0], 1, self.resolution, self.resolution], x.device, noise_generator)
            noise = noise * (self.noise_strength * noise_scale)
        if self.use_noise and noise_mode == 'const':
            noise = self.noise_const * (self.noise_strength * noise_scale)

        flip_weight = (self.up == 1)
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=flip_weight,
                             fused_modconv=fused_modconv)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 conv (no demodulation) to image channels."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * (kernel_size ** 2))

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(torch.nn.Module):
    """One resolution: [const | up-conv0] -> conv1 -> [torgb]; skip/orig/resnet wiring."""

    def __init__(self,
        in_channels,                # Input channels, 0 = first block (learned constant).
        out_channels,               # Output channels.
        w_dim,                      # W dimensionality.
        resolution,                 # Resolution of this block.
        img_channels,               # Output image channels.
        is_last,                    # Last block?
        architecture='skip',        # 'orig', 'skip' or 'resnet'.
        resample_filter=(1, 3, 3, 1),  # Low-pass filter for resampling.
        conv_clamp=None,            # Clamp activations to +-X, None = off.
        use_fp16=False,             # Run this block in fp16 (CUDA only)?
        fp16_channels_last=False,   # channels_last with fp16?
        fused_modconv_default=True, # Default fused_modconv; 'inference_only' = fused when not training.
        **layer_kwargs,             # Passed to SynthesisLayer.
    ):
        if architecture not in ('orig', 'skip', 'resnet'):
            raise ValueError(f'unknown architecture {architecture!r}')
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = (use_fp16 and fp16_channels_last)
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer('resample_filter', setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0

        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp,
                                        channels_last=self.channels_last, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, channels_last=self.channels_last, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == 'skip':
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == 'resnet':
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, update_emas=False,
                noise_scales=None, **layer_kwargs):
        # ws: [N, num_conv + num_torgb, w_dim]; noise_scales: per conv layer multipliers.
        w_iter = iter(ws.unbind(dim=1))
        n_iter = iter(noise_scales if noise_scales is not None else [1.0] * self.num_conv)
        if ws.device.type != 'cuda':
            force_fp32 = True
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == 'inference_only':
            fused_modconv = (not self.training)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=memory_format)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, noise_scale=next(n_iter), **layer_kwargs)
        elif self.architecture == 'resnet':
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, noise_scale=next(n_iter), **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=np.sqrt(0.5),
                           noise_scale=next(n_iter), **layer_kwargs)
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, noise_scale=next(n_iter), **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, noise_scale=next(n_iter), **layer_kwargs)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == 'skip':
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R]."""

    def __init__(self,
        w_dim,                  # W dimensionality.
        img_resolution,         # Output resolution (power of two).
        img_channels,           # Output channels.
        channel_base=32768,     # Overall multiplier for the number of channels.
        channel_max=512,        # Maximum channels in any layer.
        num_fp16_res=0,         # Use fp16 for the N highest resolutions (CUDA only).
        **block_kwargs,         # Passed to SynthesisBlock.
    ):
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0, 'img_resolution must be a power of 2'
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)

        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res // 2] if res > 4 else 0
            out_channels = channels_dict[res]
            use_fp16 = (res >= fp16_resolution)
            is_last = (res == self.img_resolution)
            block = SynthesisBlock(in_channels, out_channels, w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=is_last, use_fp16=use_fp16, **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f'b{res}', block)

    def fast_available(self) -> bool:
        """Does ``impl='auto'`` under ``torch.no_grad()`` render a full image on the fast path here?"""
        return fast_synthesis.available(self)

    def block_ws_slices(self):
        """[(res, start, count)]: which slice of ws each block reads (torgb shares the next conv's w)."""
        out = []
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f'b{res}')
            out.append((res, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return out

    def forward(self, ws, noise_scale=None, stop_at=None, impl='auto', **block_kwargs):
        """``noise_scale``: float or per-ws-index sequence; ``stop_at``: stop after that
        resolution and return the image accumulated so far (skip architecture preview).

        ``impl``: ``'auto'`` (default) renders under ``torch.no_grad()`` on the fast fp32 path
        (``explorer.engine.fast_synthesis``: the precomputed StyleGAN2 plan, max |difference|
        from the reference <= 1e-4 on [-1, 1] images on the CPU, measured ~1e-5) wherever it
        supports the call, else with the reference below; ``'ref'`` always renders with the
        reference, as does ``EXPLORER_KERNELS=ref``. With gradients enabled (or in train mode)
        it is always the differentiable reference."""
        fast_synthesis.check_impl(impl)
        img = fast_synthesis.try_render(self, ws, noise_scale=noise_scale, stop_at=stop_at, impl=impl,
                                        block_kwargs=block_kwargs)
        if img is not None:
            return img
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f'ws must be [N, {self.num_ws}, {self.w_dim}]'
        ws = ws.to(torch.float32)
        scales = per_layer_values(noise_scale, self.num_ws)
        x = img = None
        for res, start, count in self.block_ws_slices():
            block = getattr(self, f'b{res}')
            cur_ws = ws.narrow(1, start, count)
            first_conv = start
            block_scales = [scales[first_conv + i] for i in range(block.num_conv)]
            x, img = block(x, img, cur_ws, noise_scales=block_scales, **block_kwargs)
            if stop_at is not None and res >= stop_at:
                if img is None:  # orig/resnet have no intermediate image
                    raise ValueError(f'architecture {block.architecture!r} has no image before the last block')
                break
        return img



class Generator(torch.nn.Module):
    """StyleGAN2 generator: ``mapping`` (z, c -> ws) and ``synthesis`` (ws -> img).

    Accepts both official constructor layouts: stylegan2-ada-pytorch passes
    ``mapping_kwargs={...}, synthesis_kwargs={...}``; the stylegan3 repository passes
    the synthesis arguments as plain keyword arguments.
    """

    family = 'stylegan2'

    def __init__(self,
        z_dim,                  # Input latent (Z) dimensionality.
        c_dim,                  # Conditioning label (C) dimensionality.
        w_dim,                  # Intermediate latent (W) dimensionality.
        img_resolution,         # Output resolution.
        img_channels,           # Number of output colour channels.
        mapping_kwargs=None,    # Arguments for MappingNetwork.
        synthesis_kwargs=None,  # Arguments for SynthesisNetwork.
        **extra_synthesis_kwargs,  # stylegan3-repo layout: synthesis arguments inline.
    ):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        synthesis_kwargs.update(extra_synthesis_kwargs)
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                                synthesis_kwargs=synthesis_kwargs)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    @property
    def architecture(self) -> str:
        return getattr(self.synthesis, f'b{self.img_resolution}').architecture

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)

    def style_layers(self) -> list[StyleLayer]:
        """One entry per ws index: index i drives conv layer i (and the previous block's torgb)."""
        layers = []
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f'b{res}')
            if block.in_channels != 0:
                layers.append(StyleLayer(len(layers), res, 'up', block.conv0.use_noise))
            layers.append(StyleLayer(len(layers), res, 'conv', block.conv1.use_noise))
        layers.append(StyleLayer(len(layers), self.img_resolution, 'torgb', False))
        assert len(layers) == self.num_ws
        return layers

    def style_affine_weights(self) -> list[torch.Tensor]:
        """Per ws index, the weight [C, w_dim] of the affine that turns w into that layer's
        styles: conv layer i for index i, the last block's ToRGB for the last index."""
        weights = []
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f'b{res}')
            if block.in_channels != 0:
                weights.append(block.conv0.affine.weight)
            weights.append(block.conv1.affine.weight)
        weights.append(block.torgb.affine.weight)
        assert len(weights) == self.num_ws
        return [w.detach() for w in weights]

    def preview_resolutions(self) -> list[int]:
        """Resolutions at which synthesis can stop early and still give an image."""
        if self.architecture != 'skip':
            return [self.img_resolution]
        return list(self.synthesis.block_resolutions)


def selfcheck_generator(device):
    """A 32 px StyleGAN2 generator with seeded weights (global RNG untouched) and its ws: the
    small input of the 'render.<dtype>' first-use self-checks (``fast_render.register_selfchecks``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=3,
                      mapping_kwargs=dict(num_layers=1),
                      synthesis_kwargs=dict(channel_base=256, channel_max=16, architecture='skip'))
        with torch.no_grad():
            for name, p in G.named_parameters():
                if name.endswith('noise_strength'):
                    p.fill_(0.3)
        ws = G.mapping(torch.randn(1, G.z_dim), None)
    return G.eval().requires_grad_(False).to(device), ws.to(device)


fast_render.register_selfchecks(selfcheck_generator)
