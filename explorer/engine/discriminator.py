"""StyleGAN2 / StyleGAN2-ADA discriminator, written from the papers.

"Analyzing and Improving the Image Quality of StyleGAN" (Karras et al. 2020), Figure 7:
a residual discriminator that halves the resolution in every block, then a 4x4
epilogue with the minibatch standard deviation feature (Karras et al. 2018), one
3x3 conv, a dense layer and the output layer. With labels (ADA paper, conditional
configs) the output is a projection onto an embedding of the class label.

Module, parameter and buffer names and the constructor arguments follow the official
implementation (``b32.fromrgb.weight``, ``b32.conv0.weight``, ``b32.skip.weight``,
``b4.conv.weight``, ``b4.fc.weight``, ``b4.out.weight``, ``mapping.*``) so that an
official ``D``'s ``init_kwargs`` and tensors map onto these modules one to one.

Shapes: img [N, C, R, R], c [N, c_dim], output logits [N, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.engine.networks_stylegan2 import Conv2dLayer, FullyConnectedLayer, MappingNetwork
from kernels import downsample2d, setup_filter


class DiscriminatorBlock(torch.nn.Module):
    """One resolution: [fromrgb] -> conv0 (3x3) -> conv1 (3x3, down 2) (+ 1x1 down skip)."""

    def __init__(self,
        in_channels,                # Input feature channels, 0 = first block (reads the image).
        tmp_channels,               # Channels inside the block.
        out_channels,               # Output channels (at half the resolution).
        resolution,                 # Input resolution of this block.
        img_channels,               # Image colour channels.
        first_layer_idx,            # Index of this block's first layer (for freeze_layers).
        architecture='resnet',      # 'orig', 'skip' or 'resnet'.
        activation='lrelu',         # Activation function.
        resample_filter=(1, 3, 3, 1),  # Low-pass filter for downsampling.
        conv_clamp=None,            # Clamp conv outputs to +-X, None = off.
        use_fp16=False,             # Run this block in fp16 (CUDA only)?
        fp16_channels_last=False,   # channels_last with fp16?
        freeze_layers=0,            # Freeze-D: layers with index < this are frozen buffers.
    ):
        if in_channels not in (0, tmp_channels):
            raise ValueError(f'in_channels must be 0 or tmp_channels, got {in_channels}')
        if architecture not in ('orig', 'skip', 'resnet'):
            raise ValueError(f'unknown architecture {architecture!r}')
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.first_layer_idx = first_layer_idx
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = (use_fp16 and fp16_channels_last)
        self.register_buffer('resample_filter', setup_filter(list(resample_filter)))
        self.num_layers = 0

        def next_trainable():
            trainable = (self.first_layer_idx + self.num_layers) >= freeze_layers
            self.num_layers += 1
            return trainable

        common = dict(activation=activation, conv_clamp=conv_clamp, channels_last=self.channels_last)
        if in_channels == 0 or architecture == 'skip':
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=next_trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=next_trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, trainable=next_trainable(),
                                 resample_filter=resample_filter, **common)
        if architecture == 'resnet':
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=next_trainable(), resample_filter=resample_filter,
                                    channels_last=self.channels_last)

    def forward(self, x, img, force_fp32=False):
        if img is not None and img.device.type != 'cuda':
            force_fp32 = True
        if x is not None and x.device.type != 'cuda':
            force_fp32 = True
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format

        if x is not None:
            assert x.shape[1:] == (self.in_channels, self.resolution, self.resolution), tuple(x.shape)
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0 or self.architecture == 'skip':
            assert img.shape[1:] == (self.img_channels, self.resolution, self.resolution), tuple(img.shape)
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == 'skip' else None

        if self.architecture == 'resnet':
            # Residual branch and shortcut each scaled by 1/sqrt(2) to keep the variance.
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(torch.nn.Module):
    """Appends the average standard deviation over groups of samples as extra channels."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):  # [N, C, H, W] -> [N, C + num_channels, H, W]
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g != 0:
            raise ValueError(f'minibatch size {n} is not divisible by the mbstd group size {g}')
        f = self.num_channels
        # Sample k of group j is x[j * ... ]: official layout splits N as [G, N/G] (group index
        # varies slowest), so members of a group are n/g apart.
        y = x.reshape(g, -1, f, c // f, h, w)           # [G, n, F, c, H, W]
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()      # [n, F, c, H, W] stddev over each group
        y = y.mean(dim=[2, 3, 4])                       # [n, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)   # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self):
        return f'group_size={self.group_size}, num_channels={self.num_channels}'


class DiscriminatorEpilogue(torch.nn.Module):
    """4x4 head: [fromrgb] -> mbstd -> conv 3x3 -> fc -> out (projection with cmap if conditional)."""

    def __init__(self,
        in_channels,                # Input channels.
        cmap_dim,                   # Mapped label dimensionality, 0 = unconditional.
        resolution,                 # Resolution of this block (4).
        img_channels,               # Image colour channels.
        architecture='resnet',      # 'orig', 'skip' or 'resnet'.
        mbstd_group_size=4,         # Minibatch-stddev group size, None = whole minibatch.
        mbstd_num_channels=1,       # Minibatch-stddev features, 0 = off.
        activation='lrelu',         # Activation function.
        conv_clamp=None,            # Clamp conv outputs to +-X, None = off.
    ):
        if architecture not in ('orig', 'skip', 'resnet'):
            raise ValueError(f'unknown architecture {architecture!r}')
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == 'skip':
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap, force_fp32=False):
        assert x.shape[1:] == (self.in_channels, self.resolution, self.resolution), tuple(x.shape)
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == 'skip':
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)  # [N, 1] or [N, cmap_dim]
        if self.cmap_dim > 0:
            assert cmap is not None and cmap.shape[1] == self.cmap_dim
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(torch.nn.Module):
    """img [N, C, R, R] (+ c [N, c_dim]) -> logits [N, 1]."""

    def __init__(self,
        c_dim,                      # Conditioning label dimensionality, 0 = unconditional.
        img_resolution,             # Input resolution (power of two).
        img_channels,               # Image colour channels.
        architecture='resnet',      # 'orig', 'skip' or 'resnet'.
        channel_base=32768,         # Overall multiplier for the number of channels.
        channel_max=512,            # Maximum channels in any layer.
        num_fp16_res=0,             # Use fp16 for the N highest resolutions (CUDA only).
        conv_clamp=None,            # Clamp conv outputs to +-X, None = off.
        cmap_dim=None,              # Mapped label dimensionality, None = channels at 4x4.
        block_kwargs=None,          # Arguments for DiscriminatorBlock.
        mapping_kwargs=None,        # Arguments for the label MappingNetwork.
        epilogue_kwargs=None,       # Arguments for DiscriminatorEpilogue.
    ):
        if img_resolution < 4 or img_resolution & (img_resolution - 1) != 0:
            raise ValueError(f'img_resolution must be a power of two >= 4, got {img_resolution}')
        super().__init__()
        block_kwargs = dict(block_kwargs or {})
        mapping_kwargs = dict(mapping_kwargs or {})
        epilogue_kwargs = dict(epilogue_kwargs or {})
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                                block_kwargs=block_kwargs, mapping_kwargs=mapping_kwargs,
                                epilogue_kwargs=epilogue_kwargs)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels_dict[4]
        if c_dim == 0:
            cmap_dim = 0

        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels_dict[res] if res < img_resolution else 0,  # in_channels
                channels_dict[res],                                  # tmp_channels
                channels_dict[res // 2],                             # out_channels
                resolution=res, first_layer_idx=layer_idx, use_fp16=(res >= fp16_resolution),
                **block_kwargs, **common)
            setattr(self, f'b{res}', block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(channels_dict[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs, **common)

    def forward(self, img, c=None, **block_kwargs):
        assert img.ndim == 4 and img.shape[1:] == (self.img_channels, self.img_resolution, self.img_resolution), \
            (f'img must be [N, {self.img_channels}, {self.img_resolution}, {self.img_resolution}], '
             f'got {tuple(img.shape)}')
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f'b{res}')(x, img, **block_kwargs)
        cmap = None
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f'this discriminator is conditional: c must be [N, {self.c_dim}]')
            cmap = self.mapping(None, c)
        return self.b4(x, img, cmap)
