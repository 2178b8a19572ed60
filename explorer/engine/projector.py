"""Project an image into W / W+ by optimisation, with no downloaded network. No Qt.

Written from the papers:

- Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020),
  Appendix D: start at the mean ``w_avg`` of many mapped ``z``; Adam on ``w``; the
  learning rate ramps up linearly over the first 5 % of the steps and down to zero
  with a cosine over the last 25 %; Gaussian noise of scale
  ``sigma_w * 0.05 * max(0, 1 - t / 0.75) ** 2`` is added to ``w`` early on so the
  search explores; optionally the noise maps are optimised too, regularised by the
  squared autocorrelation at shift 1 of each map over a pyramid down to 8x8
  (weight 1e5), and renormalised to zero mean and unit variance after every step.
- Abdal et al., "Image2StyleGAN" (2019): W+ (one w per style input) reconstructs
  far more than W. Here a W phase finds a good common w first, then each style
  input is freed (W+), which keeps the result closer to the model's prior than W+
  from the start.

Losses that need no download (the papers use VGG/LPIPS features; those weights cannot
ship offline): the pixel MSE (optionally multi-scale: average-pooled halvings),
1 - MS-SSIM (Wang et al. 2003, our own implementation below: the number of scales
adapts to small images, where pytorch-msssim refuses anything under 161 px), and a
feature distance in the checkpoint's own discriminator (NVIDIA pickles carry ``D``).
The default weights were chosen by measurement on the default model (bench/RESULTS.md,
"Projection"): plain MSE; MS-SSIM and extra pixel scales lowered PSNR and SSIM there, so
both are off by default; the D features are off (the default model has no D).

``project(G, target, config, progress)`` is deterministic for a given ``config.seed``
(same device, torch build and thread count). ``progress`` is called after every step
with a ``ProjectionStep`` (losses every step, the current image every
``config.preview_every`` steps and at the end); it may raise ``Cancelled`` to abort
(nothing is returned) or return True to stop early and keep what was found.

``pivotal_tune`` (Roich et al., "Pivotal Tuning for Latent-based Editing of Real
Images", 2021) then finetunes a copy of the generator around the found latent so the
reconstruction becomes near-exact: a per-image model, not a general one.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import UserError

# ----------------------------------------------------------------------------- image metrics


def _gaussian_1d(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, 'valid' region: [N, C, H, W] -> [N, C, H-k+1, W-k+1]."""
    C, k = x.shape[1], g.shape[0]
    x = F.conv2d(x, g.reshape(1, 1, 1, k).expand(C, 1, 1, k), groups=C)
    return F.conv2d(x, g.reshape(1, 1, k, 1).expand(C, 1, k, 1), groups=C)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, data_range: float):
    """Luminance and contrast-structure maps of SSIM (Wang et al. 2004), 'valid' region."""
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y, xx, yy, xy = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), g).chunk(5, dim=1)
    sxx = xx - mu_x ** 2
    syy = yy - mu_y ** 2
    sxy = xy - mu_x * mu_y
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return lum, cs


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image [N] of x, y [N, C, H, W] (Gaussian window, valid region,
    averaged over channels). ``data_range``: 2 for [-1, 1] images, 255 for 8-bit."""
    win_size = min(win_size, x.shape[-1], x.shape[-2])
    lum, cs = _ssim_maps(x, y, _gaussian_1d(win_size, sigma, x.device, x.dtype), data_range)
    return (lum * cs).mean(dim=(1, 2, 3))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)   # Wang et al. 2003, five scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
            sigma: float = 1.5, weights=MS_SSIM_WEIGHTS) -> torch.Tensor:
    """Multi-scale SSIM per image [N] of x, y [N, C, H, W], differentiable.

    Scale j halves the image (2x2 average) j times. The published five scales need
    sides >= 16 * win_size (176 px); smaller images use as many scales as keep each side
    >= ``win_size``, with the published weights of those scales renormalised to sum 1.
    Contrast-structure terms are clamped at a small positive floor (a negative one
    raised to a fractional power is undefined)."""
    side = min(x.shape[-1], x.shape[-2])
    win_size = min(win_size, side)
    n = 1
    while n < len(weights) and side // (2 ** n) >= win_size:
        n += 1
    w = torch.tensor(weights[:n], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    g = _gaussian_1d(win_size, sigma, x.device, x.dtype)
    values = []
    for j in range(n):
        if j > 0:
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
        lum, cs = _ssim_maps(x, y, g, data_range)
        term = (lum * cs) if j == n - 1 else cs
        values.append(term.mean(dim=(1, 2, 3)).clamp(min=1e-6))
    vals = torch.stack(values, dim=1)          # [N, n]
    return torch.prod(vals ** w, dim=1)


def _psnr_float(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB of two [-1, 1] images (peak-to-peak 2), before 8-bit rounding."""
    mse = float(F.mse_loss(x, y))
    return float('inf') if mse == 0 else 10 * math.log10(4.0 / mse)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (peak 255); inf when identical."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 [H, W, C] images (Gaussian 11 / 1.5, valid region, channel mean)."""
    ta = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(torch.float64)
    tb = torch.from_numpy(np.ascontiguousarray(b)).permute(2, 0, 1)[None].to(torch.float64)
    return float(ssim(ta, tb, data_range=255.0)[0])


