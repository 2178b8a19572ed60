"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", appendix B).

``AugmentPipe`` transforms every image D sees, reals and fakes alike. Each augmentation
is applied to each sample independently with probability ``p * multiplier``; the
training loop raises or lowers the scalar buffer ``p`` from the sign of D's outputs on
reals (see ``explorer.training.loop``). With ``p`` small enough the augmentations do
not "leak" into G: each one is invertible in distribution, so G still has to match the
un-augmented data.

Three groups are implemented (the 'bgc' pipeline of the paper):

* pixel blitting   x-flip, 90-degree rotations, integer translation. Done with exact
                   index operations (flip / rot90 / reflect-pad + integer crop), so
                   they never blur a pixel.
* general geometry isotropic scaling, rotation (a pre- and a post-rotation around an
                   anisotropic scaling), anisotropic scaling, fractional translation.
                   The per-sample 3x3 matrices are composed and the image is resampled
                   once: reflect padding, 2x upsampling with a windowed-sinc low-pass,
                   bilinear ``grid_sample`` at the transformed positions, low-pass and
                   2x downsampling. Only the samples whose matrix is not the identity
                   are resampled.
* colour           brightness, contrast, luma flip, hue rotation, saturation, composed
                   as per-sample 4x4 homogeneous matrices on RGB and applied once.

Everything is linear in the images and built from differentiable torch ops, so the
gradients of D's outputs flow back through the pipe to G (and, twice, for R1).
Samples that draw no augmentation come out bit-identical; ``p == 0`` returns the input.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Probability multipliers of the named pipelines (ADA paper, appendix B / table of configs).
_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
PRESETS = {
    'blit': dict(_BLIT),
    'geom': dict(_GEOM),
    'color': dict(_COLOR),
    'bg': dict(_BLIT, **_GEOM),
    'bgc': dict(_BLIT, **_GEOM, **_COLOR),
}

_MULTIPLIERS = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac',
                'brightness', 'contrast', 'lumaflip', 'hue', 'saturation')


def lowpass_filter(taps: int = 12, beta: float = 6.0) -> np.ndarray:
    """Even-length half-band low-pass (Kaiser-windowed sinc), sums to 1. [taps]

    The cutoff is a quarter of the sampling rate of the 2x upsampled grid, i.e. the
    Nyquist frequency of the original image. Being symmetric with an even length, its
    even and odd taps each sum to 1/2, so zero-insertion upsampling keeps constants exact.
    """
    assert taps % 2 == 0
    n = np.arange(taps) - (taps - 1) / 2           # half-integer offsets
    h = np.sinc(n / 2) * np.kaiser(taps, beta)
    return h / h.sum()


# ---------------------------------------------------------------------- matrix helpers
# All matrices are batched: [N, 3, 3] (2D homogeneous) or [N, 4, 4] (RGB homogeneous).

def _eye(n, k, ref):
    return torch.eye(k, dtype=ref.dtype, device=ref.device).expand(n, k, k).clone()


def _translate2d(tx, ty):        # tx, ty: [N]
    m = _eye(tx.shape[0], 3, tx)
    m[:, 0, 2] = tx
    m[:, 1, 2] = ty
    return m


def _scale2d(sx, sy):
    m = _eye(sx.shape[0], 3, sx)
    m[:, 0, 0] = sx
    m[:, 1, 1] = sy
    return m


def _rotate2d(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    m = _eye(theta.shape[0], 3, theta)
    m[:, 0, 0], m[:, 0, 1] = c, -s
    m[:, 1, 0], m[:, 1, 1] = s, c
    return m


def _luma_axis(ref):
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=ref.dtype, device=ref.device) / math.sqrt(3)


def _rotate_about(v, theta):
    """Rotation by theta [N] about the unit 3D axis v [4] (w = 0), as [N, 4, 4] (Rodrigues)."""
    n = theta.shape[0]
    x, y, z = float(v[0]), float(v[1]), float(v[2])
    K = torch.tensor([[0, -z, y, 0], [z, 0, -x, 0], [-y, x, 0, 0], [0, 0, 0, 0]], dtype=theta.dtype,
                     device=theta.device)
    vv = torch.outer(v, v)
    c = torch.cos(theta)[:, None, None]
    s = torch.sin(theta)[:, None, None]
    I3 = torch.diag(torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=theta.dtype, device=theta.device))
    m = c * I3 + s * K + (1 - c) * vv
    m[:, 3, 3] = 1
    return m.expand(n, 4, 4)


