"""What the layer inspector shows of a feature map (numpy only: no torch, no Qt; the UI may import it).

A captured layer output is a float array ``x`` [C, H, W] (one sample). The inspector shows
one of three views of it:

- ``'mean'``: the mean over channels [H, W];
- ``'channel'``: one channel [H, W];
- ``'pca'``: the top three principal components of the channels (pixels are the samples,
  channels the variables) as R, G and B [H, W, 3], the strongest in red.

then maps it to [0, 1] (``normalize='image'``: the image's own min..max, per colour for PCA;
``'fixed'``: a given range, clipped), optionally in dB (20 log10 |v|) first.

With ``fft`` on, the view is the centred magnitude spectrum instead (DC in the middle,
log scale, as in the StyleGAN3 paper's spectra): of the channel for ``'channel'``, else the
mean over channels of each channel's spectrum (the layer's spectrum; PCA has no spectrum of
its own). A window (``'hann'`` or ``'none'``) tapers each map first, so the image borders do
not smear the spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODES = ('mean', 'channel', 'pca')
NORMALIZE = ('image', 'fixed')
SCALES = ('linear', 'db')
WINDOWS = ('hann', 'none')
DB_FLOOR = 1e-6             # |v| below this reads as -120 dB


@dataclass(frozen=True)
class LayerInfo:
    """One synthesis layer the inspector can show (plain data)."""
    name: str               # module path under G.synthesis, e.g. 'b64.conv1'
    kind: str               # 'const', 'conv', 'up', 'torgb', 'input', 'layer', ...
    height: int             # output feature map size
    width: int
    channels: int
    clamp: float | None = None      # the layer clamps its output to +-clamp (None: never)

    @property
    def label(self) -> str:
        """e.g. 'b64.conv1 64x64 x256'."""
        return f'{self.name} {self.height}x{self.width} x{self.channels}'


@dataclass(frozen=True)
class InspectOptions:
    """How to show a layer (hashable: the worker skips a request equal to the last)."""
    mode: str = 'mean'          # MODES
    channel: int = 0            # for mode 'channel'
    normalize: str = 'image'    # NORMALIZE
    lo: float = -1.0            # range for normalize 'fixed' (in dB when scale is 'db')
    hi: float = 1.0
    scale: str = 'linear'       # SCALES
    fft: bool = False
    window: str = 'hann'        # WINDOWS

    def __post_init__(self):
        for name, allowed in (('mode', MODES), ('normalize', NORMALIZE), ('scale', SCALES), ('window', WINDOWS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f'{name} must be one of {allowed}, got {getattr(self, name)!r}')
        if self.normalize == 'fixed' and not self.hi > self.lo:
            raise ValueError(f'the fixed range needs lo < hi, got {self.lo}..{self.hi}')

    def replace(self, **kw) -> 'InspectOptions':
        d = dict(self.__dict__)
        d.update(kw)
        return InspectOptions(**d)


@dataclass
class Inspection:
    """What the inspector shows for one layer of one recipe."""
    layer: LayerInfo
    options: InspectOptions
    image: np.ndarray           # uint8 [H, W, 3] to display
    values: np.ndarray          # float32 [H, W] or [H, W, 3]: the value under each pixel (pixel readout)
    stats: dict                 # statistics of the raw layer output (see ``statistics``)
    timings: dict = field(default_factory=dict)
    recipe: object = None       # the recipe it was captured for
    request_id: int = 0


# ---------------------------------------------------------------------- views of [C, H, W]
def _check(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or min(x.shape) < 1:
        raise ValueError(f'a feature map must be [C, H, W], got {list(x.shape)}')
    return x


def channel_mean(x) -> np.ndarray:
    """[C, H, W] -> [H, W] mean over channels."""
    return _check(x).mean(axis=0)


def one_channel(x, c: int) -> np.ndarray:
    """[C, H, W] -> [H, W] channel ``c`` (IndexError when out of range)."""
    x = _check(x)
    if not 0 <= int(c) < x.shape[0]:
        raise IndexError(f'channel {c} out of range: this layer has channels 0..{x.shape[0] - 1}')
    return x[int(c)]


def pca_rgb(x, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The top-``k`` principal components of the channels of ``x`` [C, H, W] as [H, W, k] maps
    (component scores per pixel), and the fraction of the variance each explains [k].

    Pixels are samples, channels variables; each channel is centred first. Eigenvectors come
    from the C x C covariance (cheap for C <= 512 at any resolution). Signs are fixed so that
    each component's largest loading is positive (the same input always gives the same
    colours). Fewer than ``k`` channels: the missing components are zero."""
    x = _check(x)
    C, H, W = x.shape
    X = x.reshape(C, H * W).astype(np.float64)
    X -= X.mean(axis=1, keepdims=True)
    cov = X @ X.T / max(H * W - 1, 1)                    # [C, C]
    evals, evecs = np.linalg.eigh(cov)                   # ascending
    order = np.argsort(evals)[::-1][:k]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]     # [k'], [C, k']
    big = np.argmax(np.abs(evecs), axis=0)
    evecs = evecs * np.sign(evecs[big, np.arange(evecs.shape[1])])
    scores = (evecs.T @ X).T.reshape(H, W, -1)           # [H, W, k']
    total = float(np.clip(np.linalg.eigvalsh(cov), 0, None).sum())
    frac = evals / total if total > 0 else np.zeros_like(evals)
    if scores.shape[2] < k:
        scores = np.concatenate([scores, np.zeros((H, W, k - scores.shape[2]))], axis=2)
        frac = np.concatenate([frac, np.zeros(k - len(frac))])
    return scores.astype(np.float32), frac.astype(np.float32)