# ----------------------------------------------------------------------------- losses


def multiscale_mse(x: torch.Tensor, y: torch.Tensor, scales: int = 4, min_size: int = 8) -> torch.Tensor:
    """Mean over ``scales`` scales (full size, then 2x2-average halvings, none below
    ``min_size``) of the MSE. ``scales=1``: the plain MSE."""
    losses = [F.mse_loss(x, y)]
    while len(losses) < scales and x.shape[-1] // 2 >= min_size:
        x = F.avg_pool2d(x, 2)
        y = F.avg_pool2d(y, 2)
        losses.append(F.mse_loss(x, y))
    return torch.stack(losses).mean()


class DiscriminatorFeatures(torch.nn.Module):
    """Feature distance in a checkpoint's own discriminator: the output of every block
    (before the 4x4 head), each position's channel vector scaled to unit length (as
    LPIPS does with VGG), squared differences averaged, then averaged over blocks."""

    def __init__(self, D, target: torch.Tensor):
        super().__init__()
        self.D = copy.deepcopy(D).eval().requires_grad_(False).float().to(target.device)
        with torch.no_grad():
            self.target_feats = [f.detach() for f in self.features(target)]

    def features(self, img):
        feats = []
        x = None
        for res in self.D.block_resolutions:
            x, img = getattr(self.D, f'b{res}')(x, img, force_fp32=True)
            feats.append(x / (x.square().sum(dim=1, keepdim=True) + 1e-8).sqrt())
        return feats

    def forward(self, img):
        return torch.stack([(a - b).square().sum(dim=1).mean()
                            for a, b in zip(self.features(img), self.target_feats)]).mean()


def noise_regularisation(noises) -> torch.Tensor:
    """Sum over maps and pyramid levels (down to 8x8) of the squared autocorrelation at
    shift 1 along x and y (StyleGAN2 Appendix D): small when the maps stay white noise."""
    reg = 0.0
    for v in noises:
        v = v.reshape(1, 1, v.shape[-2], v.shape[-1])
        while True:
            reg = reg + (v * torch.roll(v, shifts=1, dims=3)).mean() ** 2 \
                + (v * torch.roll(v, shifts=1, dims=2)).mean() ** 2
            if v.shape[-1] <= 8:
                break
            v = F.avg_pool2d(v, 2)
    return reg


