"""StyleGAN3 generator (configs T and R), written from the paper.

"Alias-Free Generative Adversarial Networks" (Karras et al. 2021). The synthesis
network starts from Fourier features whose frequencies are rotated/translated by a
learned per-sample transform (times a user transform, ``synthesis.input.transform``)
and then runs a stack of layers, each a modulated convolution followed by a filtered
leaky ReLU (upsample with a windowed-sinc low-pass, nonlinearity, low-pass and
downsample). Config R uses 1x1 convolutions and radially symmetric (jinc) downsampling
filters in the non-critically-sampled layers.

Module, parameter and buffer names and constructor arguments follow the official
ones (``mapping.fc0.weight``, ``synthesis.input.freqs``, ``synthesis.L3_52_512.up_filter``
...), so an official checkpoint's ``init_kwargs`` and tensors map onto these modules
directly. The low-pass filters are designed here in numpy (no SciPy): a Kaiser-windowed
sinc with the window's beta from Kaiser's empirical formulas, normalised to unit DC
gain, and a Kaiser-windowed jinc for the radial case.

Shapes: z [N, z_dim], c [N, c_dim], ws [N, num_ws, w_dim], img [N, C, H, W].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explorer.engine import networks_stylegan2 as _sg2
from explorer.engine.fast_plan import few_samples_on_cpu
from explorer.engine.fast_sg3 import plan_for
from explorer.engine.layers import StyleLayer
from kernels import forced_ref
from kernels.filtered_lrelu import filtered_lrelu

NOISE_MODES = ('const', 'random', 'none')
IMPLS = ('auto', 'ref')


# ----------------------------------------------------------------------------
# Filter design (float64 numpy, cast to float32 at the end).

def kaiser_atten(numtaps, width):
    """Kaiser's estimate of the stop-band attenuation (dB) of a ``numtaps`` filter whose
    transition band is ``width`` (as a fraction of Nyquist)."""
    return 2.285 * (numtaps - 1) * np.pi * width + 7.95


def kaiser_beta(atten):
    """Kaiser's empirical window parameter beta for an attenuation ``atten`` in dB."""
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def bessel_j1(x):
    """Bessel function of the first kind, order one, in float64 (numpy array in, out).

    Uses Bessel's integral J1(x) = (1/2pi) * integral over one period of
    cos(t - x sin t) dt. The integrand is smooth and periodic, so the trapezoidal rule
    converges geometrically; its error is the aliased orders J_{1 +- N}(x), negligible
    once N is comfortably larger than |x|.
    """
    x = np.asarray(x, dtype=np.float64)
    xmax = float(np.max(np.abs(x))) if x.size else 0.0
    n = int(2 * math.ceil(xmax)) + 64
    t = np.arange(n, dtype=np.float64) * (2 * np.pi / n)
    vals = np.cos(t[None, :] - x.reshape(-1, 1) * np.sin(t)[None, :])
    return (vals.sum(axis=1) / n).reshape(x.shape)


def firwin_lowpass(numtaps, cutoff, width, fs):
    """Windowed-sinc low-pass (``scipy.signal.firwin`` with ``width`` set, no SciPy).

    Ideal low-pass impulse response at the normalised cutoff, times a symmetric Kaiser
    window whose beta comes from ``kaiser_beta(kaiser_atten(...))``, scaled to sum to 1.
    Returns float64 [numtaps].
    """
    nyq = 0.5 * fs
    c = cutoff / float(nyq)
    beta = kaiser_beta(kaiser_atten(numtaps, float(width) / nyq))
    m = np.arange(0, numtaps) - 0.5 * (numtaps - 1)
    h = c * np.sinc(c * m)
    h = h * np.kaiser(numtaps, beta)
    return h / np.sum(h)