class AugmentPipe(torch.nn.Module):
    """ADA augmentation pipe: ``images [N, C, H, W] -> images [N, C, H, W]`` (C = 1 or 3).

    ``preset`` picks the probability multipliers ('bgc' = blit + geometric + colour,
    see ``PRESETS``); keyword multipliers and strengths override it. ``p`` is the
    overall probability scale the ADA heuristic adjusts (a registered buffer).
    Strength defaults are those of the ADA paper.
    """

    def __init__(self,
        preset: str | None = 'bgc',   # Named multiplier set, None = all off.
        p: float = 0.0,               # Initial overall augmentation probability.
        *,
        # Probability multipliers (override the preset).
        xflip=None,                   # x-flip.
        rotate90=None,                # 90-degree rotations.
        xint=None,                    # Integer translation.
        scale=None,                   # Isotropic scaling.
        rotate=None,                  # Arbitrary rotation.
        aniso=None,                   # Anisotropic scaling.
        xfrac=None,                   # Fractional translation.
        brightness=None,              # Brightness offset.
        contrast=None,                # Contrast scaling.
        lumaflip=None,                # Luma flip (reflection along the luma axis).
        hue=None,                     # Hue rotation (about the luma axis).
        saturation=None,              # Saturation scaling (off the luma axis).
        # Strengths.
        xint_max=0.125,               # Integer translation range, relative to image size.
        scale_std=0.2,                # Log2 std of isotropic scaling.
        rotate_max=1.0,               # Rotation range, 1 = full circle.
        aniso_std=0.2,                # Log2 std of anisotropic scaling.
        xfrac_std=0.125,              # Std of fractional translation, relative to image size.
        brightness_std=0.2,           # Std of the brightness offset.
        contrast_std=0.5,             # Log2 std of contrast.
        hue_max=1.0,                  # Hue rotation range, 1 = full circle.
        saturation_std=1.0,           # Log2 std of saturation.
    ):
        super().__init__()
        if preset is not None and preset not in PRESETS:
            raise ValueError(f'unknown augment preset {preset!r}; choose from {", ".join(PRESETS)}')
        self.preset = preset
        base = PRESETS.get(preset, {}) if preset else {}
        given = dict(xflip=xflip, rotate90=rotate90, xint=xint, scale=scale, rotate=rotate, aniso=aniso, xfrac=xfrac,
                     brightness=brightness, contrast=contrast, lumaflip=lumaflip, hue=hue, saturation=saturation)
        for name in _MULTIPLIERS:
            value = given[name] if given[name] is not None else base.get(name, 0)
            setattr(self, name, float(value))
        self.xint_max = float(xint_max)
        self.scale_std = float(scale_std)
        self.rotate_max = float(rotate_max)
        self.aniso_std = float(aniso_std)
        self.xfrac_std = float(xfrac_std)
        self.brightness_std = float(brightness_std)
        self.contrast_std = float(contrast_std)
        self.hue_max = float(hue_max)
        self.saturation_std = float(saturation_std)
        self.register_buffer('p', torch.tensor(float(p)))
        self.register_buffer('lowpass', torch.from_numpy(lowpass_filter()).to(torch.float32))

    def extra_repr(self) -> str:
        on = [f'{n}={getattr(self, n):g}' for n in _MULTIPLIERS if getattr(self, n) > 0]
        return f'preset={self.preset!r}, p={float(self.p):.4f}, ' + ', '.join(on)

    # ------------------------------------------------------------------ sampling helpers

    def _chosen(self, mult, n, device):
        """Boolean [n]: whether each sample gets this augmentation (probability mult * p)."""
        return torch.rand([n], device=device) < mult * self.p

    # ------------------------------------------------------------------ forward

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.ndim == 4, f'expected [N, C, H, W], got {tuple(images.shape)}'
        if float(self.p) <= 0:
            return images
        N, C, H, W = images.shape
        device = images.device
        images = self._blit(images)
        images = self._geometric(images)
        images = self._color(images)
        assert images.shape == (N, C, H, W) and images.device == device
        return images

    # ------------------------------------------------------------------ pixel blitting

    def _blit(self, x):
        N, C, H, W = x.shape
        dev = x.device
        if self.xflip > 0:
            flip = (torch.rand([N], device=dev) < 0.5) & self._chosen(self.xflip, N, dev)
            if bool(flip.any()):
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if self.rotate90 > 0 and H == W:
            k = torch.randint(0, 4, [N], device=dev)
            k = torch.where(self._chosen(self.rotate90, N, dev), k, torch.zeros_like(k))
            if bool((k != 0).any()):
                rots = torch.stack([torch.rot90(x, r, dims=(2, 3)) for r in range(4)])  # [4, N, C, H, W]
                x = rots[k, torch.arange(N, device=dev)]
        if self.xint > 0:
            t = (torch.rand([N, 2], device=dev) * 2 - 1) * self.xint_max
            t = torch.where(self._chosen(self.xint, N, dev)[:, None], t, torch.zeros_like(t))
            tx = torch.round(t[:, 0] * W).long()
            ty = torch.round(t[:, 1] * H).long()
            moved = (tx != 0) | (ty != 0)
            if bool(moved.any()):
                x = self._integer_translate(x, tx, ty, moved)
        return x

    @staticmethod
    def _integer_translate(x, tx, ty, moved):
        """out[n, :, y, x] = in[n, :, y - ty[n], x - tx[n]] with reflect padding; exact."""
        N, C, H, W = x.shape
        mx = min(int(tx.abs().max()), W - 1)
        my = min(int(ty.abs().max()), H - 1)
        tx = tx.clamp(-mx, mx)
        ty = ty.clamp(-my, my)
        idx = moved.nonzero()[:, 0]
        sub = F.pad(x[idx], [mx, mx, my, my], mode='reflect') if (mx or my) else x[idx]
        ys = torch.arange(H, device=x.device)[None, :] + my - ty[idx, None]      # [n, H]
        xs = torch.arange(W, device=x.device)[None, :] + mx - tx[idx, None]      # [n, W]
        n_idx = torch.arange(len(idx), device=x.device)[:, None, None]
        shifted = sub[n_idx, :, ys[:, :, None], xs[:, None, :]]                   # [n, H, W, C]
        return x.index_copy(0, idx, shifted.permute(0, 3, 1, 2))

    # ------------------------------------------------------------------ general geometry

    def _geometric(self, x):
        N, C, H, W = x.shape
        dev = x.device
        if not any(getattr(self, n) > 0 for n in ('scale', 'rotate', 'aniso', 'xfrac')):
            return x
        ref = torch.zeros([N], device=dev, dtype=torch.float32)
        G_inv = _eye(N, 3, ref)  # output pixel (centred coords) -> input pixel

        if self.scale > 0:
            s = torch.exp2(torch.randn([N], device=dev) * self.scale_std)
            s = torch.where(self._chosen(self.scale, N, dev), s, torch.ones_like(s))
            G_inv = G_inv @ _scale2d(1 / s, 1 / s)
        # Pre- and post-rotation each with p_rot so that P(either) = rotate * p.
        p_rot = 1 - math.sqrt(min(max(1 - self.rotate * float(self.p), 0.0), 1.0))
        if self.rotate > 0:
            theta = (torch.rand([N], device=dev) * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(torch.rand([N], device=dev) < p_rot, theta, torch.zeros_like(theta))
            G_inv = G_inv @ _rotate2d(-theta)
        if self.aniso > 0:
            s = torch.exp2(torch.randn([N], device=dev) * self.aniso_std)
            s = torch.where(self._chosen(self.aniso, N, dev), s, torch.ones_like(s))
            G_inv = G_inv @ _scale2d(1 / s, s)
        if self.rotate > 0:
            theta = (torch.rand([N], device=dev) * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(torch.rand([N], device=dev) < p_rot, theta, torch.zeros_like(theta))
            G_inv = G_inv @ _rotate2d(-theta)
        if self.xfrac > 0:
            t = torch.randn([N, 2], device=dev) * self.xfrac_std
            t = torch.where(self._chosen(self.xfrac, N, dev)[:, None], t, torch.zeros_like(t))
            G_inv = G_inv @ _translate2d(-t[:, 0] * W, -t[:, 1] * H)

        moved = (G_inv - torch.eye(3, device=dev)).abs().amax(dim=(1, 2)) > 0
        if not bool(moved.any()):
            return x
        idx = moved.nonzero()[:, 0]
        out = self.resample(x[idx], G_inv[idx])
        return x.index_copy(0, idx, out)

    def resample(self, x: torch.Tensor, G_inv: torch.Tensor) -> torch.Tensor:
        """Resample x [N, C, H, W] so that out(X) = in(G_inv @ X), X in centred pixel coordinates.

        Band-limited: reflect-pad, 2x upsample (zero insertion + low-pass), bilinear
        sampling on the fine grid, low-pass + 2x decimation. Linear in x.
        """
        N, C, H, W = x.shape
        dev, dtype = x.device, x.dtype
        h = self.lowpass.to(dtype)
        L = h.shape[0]                  # 12 taps
        Q = L // 4                      # output margin (original pixels) the decimation filter reads
        cx, cy = (W - 1) / 2, (H - 1) / 2

        # Fine output grid, extended by Q pixels on each side for the decimation filter.
        # Fine sample j sits at original coordinate j / 2 - Q - 0.25 (half-pixel centred 2x grid).
        jx = torch.arange(2 * (W + 2 * Q), device=dev, dtype=torch.float32) / 2 - Q - 0.25 - cx
        jy = torch.arange(2 * (H + 2 * Q), device=dev, dtype=torch.float32) / 2 - Q - 0.25 - cy
        gy, gx = torch.meshgrid(jy, jx, indexing='ij')
        pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)      # [P, 3]
        src = (G_inv.to(torch.float32) @ pts.t()).transpose(1, 2)[..., :2]            # [N, P, 2] centred input coords

        # Reflect padding wide enough for where the samples land, plus the reach of the
        # upsampling filter (L / 4 coarse pixels) and one for the bilinear footprint.
        reach_x = float(src[..., 0].abs().max()) - cx
        reach_y = float(src[..., 1].abs().max()) - cy
        px = int(min(max(math.ceil(reach_x) + L // 4 + 1, 0), W - 1))
        py = int(min(max(math.ceil(reach_y) + L // 4 + 1, 0), H - 1))
        xp = F.pad(x, [px, px, py, py], mode='reflect') if (px or py) else x
        Hp, Wp = H + 2 * py, W + 2 * px

        up = self._upsample2x(xp, h)                                                 # [N, C, 2Hp, 2Wp]

        # Normalised grid_sample coordinates (align_corners=False) of the source positions.
        sx = (2 * (src[..., 0] + cx + px) + 1) / Wp - 1
        sy = (2 * (src[..., 1] + cy + py) + 1) / Hp - 1
        grid = torch.stack([sx, sy], dim=-1).reshape(N, 2 * (H + 2 * Q), 2 * (W + 2 * Q), 2).to(dtype)
        fine = F.grid_sample(up, grid, mode='bilinear', padding_mode='reflection', align_corners=False)
        return self._downsample2x(fine, h)                                            # [N, C, H, W]

    @staticmethod
    def _fir(x, h, dim, stride=1):
        """Correlate every channel of x [1, K, H, W] with the 1D filter h along dim (-1 or -2).

        A depthwise conv with the samples folded into channels: much faster on the CPU
        than a single-channel conv over a large batch, and just as fast on CUDA.
        """
        K = x.shape[1]
        L = h.shape[0]
        shape = [K, 1, 1, L] if dim == -1 else [K, 1, L, 1]
        strides = (1, stride) if dim == -1 else (stride, 1)
        return F.conv2d(x, h.reshape(1, 1, -1).expand(K, 1, L).reshape(shape), stride=strides, groups=K)

    @classmethod
    def _upsample2x(cls, x, h):
        """2x upsampling along W then H: zero insertion + low-pass 2h, done polyphase.

        [N, C, H, W] -> [N, C, 2H, 2W]; fine sample k sits at coarse coordinate k / 2 - 0.25.
        Even fine samples take the even taps, odd ones the odd taps (no multiplications by
        the inserted zeros).
        """
        N, C, H, W = x.shape
        L = h.shape[0]
        a, b = L // 4, L // 4 - 1          # 3, 2 for 12 taps
        he, ho = 2 * h[0::2], 2 * h[1::2]
        y = x.reshape(1, N * C, H, W)
        even = cls._fir(F.pad(y, [a, b, 0, 0]), he, dim=-1)
        odd = cls._fir(F.pad(y, [b, a, 0, 0]), ho, dim=-1)
        y = torch.stack([even, odd], dim=-1).reshape(1, N * C, H, 2 * W)
        even = cls._fir(F.pad(y, [0, 0, a, b]), he, dim=-2)
        odd = cls._fir(F.pad(y, [0, 0, b, a]), ho, dim=-2)
        y = torch.stack([even, odd], dim=-2).reshape(1, N * C, 2 * H, 2 * W)
        return y.reshape(N, C, 2 * H, 2 * W)

    @classmethod
    def _downsample2x(cls, y, h):
        """Low-pass + decimation of the extended fine grid. [N, C, 2(H+2Q), 2(W+2Q)] -> [N, C, H, W]."""
        N, C, H2, W2 = y.shape
        L = h.shape[0]
        Q = L // 4
        # Coarse pixel i reads fine samples 2i+1 .. 2i+L of the extended grid (centred on it).
        z = y.reshape(1, N * C, H2, W2)[:, :, 1:, 1:]
        z = cls._fir(z, h, dim=-1, stride=2)
        z = cls._fir(z, h, dim=-2, stride=2)
        return z.reshape(N, C, H2 // 2 - 2 * Q, W2 // 2 - 2 * Q)

    # ------------------------------------------------------------------ colour

    def _color(self, x):
        N, C, H, W = x.shape
        dev = x.device
        if not any(getattr(self, n) > 0 for n in ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')):
            return x
        if C not in (1, 3):
            raise ValueError(f'colour augmentation needs RGB or grayscale images, got {C} channels')
        ref = torch.zeros([N], device=dev, dtype=torch.float32)
        I4 = torch.eye(4, device=dev)
        M = _eye(N, 4, ref)             # colour_out = M @ colour_in (homogeneous RGB)
        v = _luma_axis(ref)             # [4]
        vv = torch.outer(v, v)

        if self.brightness > 0:
            b = torch.randn([N], device=dev) * self.brightness_std
            b = torch.where(self._chosen(self.brightness, N, dev), b, torch.zeros_like(b))
            T = _eye(N, 4, ref)
            T[:, :3, 3] = b[:, None]
            M = T @ M
        if self.contrast > 0:
            c = torch.exp2(torch.randn([N], device=dev) * self.contrast_std)
            c = torch.where(self._chosen(self.contrast, N, dev), c, torch.ones_like(c))
            S = _eye(N, 4, ref)
            S[:, 0, 0] = S[:, 1, 1] = S[:, 2, 2] = c
            M = S @ M
        if self.lumaflip > 0:
            i = ((torch.rand([N], device=dev) < 0.5) & self._chosen(self.lumaflip, N, dev)).float()
            M = (I4 - 2 * vv * i[:, None, None]) @ M        # Householder reflection across the luma plane
        if self.hue > 0 and C > 1:
            theta = (torch.rand([N], device=dev) * 2 - 1) * math.pi * self.hue_max
            theta = torch.where(self._chosen(self.hue, N, dev), theta, torch.zeros_like(theta))
            M = _rotate_about(v, theta) @ M
        if self.saturation > 0 and C > 1:
            s = torch.exp2(torch.randn([N], device=dev) * self.saturation_std)
            s = torch.where(self._chosen(self.saturation, N, dev), s, torch.ones_like(s))
            M = (vv + (I4 - vv) * s[:, None, None]) @ M

        changed = (M - I4).abs().amax(dim=(1, 2)) > 0
        if not bool(changed.any()):
            return x
        M = M.to(x.dtype)
        flat = x.reshape(N, C, H * W)
        if C == 3:
            out = M[:, :3, :3] @ flat + M[:, :3, 3:]
        else:  # grayscale: treat L as (L, L, L) and average the output channels
            out = flat * M[:, :3, :3].sum(dim=2).mean(dim=1)[:, None, None] + M[:, :3, 3].mean(dim=1)[:, None, None]
        out = out.reshape(N, C, H, W)
        return torch.where(changed[:, None, None, None], out, x)