class Adam:
    """Adam (Kingma & Ba 2015) on a few tensors, with the learning rate set per step.

    Plain tensor ops: ``torch.optim`` imports ``torch._dynamo`` on first use, seconds of
    start-up on a small CPU for what is a handful of latents here."""

    def __init__(self, params, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.t += 1
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-lr / c1)
            p.grad = None


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ProjectionConfig:
    space: str = 'w+'               # 'w': one w for all style inputs; 'w+': W phase, then one w per input
    steps: int = 300                # optimisation steps in all (W phase + W+ phase)
    w_fraction: float = 0.2         # share of ``steps`` spent in the W phase when space == 'w+'
    lr: float = 0.1                 # peak Adam learning rate, in W units
    lr_rampup: float = 0.05         # fraction of each phase with a linear warm-up
    lr_rampdown: float = 0.25       # fraction of each phase with a cosine ramp-down to 0
    w_noise: float = 0.05           # latent noise at the start, times sigma_w (W phase only)
    w_noise_ramp: float = 0.75      # the latent noise fades to 0 (quadratically) over this fraction
    optimize_noise: bool = False    # optimise the noise maps too (models with noise inputs)
    noise_reg: float = 1e5          # weight of the noise regularisation
    pixel_weight: float = 1.0       # pixel MSE (images in [-1, 1])
    pixel_scales: int = 1           # scales of the pixel MSE (measured: 4 scales cost 0.7 dB against 1)
    msssim_weight: float = 0.0      # 1 - MS-SSIM (measured: no PSNR gain at 0.01, -1.4 dB at 0.1)
    d_feature_weight: float = 0.0   # discriminator feature distance (only with a D)
    seed: int = 0                   # seeds the latent noise and the w_avg samples
    w_avg_samples: int = 10000      # z samples for w_avg and sigma_w
    preview_every: int = 10         # send the current image every k steps (0: only the last)

    def __post_init__(self):
        if self.space not in ('w', 'w+'):
            raise UserError(f"space must be 'w' or 'w+', got {self.space!r}")
        if not 1 <= int(self.steps) <= 1_000_000:
            raise UserError(f'steps must be between 1 and 1000000, got {self.steps}')
        for name in ('w_fraction', 'lr_rampup', 'lr_rampdown', 'w_noise_ramp'):
            if not 0 <= getattr(self, name) <= 1:
                raise UserError(f'{name} must be between 0 and 1, got {getattr(self, name)}')
        for name in ('lr', 'w_noise', 'noise_reg', 'pixel_weight', 'msssim_weight', 'd_feature_weight'):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise UserError(f'{name} must be a finite number >= 0, got {v!r}')
        if not 1 <= self.pixel_scales <= 16:
            raise UserError(f'pixel_scales must be between 1 and 16, got {self.pixel_scales}')
        if not 1 <= self.w_avg_samples <= 1_000_000:
            raise UserError(f'w_avg_samples must be between 1 and 1000000, got {self.w_avg_samples}')

    def phases(self) -> list[tuple[str, int]]:
        """[(space, steps)] in order."""
        if self.space == 'w':
            return [('w', self.steps)]
        n_w = round(self.steps * self.w_fraction)
        return [(s, n) for s, n in (('w', n_w), ('w+', self.steps - n_w)) if n > 0]


def lr_schedule(t: float, rampup: float, rampdown: float) -> float:
    """Multiplier of the peak learning rate at phase fraction t in [0, 1)."""
    ramp = 1.0 if rampdown <= 0 else min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp *= min(1.0, t / rampup)
    return ramp


@dataclass
class ProjectionStep:
    step: int                       # 1-based, over all phases
    total: int
    phase: str                      # 'w' or 'w+'
    losses: dict                    # name -> float ('total', 'pixel', 'msssim', ...)
    lr: float
    image: np.ndarray | None = None  # uint8 [H, W, C] of this step's render, every preview_every steps


@dataclass
class ProjectionResult:
    ws: np.ndarray                  # float32 [num_ws, w_dim] (a W result repeated on every input)
    space: str                      # 'w' or 'w+' (what was optimised last)
    image: np.ndarray               # uint8 [H, W, C]: G.synthesis(ws, noise_mode='const')
    target: np.ndarray              # uint8 [H, W, C]
    psnr: float                     # of image against target, dB
    ssim: float
    steps_done: int
    stopped_early: bool
    seconds: float
    history: list = field(default_factory=list)   # per step: {'step', 'phase', losses...}
    noise: list | None = None       # optimised noise maps (float32 [H, W]) with optimize_noise

    def latent(self) -> np.ndarray:
        """What to store: W [w_dim] for a W projection, else W+ [num_ws, w_dim]."""
        return self.ws[0].copy() if self.space == 'w' else self.ws.copy()


# ----------------------------------------------------------------------------- projection


def _device_of(G) -> torch.device:
    for p in G.parameters():
        return p.device
    return torch.device('cpu')