def jinc_lowpass(numtaps, cutoff, width, fs):
    """Radially symmetric low-pass: jinc (2-D ideal disc response) times a separable
    Kaiser window, scaled to sum to 1. Returns float64 [numtaps, numtaps]."""
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    pr = np.pi * r
    with np.errstate(divide='ignore', invalid='ignore'):
        f = bessel_j1(2 * cutoff * pr) / pr
    f = np.where(r == 0, cutoff, f)  # limit of J1(2 pi c r) / (pi r) at r = 0
    beta = kaiser_beta(kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    return f / np.sum(f)


def design_lowpass_filter(numtaps, cutoff, width, fs, radial=False):
    """float32 filter tensor, or None for the identity (``numtaps == 1``)."""
    assert numtaps >= 1
    if numtaps == 1:
        return None
    f = jinc_lowpass(numtaps, cutoff, width, fs) if radial else firwin_lowpass(numtaps, cutoff, width, fs)
    return torch.as_tensor(f, dtype=torch.float32)


def _plain(value):
    """numpy scalars/arrays -> Python numbers/lists, so init_kwargs stay JSON-able."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ----------------------------------------------------------------------------
# Modulated convolution (StyleGAN3 variant).

def modulated_conv2d(
    x,                  # [N, I, H, W] input.
    w,                  # [O, I, kh, kw] weight.
    s,                  # [N, I] styles.
    demodulate=True,    # Demodulate (and pre-normalise weight and styles)?
    padding=0,          # Conv padding.
    input_gain=None,    # [], [I] or [N, I] per-input-channel scale, applied to the weight.
):
    """Per-sample modulated conv as one grouped conv.

    Unlike StyleGAN2's, with demodulation the weight is first normalised by its RMS per
    output channel and the styles by their overall RMS, and an optional input gain
    (StyleGAN3's 1/sqrt(magnitude_ema)) is folded into the weight after demodulation.
    """
    batch_size = int(x.shape[0])
    out_channels, in_channels, kh, kw = w.shape
    assert x.ndim == 4 and x.shape[1] == in_channels, (tuple(x.shape), tuple(w.shape))
    assert s.shape == (batch_size, in_channels), (tuple(s.shape), batch_size, in_channels)

    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()

    w = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)  # [N, O, I, kh, kw]
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
        w = w * d.unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        g = input_gain.expand(batch_size, in_channels)  # [N, I]
        w = w * g.unsqueeze(1).unsqueeze(3).unsqueeze(4)

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = torch.nn.functional.conv2d(x, w.to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


# ----------------------------------------------------------------------------

class FullyConnectedLayer(_sg2.FullyConnectedLayer):
    """Dense layer with equalized learning rate; StyleGAN3 flavour (weight_init, vector bias_init,
    bias stored divided by lr_multiplier). The forward pass is StyleGAN2's."""

    def __init__(self,
        in_features,            # Number of input features.
        out_features,           # Number of output features.
        activation='linear',    # 'linear', 'lrelu', ...
        bias=True,              # Additive bias before the activation?
        lr_multiplier=1,        # Learning-rate multiplier (equalized lr).
        weight_init=1,          # Initial weight standard deviation.
        bias_init=0,            # Initial bias: scalar or [out_features].
    ):
        torch.nn.Module.__init__(self)  # own parameter set-up below, not StyleGAN2's
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        b0 = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
        self.bias = torch.nn.Parameter(torch.from_numpy(b0 / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier


class MappingNetwork(torch.nn.Module):
    """z (+ class embedding) -> ws [N, num_ws, w_dim], tracking ``w_avg`` for truncation."""

    def __init__(self,
        z_dim,                  # Input latent (Z) dimensionality.
        c_dim,                  # Conditioning label (C) dimensionality, 0 = none.
        w_dim,                  # Intermediate latent (W) dimensionality.
        num_ws,                 # Number of ws to broadcast to.
        num_layers=2,           # Number of mapping layers.
        lr_multiplier=0.01,     # Learning-rate multiplier for the mapping layers.
        w_avg_beta=0.998,       # Decay of the tracked w average.
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f'fc{idx}', FullyConnectedLayer(features[idx], features[idx + 1], activation='lrelu',
                                                          lr_multiplier=lr_multiplier))
        self.register_buffer('w_avg', torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        with few_samples_on_cpu(z):
            return self._forward(z, c, truncation_psi, truncation_cutoff, update_emas)

    def _forward(self, z, c, truncation_psi, truncation_cutoff, update_emas):
        assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, f'z must be [N, {self.z_dim}]'
        if truncation_cutoff is None:
            truncation_cutoff = self.num_ws
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f'this model is conditional: c must be [N, {self.c_dim}]')
            y = self.embed(c.to(torch.float32))
            y = y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self):
        return f'z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}'


def input_transform_matrix(translate=(0.0, 0.0), rotate_deg=0.0):
    """The matrix written into ``synthesis.input.transform`` for an image translated by
    ``translate`` (in image widths/heights: 1.0 shifts by the whole image, the unit of
    NVIDIA's gen_images.py and visualizer) and rotated by ``rotate_deg`` degrees: the
    inverse of [[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]]. float64 numpy [3, 3]."""
    a = float(rotate_deg) / 360.0 * np.pi * 2
    m = np.eye(3)
    m[0, 0] = np.cos(a)
    m[0, 1] = np.sin(a)
    m[0, 2] = float(translate[0])
    m[1, 0] = -np.sin(a)
    m[1, 1] = np.cos(a)
    m[1, 2] = float(translate[1])
    return np.linalg.inv(m)


class SynthesisInput(torch.nn.Module):
    """Fourier features on a [size, size] grid, with a learned per-sample rotation and
    translation (from w) composed with the user transform ``transform``."""

    def __init__(self,
        w_dim,          # W dimensionality.
        channels,       # Output channels (number of Fourier features).
        size,           # Output spatial size: int or [width, height].
        sampling_rate,  # Output sampling rate.
        bandwidth,      # Output bandwidth (radius of the frequency disc).
    ):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth

        # Frequencies: Gaussian directions with radii remapped so that they fill a disc
        # of radius `bandwidth`; phases uniform in [-0.5, 0.5).
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([channels]) - 0.5

        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer('transform', torch.eye(3, 3))  # inverse user transform of the image
        self.register_buffer('freqs', freqs)
        self.register_buffer('phases', phases)

    def set_transform(self, translate=(0.0, 0.0), rotate_deg=0.0):
        """Translate/rotate the generated image the way NVIDIA's visualizer does."""
        m = input_transform_matrix(translate, rotate_deg)
        with torch.no_grad():
            self.transform.copy_(torch.from_numpy(m))

    def reset_transform(self):
        with torch.no_grad():
            self.transform.copy_(torch.eye(3, 3))

    def forward(self, w):  # [N, w_dim] -> [N, channels, H, W]
        n = w.shape[0]
        transforms = self.transform.unsqueeze(0)  # [1, 3, 3]
        freqs = self.freqs.unsqueeze(0)           # [1, C, 2]
        phases = self.phases.unsqueeze(0)         # [1, C]

        # Learned similarity transform: t = (cos, sin, tx, ty), rotation part normalised.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])  # inverse rotation
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])  # inverse translation
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ transforms  # [N, 3, 3]

        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]

        # Fade out frequencies pushed beyond the band by the user transform.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grids = torch.nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])],
                                                align_corners=False)  # [1, H, W, 2]

        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)

        weight = self.weight / np.sqrt(self.channels)
        x = x @ weight.t()
        x = x.permute(0, 3, 1, 2)  # [N, C, H, W]
        assert x.shape == (n, self.channels, int(self.size[1]), int(self.size[0]))
        return x

    def extra_repr(self):
        return (f'w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, '
                f'sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}')