def to_db(v) -> np.ndarray:
    """20 log10 |v| (amplitude dB), |v| floored at DB_FLOOR."""
    return (20.0 * np.log10(np.maximum(np.abs(np.asarray(v, dtype=np.float64)), DB_FLOOR))).astype(np.float32)


def normalize(v, mode: str = 'image', lo: float = -1.0, hi: float = 1.0, per_colour: bool = True) -> np.ndarray:
    """Map ``v`` ([H, W] or [H, W, 3]) to [0, 1]: its own min..max (``'image'``; per colour
    channel of an [H, W, 3] when ``per_colour``; a constant map reads 0.5) or ``lo..hi``
    (``'fixed'``, clipped)."""
    v = np.asarray(v, dtype=np.float32)
    if mode == 'fixed':
        return np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    if mode != 'image':
        raise ValueError(f'normalize must be one of {NORMALIZE}, got {mode!r}')
    axes = (0, 1) if (v.ndim == 3 and per_colour) else None
    vmin = v.min(axis=axes, keepdims=axes is not None)
    vmax = v.max(axis=axes, keepdims=axes is not None)
    span = vmax - vmin
    out = (v - vmin) / np.where(span > 0, span, 1.0)
    return np.where(span > 0, out, 0.5).astype(np.float32)


def window_2d(h: int, w: int, kind: str = 'hann') -> np.ndarray:
    """[h, w] separable window: ``'hann'`` (periodic, so an integer number of cycles stays a
    clean peak) or ``'none'`` (ones)."""
    if kind == 'none':
        return np.ones((h, w), np.float64)
    if kind != 'hann':
        raise ValueError(f'window must be one of {WINDOWS}, got {kind!r}')
    def hann(n):
        return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n) if n > 1 else np.ones(1)
    return np.outer(hann(h), hann(w))


def fft_magnitude(maps, window: str = 'hann') -> np.ndarray:
    """Centred magnitude spectrum of ``maps`` ([H, W] or [C, H, W]: the mean over C of each
    map's magnitude): [H, W] float32, DC at (H // 2, W // 2); a sinusoid with k cycles across
    the width peaks at columns W // 2 +- k. Linear magnitude: take ``log_spectrum`` to show it."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f'expected [H, W] or [C, H, W], got {list(m.shape)}')
    win = window_2d(m.shape[1], m.shape[2], window)
    spec = np.abs(np.fft.fft2(m * win, axes=(1, 2))).mean(axis=0)
    return np.fft.fftshift(spec).astype(np.float32)


def log_spectrum(mag) -> np.ndarray:
    """Magnitude -> dB relative to its peak (0 dB at the peak, floored at -120 dB)."""
    mag = np.asarray(mag, dtype=np.float64)
    peak = float(mag.max()) if mag.size else 0.0
    if peak <= 0:
        return np.full(mag.shape, -120.0, np.float32)
    return to_db(mag / peak)


def statistics(x, clamp: float | None = None) -> dict:
    """mean, std, min, max over every value of ``x``; ``clamped``: the fraction at or beyond
    +-clamp (0.0 when the layer does not clamp)."""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x)
    return {'mean': float(x.mean()), 'std': float(x.std()), 'min': float(x.min()), 'max': float(x.max()),
            'clamped': float((a >= clamp * (1 - 1e-6)).mean()) if clamp else 0.0}


# ---------------------------------------------------------------------- colour
# A dark-to-bright ramp for spectra (black, purple, orange, pale yellow); stops chosen by eye.
_RAMP = np.array([[0, 0, 0], [60, 15, 110], [190, 55, 80], [250, 160, 40], [252, 252, 190]], np.float32)


def colour_ramp(u) -> np.ndarray:
    """[H, W] in [0, 1] -> uint8 [H, W, 3] along _RAMP."""
    u = np.clip(np.asarray(u, dtype=np.float32), 0, 1) * (len(_RAMP) - 1)
    i = np.minimum(u.astype(np.int32), len(_RAMP) - 2)
    t = (u - i)[..., None]
    return np.rint(_RAMP[i] * (1 - t) + _RAMP[i + 1] * t).astype(np.uint8)


def _to_uint8_rgb(u) -> np.ndarray:
    u = np.rint(np.clip(u, 0, 1) * 255).astype(np.uint8)
    return np.repeat(u[..., None], 3, axis=2) if u.ndim == 2 else u


def view(x, options: InspectOptions) -> tuple[np.ndarray, np.ndarray]:
    """The picture of ``x`` [C, H, W] for ``options``: -> (uint8 [H, W, 3], values) where values
    ([H, W] or [H, W, 3] float32) is what each pixel shows before the mapping to grey levels
    (activation, PCA score, dB, or spectrum dB)."""
    x = _check(x)
    o = options
    if o.fft:
        src = one_channel(x, o.channel) if o.mode == 'channel' else x
        values = log_spectrum(fft_magnitude(src, o.window))
        u = normalize(values, o.normalize, o.lo, o.hi) if o.normalize == 'fixed' \
            else np.clip((values + 80.0) / 80.0, 0, 1)      # 80 dB of dynamic range below the peak
        return colour_ramp(u), values
    if o.mode == 'pca':
        values, _ = pca_rgb(x)
    elif o.mode == 'channel':
        values = one_channel(x, o.channel)
    else:
        values = channel_mean(x)
    if o.scale == 'db':
        values = to_db(values)
    return _to_uint8_rgb(normalize(values, o.normalize, o.lo, o.hi)), values


def inspect_array(x, layer: LayerInfo, options: InspectOptions, **extra) -> Inspection:
    """``view`` plus ``statistics``: the whole Inspection of a captured output ``x`` [C, H, W]."""
    image, values = view(x, options)
    return Inspection(layer=layer, options=options, image=image, values=values,
                      stats=statistics(x, layer.clamp), **extra)