def target_tensor(target, G, device) -> torch.Tensor:
    """uint8 [H, W, C] (or float [C, H, W] in [-1, 1]) -> float [1, C, R, R] in [-1, 1], checked."""
    R, C = G.img_resolution, G.img_channels
    if isinstance(target, torch.Tensor):
        t = target.detach().to(device=device, dtype=torch.float32)
        if t.ndim == 3:
            t = t[None]
    else:
        a = np.asarray(target)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.dtype != np.uint8:
            raise UserError('target image must be uint8 [H, W, C]')
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(device=device, dtype=torch.float32)
        t = t / 127.5 - 1
    if tuple(t.shape) != (1, C, R, R):
        raise UserError(f'target must be {R}x{R} with {C} channel(s) to match the model, got {list(t.shape[1:])}')
    return t


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[1, C, H, W] in ~[-1, 1] -> uint8 [H, W, C], rounding as the PNG export does."""
    from explorer.engine.export import to_uint8 as _to_uint8
    return _to_uint8(img)


@torch.no_grad()
def w_stats(G, samples: int = 10000, seed: int = 0, device=None) -> tuple[torch.Tensor, float]:
    """(w_avg [w_dim], sigma_w): mean of ``samples`` mapped z and the root mean squared
    distance to it (summed over dimensions, as StyleGAN2's projector scales its noise)."""
    device = device or _device_of(G)
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(samples, G.z_dim)).to(device=device, dtype=torch.float32)
    c = None
    if G.c_dim:
        c = torch.zeros(samples, G.c_dim, device=device)
        c[torch.arange(samples), torch.from_numpy(rng.randint(0, G.c_dim, samples))] = 1
    w = G.mapping(z, c)[:, 0, :].to(torch.float32)          # [N, w_dim]
    w_avg = w.mean(dim=0)
    w_std = float(((w - w_avg).square().sum() / samples).sqrt())
    return w_avg, w_std


def _working_copy(G, optimize_noise: bool):
    """(copy of G without gradients, its noise buffers set to require gradients if asked,
    their original values). The caller's G (maybe shared with a render thread) is only read
    once, here."""
    Gp = copy.deepcopy(G).eval().requires_grad_(False)
    noises, originals = [], []
    if optimize_noise:
        for name, buf in Gp.synthesis.named_buffers():
            if name.endswith('noise_const'):
                originals.append(buf.detach().clone())
                noises.append(buf.requires_grad_(True))
    return Gp, noises, originals


def project(G, target, config: ProjectionConfig = ProjectionConfig(), progress=None,
            D=None) -> ProjectionResult:
    """Find ws with ``G.synthesis(ws, noise_mode='const') ~= target``.

    target: uint8 [R, R, C] at the model's resolution (``image_prep.prepare_target``).
    progress: ``progress(ProjectionStep) -> bool | None``; True stops early (the result so
    far is returned), raising ``explorer.engine.progress.Cancelled`` aborts.
    D: the checkpoint's discriminator, used when ``config.d_feature_weight > 0``.
    Runs on G's device, on a copy of G: the caller's G is read once at the start and never
    changed, so a render thread may keep using it."""
    t0 = time.monotonic()
    device = _device_of(G)
    target_t = target_tensor(target, G, device)
    target_u8 = to_uint8(target_t)
    Gp, noises, original_noises = _working_copy(G, config.optimize_noise)
    del G
    gen = torch.Generator(device='cpu').manual_seed(int(config.seed))

    w_avg, w_std = w_stats(Gp, config.w_avg_samples, config.seed, device)
    w = w_avg.detach().clone()[None, None, :]               # [1, 1, w_dim]
    d_feat = None
    if config.d_feature_weight > 0 and D is not None:
        d_feat = DiscriminatorFeatures(D, target_t)
    if config.optimize_noise:
        with torch.no_grad():
            for v in noises:                                 # start from the model's own maps, normalised
                v -= v.mean()
                v *= v.square().mean().rsqrt()

    total = sum(n for _, n in config.phases())
    history = []
    step = 0
    stopped = False
    latent = w
    space = 'w'
    for space, n_steps in config.phases():
        if space == 'w+':
            latent = latent.detach().expand(1, Gp.num_ws, -1).clone()
        latent = latent.detach().clone().requires_grad_(True)
        params = [latent] + noises
        opt = Adam(params)
        for i in range(n_steps):
            t = i / n_steps
            lr = config.lr * lr_schedule(t, config.lr_rampup, config.lr_rampdown)
            ws = latent if latent.shape[1] == Gp.num_ws else latent.expand(1, Gp.num_ws, -1)
            if space == 'w' and config.w_noise > 0:
                scale = w_std * config.w_noise * max(0.0, 1.0 - t / max(config.w_noise_ramp, 1e-8)) ** 2
                if scale > 0:
                    ws = ws + (torch.randn(ws.shape[0], 1, ws.shape[2], generator=gen) * scale).to(device)
            img = Gp.synthesis(ws, noise_mode='const')
            losses = {}
            loss = 0.0
            if config.pixel_weight > 0:
                losses['pixel'] = multiscale_mse(img, target_t, config.pixel_scales)
                loss = loss + config.pixel_weight * losses['pixel']
            if config.msssim_weight > 0:
                losses['msssim'] = 1 - ms_ssim(img, target_t).mean()
                loss = loss + config.msssim_weight * losses['msssim']
            if d_feat is not None:
                losses['d_feature'] = d_feat(img)
                loss = loss + config.d_feature_weight * losses['d_feature']
            if noises:
                losses['noise_reg'] = noise_regularisation(noises)
                loss = loss + config.noise_reg * losses['noise_reg']
            if not torch.is_tensor(loss):
                loss = img.sum() * 0        # every weight 0: a no-op step, still well defined
            loss.backward()
            opt.step(lr)
            if noises:
                with torch.no_grad():
                    for v in noises:
                        v -= v.mean()
                        v *= v.square().mean().rsqrt()
            step += 1
            record = {k: float(v.detach()) for k, v in losses.items()}
            record['total'] = float(loss.detach())
            record['psnr'] = _psnr_float(img.detach(), target_t)
            history.append(dict(step=step, phase=space, **record))
            if progress is not None:
                show = step == total or (config.preview_every > 0 and step % config.preview_every == 0)
                info = ProjectionStep(step=step, total=total, phase=space, losses=record, lr=lr,
                                      image=to_uint8(img) if show else None)
                if progress(info):
                    stopped = True
                    break
        if stopped:
            break

    ws_final = latent.detach()
    if ws_final.shape[1] != Gp.num_ws:
        ws_final = ws_final.expand(1, Gp.num_ws, -1)
    ws_final = ws_final.to(torch.float32).contiguous()
    found_noise = [v.detach().cpu().numpy().copy() for v in noises] if noises else None
    with torch.no_grad():
        # The render the user gets: the model's own constant noise, as a recipe renders it.
        for v, orig in zip(noises, original_noises):
            v.requires_grad_(False).copy_(orig)
        image = to_uint8(Gp.synthesis(ws_final, noise_mode='const'))
    return ProjectionResult(
        ws=ws_final[0].cpu().numpy().copy(), space=space, image=image, target=target_u8,
        psnr=psnr_uint8(image, target_u8), ssim=ssim_uint8(image, target_u8), steps_done=step,
        stopped_early=stopped, seconds=time.monotonic() - t0, history=history,
        noise=found_noise)