class SynthesisLayer(torch.nn.Module):
    """Modulated conv -> bias -> filtered leaky ReLU (up-filter, lrelu, down-filter) -> clamp."""

    def __init__(self,
        w_dim,                      # W dimensionality.
        is_torgb,                   # Final ToRGB layer (1x1 conv, no demodulation, linear)?
        is_critically_sampled,      # Critically sampled layer (no radial filter)?
        use_fp16,                   # Run in fp16 (CUDA only)?
        in_channels,                # Input channels.
        out_channels,               # Output channels.
        in_size,                    # Input spatial size: int or [width, height].
        out_size,                   # Output spatial size: int or [width, height].
        in_sampling_rate,           # Input sampling rate.
        out_sampling_rate,          # Output sampling rate.
        in_cutoff,                  # Input cutoff frequency f_c.
        out_cutoff,                 # Output cutoff frequency f_c.
        in_half_width,              # Input transition band half-width f_h.
        out_half_width,             # Output transition band half-width f_h.
        conv_kernel=3,              # Conv kernel size (ToRGB uses 1).
        filter_size=6,              # Low-pass taps per sample of the lower rate.
        lrelu_upsampling=2,         # Oversampling for the nonlinearity (ToRGB: none).
        use_radial_filters=False,   # Radial downsampling filter (not in critically sampled layers)?
        conv_clamp=256,             # Clamp outputs to +-X, None = off.
        magnitude_ema_beta=0.999,   # Decay of the input magnitude average.
    ):
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff = in_cutoff
        self.out_cutoff = out_cutoff
        self.in_half_width = in_half_width
        self.out_half_width = out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer('magnitude_ema', torch.ones([]))

        # Upsampling filter (input cutoff, at the temporary rate).
        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        assert in_sampling_rate * self.up_factor == self.tmp_sampling_rate
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer('up_filter', design_lowpass_filter(
            numtaps=self.up_taps, cutoff=in_cutoff, width=in_half_width * 2, fs=self.tmp_sampling_rate))

        # Downsampling filter (output cutoff), radial for config R's non-critical layers.
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        assert out_sampling_rate * self.down_factor == self.tmp_sampling_rate
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer('down_filter', design_lowpass_filter(
            numtaps=self.down_taps, cutoff=out_cutoff, width=out_half_width * 2, fs=self.tmp_sampling_rate,
            radial=self.down_radial))

        # Padding so that the output has out_size samples, centred as in the paper's
        # symmetric interpretation of sample positions (Appendix C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x, w, noise_mode='random', force_fp32=False, update_emas=False, **_ignored):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        assert x.shape[1:] == (self.in_channels, int(self.in_size[1]), int(self.in_size[0])), \
            (tuple(x.shape), self.in_channels, list(self.in_size))
        assert w.shape == (x.shape[0], self.w_dim), (tuple(w.shape), self.w_dim)

        if update_emas:
            magnitude_cur = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude_cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()

        styles = self.affine(w)  # [N, I]
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * (self.conv_kernel ** 2)))

        use_half = self.use_fp16 and not force_fp32 and x.device.type == 'cuda'
        dtype = torch.float16 if use_half else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=input_gain)

        gain = 1 if self.is_torgb else np.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        x = filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype),
                           up=self.up_factor, down=self.down_factor, padding=self.padding,
                           gain=gain, slope=slope, clamp=self.conv_clamp)

        assert x.shape[1:] == (self.out_channels, int(self.out_size[1]), int(self.out_size[0]))
        assert x.dtype == dtype
        return x

    def extra_repr(self):
        return (f'is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, '
                f'use_fp16={self.use_fp16}, in_sampling_rate={self.in_sampling_rate:g}, '
                f'out_sampling_rate={self.out_sampling_rate:g}, in_cutoff={self.in_cutoff:g}, '
                f'out_cutoff={self.out_cutoff:g}, in_size={list(self.in_size)}, out_size={list(self.out_size)}, '
                f'in_channels={self.in_channels}, out_channels={self.out_channels}')


