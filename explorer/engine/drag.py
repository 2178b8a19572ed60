"""Point dragging (Pan et al., "Drag Your GAN", SIGGRAPH 2023), written from the paper.

The user puts handle points on an image and a target for each. Each step:

1. **Forward** the generator (with gradients, the reference path) only as far as the
   chosen feature layer, and upsample that map bilinearly to the image resolution: F.
2. **Point tracking**: each handle moves to the pixel of a (2 r2 + 1)^2 window around it
   whose feature is nearest (L1) to the handle's feature in the first image, f_i = F0(p_i).
3. **Motion supervision**: for every pixel q of a disk of radius r1 around a handle p,
   pull F(q + d) toward F(q) with F(q) detached, d = (t - p) / |t - p| (one pixel toward
   the target, F(q + d) sampled bilinearly), so the content at p moves one step toward t.
   With a mask (1 = may move), lambda * |(F - F0) * (1 - M)| holds the rest in place.
4. **Adam** (the paper's step size) on the first k style vectors of W+; the rest stay.

It stops when every handle is within ``stop_distance`` pixels of its target, after the
given number of steps, or when cancelled. No Qt: the GUI drives a ``Dragger`` step by
step in a worker (``on_step`` reports handles, distances and, every k steps, the image).

Points are ``(x, y)`` in image pixels (column, row), like the CLI's ``x0,y0:x1,y1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from explorer.engine.progress import Cancelled
from explorer.errors import UserError

PAPER_RESOLUTION = 512      # the paper's radii are given for 512 px images
PAPER_R1 = 3.0              # motion supervision radius (image pixels at 512 px)
PAPER_R2 = 12.0             # point tracking radius (image pixels at 512 px)
PAPER_LAMBDA = 20.0         # weight of the mask term
PAPER_LR = 2e-3             # Adam step size (FFHQ, AFHQ cat, LSUN car)
PAPER_NUM_WS = 6            # the first 6 style vectors of W+ are optimised
PAPER_FEATURE_RES = 128     # StyleGAN2 features after the 6th block (4, 8, ..., 128)
MIN_R1 = 2.0                # floors for small models (see drag_config)
MIN_R2 = 6
MAX_POINTS = 64


@dataclass(frozen=True)
class DragConfig:
    """Hyper-parameters of one drag; ``drag_config(G)`` picks them for a network."""
    feature_layer: str          # module name under G.synthesis whose output is F
    feature_resolution: int     # side of that feature map inside the image (before upsampling)
    feature_crop: int           # pixels cropped from each side of the map first (StyleGAN3 margin)
    num_ws: int                 # optimise ws[:, :num_ws]
    r1: float                   # motion supervision disk radius, image pixels
    r2: int                     # tracking window half-size, image pixels
    lambda_mask: float = PAPER_LAMBDA
    lr: float = PAPER_LR
    stop_distance: float | None = None   # None: 1 px for up to 5 handles, else 2 (the paper)

    def stop_for(self, num_points: int) -> float:
        if self.stop_distance is not None:
            return float(self.stop_distance)
        return 1.0 if num_points <= 5 else 2.0


def _feature_layers(G) -> list[tuple[str, int, int]]:
    """[(module name under G.synthesis, resolution inside the image, crop per side)] in
    forward order, for the layers whose output can be used as F."""
    syn = G.synthesis
    family = getattr(G, 'family', '')
    if family in ('stylegan2', 'stylegan1'):
        return [(f'b{res}', res, 0) for res in syn.block_resolutions]
    if family == 'stylegan3':
        out = []
        for name in syn.layer_names[:-1]:        # the last layer is ToRGB
            layer = getattr(syn, name)
            rate = int(layer.out_sampling_rate)
            size = int(layer.out_size[0])
            out.append((name, rate, (size - rate) // 2))
        return out
    raise UserError(f'dragging supports StyleGAN1/2/3 generators, not {family or type(G).__name__}')


def drag_config(G, **overrides) -> DragConfig:
    """The paper's settings for StyleGAN2 at 512/1024 px, adapted to other sizes:

    - F: the paper uses StyleGAN2's features after the 6th block, 128 px, for 512 and
      1024 px models (1/4 and 1/8 of the image). A smaller model gets the layer at
      min(128, R / 2) px (R = image side): 128 px for 256 px models, 32 px for 64 px ones,
      fine enough to place a handle within a couple of pixels, coarse enough to be
      discriminative. StyleGAN3: the first layer whose sampling rate reaches that size
      (its margin cropped off).
    - r1 = 3 and r2 = 12 image pixels at 512 px, scaled with R (as the reference does),
      but at least 2 and 6 pixels: below that the disk has fewer than ~13 pixels and the
      window spans under three feature pixels of a 64 px model.
    - The first 6 ws (spatial layout lives there), lr 2e-3.
    - lambda (mask term) 20 at 512 px and up, scaled with R below (10 at 256 px, the
      reference GUI's default; 2.5 at 64 px): on the 64 px default model lambda 20 or 5
      held the handle in place (6 px -> 6 px and 4 px after 200 steps, seed 3), 2.5
      reached the target with pixels outside the mask changing ~6x less than inside.
    """
    R = int(G.img_resolution)
    want = min(PAPER_FEATURE_RES, max(R // 2, 4))
    layers = _feature_layers(G)
    name, res, crop = next(((n, r, c) for n, r, c in layers if r >= want), layers[-1])
    cfg = DragConfig(
        feature_layer=name, feature_resolution=res, feature_crop=crop,
        num_ws=min(PAPER_NUM_WS, int(G.num_ws)),
        r1=max(PAPER_R1 * R / PAPER_RESOLUTION, MIN_R1),
        r2=max(int(round(PAPER_R2 * R / PAPER_RESOLUTION)), MIN_R2),
        lambda_mask=PAPER_LAMBDA * min(R / PAPER_RESOLUTION, 1.0),
    )
    return replace(cfg, **overrides) if overrides else cfg


# ----------------------------------------------------------------------------
# The two parts of the method, as plain functions on feature maps (testable alone).

def sample_features(feat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear features at sub-pixel points: feat [1, C, H, W], points [P, 2] (x, y) -> [P, C]."""
    _, _, H, W = feat.shape
    gx = points[:, 0] / max(W - 1, 1) * 2 - 1
    gy = points[:, 1] / max(H - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).view(1, 1, -1, 2).to(feat.dtype)
    return F.grid_sample(feat, grid, mode='bilinear', align_corners=True)[0, :, 0].t()


def track_points(feat: torch.Tensor, ref: torch.Tensor, points: torch.Tensor, r2: int) -> torch.Tensor:
    """Point tracking: for each point, the pixel of the window of half-size ``r2`` around it
    (clipped to the image) whose feature is nearest in L1 to ``ref``.

    feat [1, C, H, W], ref [P, C], points [P, 2] (x, y) -> [P, 2] (whole pixels, float)."""
    _, _, H, W = feat.shape
    out = torch.empty_like(points)
    for i, (x, y) in enumerate(points.round().long().tolist()):
        x0, x1 = max(x - r2, 0), min(x + r2 + 1, W)
        y0, y1 = max(y - r2, 0), min(y + r2 + 1, H)
        patch = feat[0, :, y0:y1, x0:x1]                                       # [C, h, w]
        dist = (patch - ref[i].view(-1, 1, 1)).abs().sum(dim=0)                # [h, w]
        k = int(torch.argmin(dist))
        out[i, 0] = x0 + k % (x1 - x0)
        out[i, 1] = y0 + k // (x1 - x0)
    return out


def _disk(r1: float, device) -> torch.Tensor:
    n = int(math.floor(r1))
    ys, xs = torch.meshgrid(torch.arange(-n, n + 1, device=device), torch.arange(-n, n + 1, device=device),
                            indexing='ij')
    keep = xs.square() + ys.square() <= r1 * r1
    return torch.stack([xs[keep], ys[keep]], dim=-1).float()                   # [Q, 2] (dx, dy)


def motion_loss(feat: torch.Tensor, points: torch.Tensor, targets: torch.Tensor, r1: float,
                active=None) -> torch.Tensor:
    """Motion supervision: sum over handles of mean |F(q).detach() - F(q + d)| over the disk
    of radius r1 around the handle, d the unit step toward the target. feat [1, C, H, W]."""
    _, _, H, W = feat.shape
    offsets = _disk(r1, feat.device)
    loss = feat.new_zeros(())
    for i in range(points.shape[0]):
        if active is not None and not active[i]:
            continue
        d = targets[i] - points[i]
        d = d / d.norm().clamp_min(1e-8)
        q = points[i].round() + offsets
        inside = (q[:, 0] >= 0) & (q[:, 0] <= W - 1) & (q[:, 1] >= 0) & (q[:, 1] <= H - 1)
        q = q[inside]
        if q.shape[0] == 0:
            continue
        src = feat[0, :, q[:, 1].long(), q[:, 0].long()].t().detach()         # [Q, C], no gradient
        moved = sample_features(feat, q + d)                                   # [Q, C]
        loss = loss + (moved - src).abs().mean()
    return loss


def mask_loss(feat: torch.Tensor, feat0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean |(F - F0) * (1 - M)|: features outside the movable region stay where they were."""
    return ((feat - feat0) * (1 - mask)).abs().mean()


# ----------------------------------------------------------------------------
# The loop.

@dataclass
class DragStep:
    """Progress after a step: where the handles are now and how far from their targets."""
    step: int                       # steps done (Adam updates)
    points: list                    # [(x, y)] tracked handle positions
    distances: list                 # [float] pixels to each target
    loss: float                     # motion (+ mask) loss of the last update
    image: np.ndarray | None = None # uint8 [H, W, C] of the current latent (every ``image_every`` steps)
    done: bool = False              # every handle within the stop distance


@dataclass
class DragResult:
    ws: np.ndarray                  # float32 [num_ws, w_dim], the dragged W+
    points: list                    # final tracked handle positions [(x, y)]
    distances: list                 # final distances to the targets
    start_distances: list           # distances before the first step
    steps: int                      # Adam updates done
    reached: bool                   # every handle within the stop distance
    cancelled: bool = False
    history: list = field(default_factory=list)   # [DragStep] (images dropped)


class _Stop(Exception):
    """Raised by the feature hook to end the forward pass once F is computed."""


def _as_points(points, what, R) -> torch.Tensor:
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))
    if arr.shape[0] == 0:
        raise UserError(f'give at least one {what} point')
    if arr.shape[0] > MAX_POINTS:
        raise UserError(f'at most {MAX_POINTS} handle points')
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > R - 1).any():
        bad = next((tuple(p) for p in arr if not (np.isfinite(p).all() and 0 <= p.min() and p.max() <= R - 1)))
        raise UserError(f'{what} point ({bad[0]:g}, {bad[1]:g}) is outside the {R}x{R} image '
                        f'(x and y must be 0..{R - 1})')
    return torch.from_numpy(arr).float()


class Dragger:
    """One drag session on a fixed generator. ``step()`` does one update; ``run()`` loops.

    G: a loaded generator (its weights are not changed). ws: W+ [num_ws, w_dim] or
    [1, num_ws, w_dim] (numpy or torch). handles, targets: [(x, y)] image pixels.
    mask: optional [H, W] array at image resolution, nonzero/True = may move."""

    def __init__(self, G, ws, handles, targets, mask=None, config: DragConfig | None = None,
                 device=None, noise_mode: str = 'const'):
        self.G = G
        self.config = config or drag_config(G)
        self.device = torch.device(device) if device is not None else next(G.parameters()).device
        self.noise_mode = noise_mode
        R = int(G.img_resolution)
        self.resolution = R
        ws = torch.as_tensor(np.asarray(ws, dtype=np.float32) if not torch.is_tensor(ws) else ws)
        ws = ws.detach().to(self.device, torch.float32).reshape(1, -1, ws.shape[-1])
        if ws.shape[1:] != (G.num_ws, G.w_dim):
            raise UserError(f'the latent has shape {list(ws.shape[1:])}; the model needs '
                            f'[{G.num_ws}, {G.w_dim}] (W+)')
        self.handles = _as_points(handles, 'handle', R).to(self.device)
        self.targets = _as_points(targets, 'target', R).to(self.device)
        if self.handles.shape != self.targets.shape:
            raise UserError('give one target for each handle point')
        self.mask = None
        if mask is not None:
            m = np.asarray(mask, dtype=np.float32)
            if m.shape != (R, R):
                raise UserError(f'the mask is {m.shape[1] if m.ndim > 1 else "?"}x{m.shape[0]} pixels; '
                                f'the image is {R}x{R}')
            if not (m > 0).any():
                raise UserError('the mask is empty: paint (white) the region that may move')
            self.mask = torch.from_numpy((m > 0).astype(np.float32)).to(self.device).view(1, 1, R, R)
        k = self.config.num_ws
        self.ws0 = ws
        self.w_opt = ws[:, :k].clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.w_opt], lr=self.config.lr)
        self.points = self.handles.clone()
        self.steps_done = 0
        self.feat0 = None
        self.ref = None
        self._feat = None
        self.stop_distance = self.config.stop_for(self.handles.shape[0])
        self.start_distances = self.distances()

    # -- features ------------------------------------------------------------------------
    def current_ws(self) -> torch.Tensor:
        """[1, num_ws, w_dim]: the optimised first k ws, the rest as at the start."""
        return torch.cat([self.w_opt, self.ws0[:, self.config.num_ws:]], dim=1)

    def _features(self, ws, interrupt=None) -> torch.Tensor:
        """F: the chosen layer's output for ``ws``, margin cropped, upsampled (bilinear) to
        [1, C, R, R]. The forward pass stops right after that layer."""
        from explorer.engine.interrupt import interruptible
        cfg = self.config
        module = self.G.synthesis.get_submodule(cfg.feature_layer)
        box = {}

        def hook(_m, _args, out):
            box['x'] = out[0] if isinstance(out, tuple) else out
            raise _Stop()

        h = module.register_forward_hook(hook)
        try:
            with interruptible(self.G.synthesis, interrupt):
                self.G.synthesis(ws, noise_mode=self.noise_mode)
        except _Stop:
            pass
        finally:
            h.remove()
        x = box['x'].float()
        if cfg.feature_crop:
            c = cfg.feature_crop
            x = x[:, :, c:x.shape[2] - c, c:x.shape[3] - c]
        R = self.resolution
        if x.shape[-1] != R:
            x = F.interpolate(x, size=(R, R), mode='bilinear', align_corners=False)
        return x

    def distances(self, points=None) -> list:
        p = self.points if points is None else points
        return [float(d) for d in (self.targets - p).norm(dim=1).cpu()]

    def _active(self):
        return [d > self.stop_distance * 0.5 for d in self.distances()]

    @torch.no_grad()
    def image(self) -> np.ndarray:
        """uint8 [H, W, C] of the current latent (the fast inference path)."""
        from explorer.engine.export import to_uint8
        img = self.G.synthesis(self.current_ws().detach(), noise_mode=self.noise_mode)
        return to_uint8(img)

    def result_ws(self) -> np.ndarray:
        return self.current_ws().detach()[0].cpu().numpy().astype(np.float32)

    # -- one step --------------------------------------------------------------------------
    def step(self, interrupt=None, want_image=False) -> DragStep:
        """Forward to F with gradients, track the handles (from the second step on), and
        unless they all arrived, one Adam update of the motion (+ mask) loss."""
        with torch.enable_grad():
            feat = self._features(self.current_ws(), interrupt)
            if self.feat0 is None:
                self.feat0 = feat.detach()
                self.ref = sample_features(self.feat0, self.handles)                  # f_i [P, C]
            else:
                with torch.no_grad():
                    self.points = track_points(feat.detach(), self.ref, self.points, self.config.r2)
            dist = self.distances()
            done = max(dist) <= self.stop_distance
            loss_value = 0.0
            if not done:
                loss = motion_loss(feat, self.points, self.targets, self.config.r1, active=self._active())
                if self.mask is not None:
                    loss = loss + self.config.lambda_mask * mask_loss(feat, self.feat0, self.mask)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.steps_done += 1
                loss_value = float(loss.detach())
        img = self.image() if want_image else None
        return DragStep(self.steps_done, [tuple(map(float, p)) for p in self.points.cpu().tolist()],
                        dist, loss_value, img, done)

    @torch.no_grad()
    def track(self, interrupt=None) -> list:
        """Track the handles on the current latent without updating it."""
        if self.ref is None:
            return self.distances()
        feat = self._features(self.current_ws().detach(), interrupt)
        self.points = track_points(feat, self.ref, self.points, self.config.r2)
        return self.distances()

    # -- the loop --------------------------------------------------------------------------
    def run(self, steps: int, on_step=None, cancel=None, image_every: int = 0, progress=None) -> DragResult:
        """Up to ``steps`` updates. ``on_step(DragStep)`` after each (may raise ``Cancelled``);
        ``cancel()`` true stops the drag, also in the middle of a step (between layers), and
        keeps the latent of the last full step; ``image_every`` k > 0: a DragStep carries the
        image every k steps; ``progress(done, total, text)`` as elsewhere in the engine."""
        if int(steps) < 1:
            raise UserError('steps must be at least 1')
        history, cancelled = [], False
        try:
            for i in range(int(steps) + 1):
                if cancel is not None and cancel():
                    raise Cancelled()
                if i == int(steps):          # after the last update: where did the handles land?
                    self.track(interrupt=cancel)
                    break
                want = bool(image_every) and (i + 1) % int(image_every) == 0
                st = self.step(interrupt=cancel, want_image=want)
                history.append(replace(st, image=None))
                if progress is not None:
                    progress(self.steps_done, int(steps), f'distance {max(st.distances):.1f} px')
                if on_step is not None:
                    on_step(st)
                if st.done:
                    break
        except Cancelled:
            cancelled = True
        dist = self.distances()
        return DragResult(ws=self.result_ws(), points=[tuple(map(float, p)) for p in self.points.cpu().tolist()],
                          distances=dist, start_distances=self.start_distances, steps=self.steps_done,
                          reached=max(dist) <= self.stop_distance, cancelled=cancelled, history=history)


def drag(G, ws, handles, targets, mask=None, steps: int = 200, config: DragConfig | None = None,
         device=None, noise_mode: str = 'const', on_step=None, cancel=None, image_every: int = 0,
         progress=None) -> DragResult:
    """Drag ``handles`` toward ``targets`` on the image of W+ ``ws``; see ``Dragger``."""
    d = Dragger(G, ws, handles, targets, mask=mask, config=config, device=device, noise_mode=noise_mode)
    return d.run(steps, on_step=on_step, cancel=cancel, image_every=image_every, progress=progress)