# ----------------------------------------------------------------------------- pivotal tuning


@dataclass(frozen=True)
class PivotalTuningConfig:
    steps: int = 200                # finetuning steps
    lr: float = 3e-4                # Adam learning rate on the synthesis weights
    pixel_weight: float = 1.0
    msssim_weight: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 1 <= int(self.steps) <= 1_000_000:
            raise UserError(f'PTI steps must be between 1 and 1000000, got {self.steps}')
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f'PTI lr must be a finite number > 0, got {self.lr}')


def pivotal_tune(G, ws: np.ndarray, target, config: PivotalTuningConfig = PivotalTuningConfig(),
                 progress=None):
    """A copy of ``G`` whose synthesis network is finetuned so that ``ws`` (the pivot,
    [num_ws, w_dim]) renders ``target`` near exactly. The mapping network and ``w_avg``
    are left as they are; the caller's ``G`` is not changed. ``progress`` as in
    ``project`` (the ProjectionStep's phase is 'pti'). Returns (G_tuned, history)."""
    device = _device_of(G)
    torch.manual_seed(int(config.seed))
    Gt = copy.deepcopy(G).eval().requires_grad_(False)
    params = [p for p in Gt.synthesis.parameters() if p.is_floating_point()]
    for p in params:
        p.requires_grad_(True)
    target_t = target_tensor(target, Gt, device)
    ws_t = torch.as_tensor(np.asarray(ws, dtype=np.float32), device=device).reshape(1, Gt.num_ws, Gt.w_dim)
    opt = Adam(params)
    history = []
    for step in range(1, config.steps + 1):
        img = Gt.synthesis(ws_t, noise_mode='const')
        pix = F.mse_loss(img, target_t)
        loss = config.pixel_weight * pix
        losses = {'pixel': float(pix.detach()), 'psnr': _psnr_float(img.detach(), target_t)}
        if config.msssim_weight > 0:
            ms = 1 - ms_ssim(img, target_t).mean()
            loss = loss + config.msssim_weight * ms
            losses['msssim'] = float(ms.detach())
        loss.backward()
        opt.step(config.lr)
        losses['total'] = float(loss.detach())
        history.append(dict(step=step, phase='pti', **losses))
        if progress is not None:
            info = ProjectionStep(step=step, total=config.steps, phase='pti', losses=losses, lr=config.lr,
                                  image=to_uint8(img) if step == config.steps else None)
            if progress(info):
                break
    return Gt.eval().requires_grad_(False), history