def layer_schedule(img_resolution, img_channels, channel_base=32768, channel_max=512, num_layers=14,
                   num_critical=2, first_cutoff=2, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3,
                   margin_size=10):
    """Per-layer cutoffs, stopbands, sampling rates, transition half-widths, sizes and
    channel counts (float64 arrays of length num_layers + 1), as in the paper: cutoffs
    and stopbands grow geometrically until the last ``num_critical`` layers."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return dict(cutoffs=cutoffs, stopbands=stopbands, sampling_rates=sampling_rates, half_widths=half_widths,
                sizes=sizes, channels=channels)


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R]. ws[0] drives the input,
    ws[i + 1] drives layer L{i}; the last layer is ToRGB."""

    def __init__(self,
        w_dim,                      # W dimensionality.
        img_resolution,             # Output resolution.
        img_channels,               # Output channels.
        channel_base=32768,         # Overall multiplier for the number of channels.
        channel_max=512,            # Maximum channels in any layer.
        num_layers=14,              # Layers excluding the Fourier input and ToRGB.
        num_critical=2,             # Critically sampled layers at the end.
        first_cutoff=2,             # Cutoff of the first layer, f_{c,0}.
        first_stopband=2 ** 2.1,    # Minimum stopband of the first layer, f_{t,0}.
        last_stopband_rel=2 ** 0.3, # Minimum stopband of the last layer, relative to its cutoff.
        margin_size=10,             # Extra pixels computed outside the image.
        output_scale=0.25,          # Output image scale factor.
        num_fp16_res=4,             # fp16 for the N highest resolutions (CUDA only).
        **layer_kwargs,             # Passed to SynthesisLayer.
    ):
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale
        self.num_fp16_res = num_fp16_res

        sched = layer_schedule(img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max,
                               num_layers=num_layers, num_critical=num_critical, first_cutoff=first_cutoff,
                               first_stopband=first_stopband, last_stopband_rel=last_stopband_rel,
                               margin_size=margin_size)
        cutoffs, sampling_rates = sched['cutoffs'], sched['sampling_rates']
        half_widths, sizes, channels = sched['half_widths'], sched['sizes'], sched['channels']

        self.input = SynthesisInput(w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=sampling_rates[0], bandwidth=cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim,
                is_torgb=(idx == num_layers),
                is_critically_sampled=(idx >= num_layers - num_critical),
                use_fp16=bool(sampling_rates[idx] * (2 ** num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx],
                **layer_kwargs)
            name = f'L{idx}_{layer.out_size[0]}_{layer.out_channels}'
            setattr(self, name, layer)
            self.layer_names.append(name)

    def fast_available(self) -> bool:
        """Does ``impl='auto'`` under ``torch.no_grad()`` render a recipe of this network with the
        CPU inference plan here (what a recipe's 'auto' resolves to: 'fast' or 'ref')?"""
        return not forced_ref() and next(self.parameters()).device.type == 'cpu'

    def use_fast(self, ws, impl='auto', update_emas=False) -> bool:
        """Does ``forward`` take the CPU inference plan (``explorer.engine.fast_sg3``)?
        Only for ``impl='auto'``, without gradients, outside ``EXPLORER_KERNELS=ref``, without
        ``update_emas`` and on the CPU (CUDA keeps its fp16 layers and Triton kernels), and
        while no layer has a forward hook that wants its output (``engine.inspect``); forward
        pre-hooks (``engine.interrupt``) are called by the plan before each layer."""
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        return (impl == 'auto' and not torch.is_grad_enabled() and not forced_ref() and not update_emas
                and ws.device.type == 'cpu'
                and not any(getattr(self, name)._forward_hooks for name in self.layer_names))

    def forward(self, ws, noise_mode='const', force_fp32=False, update_emas=False, impl='auto', **_ignored):
        """Extra kwargs the other families take (noise_scale, noise_generator,
        fused_modconv, ...) are accepted and ignored: StyleGAN3 has no noise inputs.

        ``impl='auto'``: under ``torch.no_grad()`` on a CPU, the precomputed inference plan
        (``explorer.engine.fast_sg3``: polyphase filtered leaky ReLU, NNPACK convolutions;
        the reference to float rounding: max abs difference 8e-7, 142 dB at 256 px; ~6x
        faster than the reference; same bits for a sample whatever its batch position);
        otherwise, and with ``impl='ref'``, the reference below (differentiable)."""
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f'ws must be [N, {self.num_ws}, {self.w_dim}]'
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        if self.use_fast(ws, impl, update_emas):
            return plan_for(self).run(ws)
        if ws.device.type != 'cuda':
            force_fp32 = True
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        assert x.shape[1:] == (self.img_channels, self.img_resolution, self.img_resolution)
        return x.to(torch.float32)

    def extra_repr(self):
        return (f'w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, '
                f'img_channels={self.img_channels}, num_layers={self.num_layers}, '
                f'num_critical={self.num_critical}, margin_size={self.margin_size}, num_fp16_res={self.num_fp16_res}')


class Generator(torch.nn.Module):
    """StyleGAN3 generator: ``mapping`` (z, c -> ws) and ``synthesis`` (ws -> img).

    Takes the official layout (synthesis arguments as plain keyword arguments) and
    also a ``synthesis_kwargs=`` dict.
    """

    family = 'stylegan3'

    def __init__(self,
        z_dim,                  # Input latent (Z) dimensionality.
        c_dim,                  # Conditioning label (C) dimensionality.
        w_dim,                  # Intermediate latent (W) dimensionality.
        img_resolution,         # Output resolution.
        img_channels,           # Number of output colour channels.
        mapping_kwargs=None,    # Arguments for MappingNetwork.
        synthesis_kwargs=None,  # Arguments for SynthesisNetwork (alternative to the inline form).
        **extra_synthesis_kwargs,  # Official layout: synthesis/layer arguments inline.
    ):
        super().__init__()
        mapping_kwargs = _plain(dict(mapping_kwargs or {}))
        synthesis_kwargs = dict(synthesis_kwargs or {})
        synthesis_kwargs.update(extra_synthesis_kwargs)
        synthesis_kwargs = _plain(synthesis_kwargs)
        self.init_kwargs = dict(z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim),
                                img_resolution=int(img_resolution), img_channels=int(img_channels),
                                mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.synthesis = SynthesisNetwork(w_dim=self.w_dim, img_resolution=self.img_resolution,
                                          img_channels=self.img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                                      **mapping_kwargs)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)

    def set_input_transform(self, translate=(0.0, 0.0), rotate_deg=0.0):
        """Translate (fractions of the image, as NVIDIA's tools) and rotate (degrees) the output."""
        self.synthesis.input.set_transform(translate=translate, rotate_deg=rotate_deg)

    def style_layers(self) -> list[StyleLayer]:
        """ws[0] -> the Fourier input, ws[i + 1] -> layer L{i}; the last drives ToRGB.

        ``resolution`` is the detail scale the style controls: twice the layer's output
        cutoff frequency rounded up to a power of two (capped at the image size). Cutoffs
        grow geometrically from 2 to img_resolution / 2 through the network, so the
        paper's coarse / middle / fine grouping (<= 8, 16-32, >= 64) stays meaningful;
        the padded feature-map sizes (e.g. 36..1044) would put every layer in 'fine'.
        """
        def scale(cutoff):
            r = 2 ** int(np.ceil(np.log2(max(2.0 * float(cutoff), 1.0))))
            return int(min(r, self.img_resolution))

        first = getattr(self.synthesis, self.synthesis.layer_names[0])
        layers = [StyleLayer(0, scale(first.in_cutoff), 'input', False)]
        for name in self.synthesis.layer_names:
            layer = getattr(self.synthesis, name)
            kind = 'torgb' if layer.is_torgb else 'layer'
            layers.append(StyleLayer(len(layers), scale(layer.out_cutoff), kind, False))
        assert len(layers) == self.num_ws
        return layers

    def style_affine_weights(self) -> list[torch.Tensor]:
        """Per ws index, the weight [C, w_dim] of its affine: the Fourier input's (4 outputs:
        rotation and translation) for index 0, then each layer's, the last ToRGB's last."""
        weights = [self.synthesis.input.affine.weight]
        weights += [getattr(self.synthesis, name).affine.weight for name in self.synthesis.layer_names]
        assert len(weights) == self.num_ws
        return [w.detach() for w in weights]

    def preview_resolutions(self) -> list[int]:
        return [self.img_resolution]
