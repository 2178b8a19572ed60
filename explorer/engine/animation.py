"""Animations: keyframe latent walks, loops, easing and generated sweeps (no Qt).

An ``Animation`` is a list of ``Keyframe`` values, each a full ``Recipe`` (seed or
stored latent, psi, mixing, noise, direction edits) with the hold on it and the
duration and easing of the move to the next keyframe, plus the total length, the
frame rate and whether the path is closed (a loop).

The plain data (``Keyframe``, ``Animation``, easing, the JSON file) lives in the torch-free
``explorer.engine.animation_spec`` and is re-exported here.

Timing (DESIGN.md): an animation of S seconds at F fps has N = round(S * F) frames.
Open path: frame i sits at u = i / (N - 1) of the timeline, so the first frame is the
first keyframe and the last frame the last keyframe. Loop: frame i sits at u = i / N
of the closed path (keyframe 0 -> 1 -> ... -> K-1 -> 0), so frame N would be frame 0
and the first keyframe is not repeated at the end. The timeline is cut into pieces
``hold_0, move_0, hold_1, move_1, ...`` (an open path drops the last move) whose
lengths are the keyframes' ``hold`` and ``duration`` seconds scaled to S, so they are
relative weights when they do not add up to S.

Interpolation: ``'w+'`` (default) lerps the final ws of the two keyframes (what
``recipe.recipe_ws`` computes: truncation, mixing and edits included); ``'z'`` slerps
the z of plain seed keyframes and maps it with the interpolated psi. Noise strength,
per-layer noise and StyleGAN3's translate/rotate are lerped too; the noise mode, noise
seed and class must be the same in every keyframe.

A frame's interpolated recipe (``AnimationPlan.frame_recipe(i)``) holds its ws as a
stored W+ latent (``'latent:<key>'``) with the frame's noise settings, so
``rendering.render(G, plan.frame_recipe(i))`` is the frame: the ``'exact'`` path renders
each frame through exactly that call (batch 1, bit-exact). Frame recipes record the synthesis
path (``synthesis``: 'auto' resolves to 'fast' where the model has that path, which is the
default of ``G.synthesis`` under no_grad; 'ref' the reference, the CLI's ``--exact``). The
``'fast'`` plan path renders the same ws through ``FastRenderer`` in batches (the interactive
view's path, CUDA graphs on a GPU): equal to a single ``FastRenderer`` render of that ws, and to
``render`` within float rounding (on the CPU, bit for bit with a 'fast' frame recipe).

Generated animations (functions returning an ``Animation``): ``truncation_sweep``,
``direction_sweep`` (-A..+A along one direction), ``style_walk`` (only a layer range
moves), ``noise_loop`` (the latent stays, the noise inputs turn through a circle:
``noise(theta) = cos(theta) * noise_const + sin(theta) * B`` with B drawn from a seed,
so every pixel's noise stays unit-variance and frame 0 is the plain 'const' render).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from explorer.engine import latents
from explorer.engine.animation_spec import (  # noqa: F401 (re-exported: the plain data lives there)
    ANIMATION_KIND,
    ANIMATION_VERSION,
    EASING_ALIASES,
    EASINGS,
    INTERPOLATIONS,
    MAX_FPS,
    MAX_FRAMES,
    MAX_KEYFRAMES,
    Animation,
    Keyframe,
    NoiseLoop,
    ease,
    easing_name,
    read_animation,
)
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe, validate
from explorer.engine.rendering import recipe_ws, render
from explorer.engine.stored_latents import Edit, StoredLatent
from explorer.errors import UserError

PATHS = ('exact', 'fast')

Progress = Callable[..., None]


# ---------------------------------------------------------------------------- builders

def walk(recipes, seconds, fps=30.0, loop=False, easing='linear', hold=0.0, interpolation='w+',
         name='walk') -> Animation:
    """Equal-length moves through the recipes (each held ``hold`` seconds, relative)."""
    recipes = list(recipes)
    kfs = tuple(Keyframe(r, hold=hold, duration=1.0, easing=easing) for r in recipes)
    return Animation(keyframes=kfs, seconds=seconds, fps=fps, loop=loop, interpolation=interpolation, name=name)


def seed_walk(seeds, seconds, fps=30.0, loop=False, easing='linear', base: Recipe | None = None, **kw) -> Animation:
    base = base or Recipe()
    return walk([base.replace(seeds=(int(s),), seed_weights=(1.0,)) for s in seeds], seconds, fps, loop, easing, **kw)


def truncation_sweep(base: Recipe, seconds, fps=30.0, psi_from=1.0, psi_to=-1.0, loop=False,
                     easing='linear') -> Animation:
    """psi from ``psi_from`` to ``psi_to`` (loop: and back). ws is linear in psi, so lerping the
    two keyframes' ws is the truncation of every psi in between."""
    return walk([base.replace(psi=float(psi_from)), base.replace(psi=float(psi_to))], seconds, fps, loop, easing,
                name='psi sweep')


def direction_sweep(base: Recipe, vector, amount, layers, seconds, fps=30.0, loop=False, easing='linear',
                    direction_name='direction') -> Animation:
    """The edit ``amount`` of one direction goes from -A to +A (loop: and back), on top of
    the base recipe's own edits."""
    a = float(amount)
    recipes = [base.replace(edits=tuple(base.edits) + (Edit.make(direction_name, vector, s * a, layers),))
               for s in (-1.0, 1.0)]
    return walk(recipes, seconds, fps, loop, easing, name=f'{direction_name} sweep')


def style_walk(base: Recipe, sources, layers, num_ws, seconds, fps=30.0, loop=False, easing='linear') -> Animation:
    """Only the ws rows in ``layers`` move: keyframe k takes them from ``sources[k]`` (a seed or
    a stored latent ref), every other row stays the base's."""
    layers = {int(i) for i in layers}
    if not layers:
        raise UserError('a style walk needs at least one layer')
    recipes = []
    for s in sources:
        recipes.append(base.replace(mix_seeds=(s,), layer_source=tuple(0 if i in layers else -1 for i in range(num_ws)),
                                    layer_blend=None))
    return walk(recipes, seconds, fps, loop, easing, name='style walk')


def noise_loop(base: Recipe, seconds, fps=30.0, seed=0, turns=1) -> Animation:
    return Animation(keyframes=(Keyframe(base.replace(noise_mode='const')),), seconds=seconds, fps=fps, loop=True,
                     noise_loop=NoiseLoop(seed=int(seed), turns=int(turns)), name='noise loop')


# ---------------------------------------------------------------------------- noise loop

class _WithSynthesis:
    """A generator view whose ``synthesis`` is replaced (everything else is the original's)."""

    def __init__(self, G, synthesis):
        self._G = G
        self.synthesis = synthesis

    def __getattr__(self, name):
        return getattr(self._G, name)


def noise_buffers(module) -> list:
    """(name, buffer) of every per-layer constant noise input, in module order."""
    return [(n, b) for n, b in module.named_buffers() if n.split('.')[-1] == 'noise_const']


class NoiseLoopGenerator:
    """Renders ``G`` with its constant noise replaced by ``cos(theta) * const + sin(theta) * B``.

    Works on a copy of the synthesis network that shares every weight with ``G`` and owns
    only its noise buffers, so ``G`` (maybe shared with the interactive view) is never
    modified. ``at(theta)`` -> a generator view to pass to ``recipe.render``.
    """

    def __init__(self, G, seed: int):
        own = noise_buffers(G.synthesis)
        if not own:
            raise UserError('this model has no noise inputs (StyleGAN3?): a noise loop needs them')
        keep = {id(b) for _, b in own}
        memo = {id(t): t for t in list(G.synthesis.parameters()) + list(G.synthesis.buffers()) if id(t) not in keep}
        self.G = G
        self.synthesis = copy.deepcopy(G.synthesis, memo)
        gen = torch.Generator().manual_seed(int(seed))
        self.a = [b.detach().clone() for _, b in own]
        self.b = [torch.randn(b.shape, generator=gen).to(b.device, b.dtype) for _, b in own]
        self.targets = [b for _, b in noise_buffers(self.synthesis)]

    @torch.no_grad()
    def at(self, theta: float):
        c, s = math.cos(theta), math.sin(theta)
        for t, a, b in zip(self.targets, self.a, self.b):
            t.copy_(a * c + b * s)
        return _WithSynthesis(self.G, self.synthesis)


# ---------------------------------------------------------------------------- plan

@dataclass
class FrameState:
    ws: torch.Tensor            # [1, num_ws, w_dim] float32
    recipe: Recipe              # the frame's interpolated recipe (ws stored as a W+ latent)
    theta: float | None = None  # noise-loop angle (None: not a noise loop)


def _lerp(a, b, t):
    return a + (b - a) * t


def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of float64 vectors (lerp when nearly parallel)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.dot(a, b) / max(na * nb, 1e-30))
    omega = math.acos(min(max(cos, -1.0), 1.0))
    if omega < 1e-6:
        return _lerp(a, b, t)
    so = math.sin(omega)
    return (math.sin((1 - t) * omega) / so) * a + (math.sin(t * omega) / so) * b


class AnimationPlan:
    """The frames of an animation for one generator: times, ws and interpolated recipes.

    Keyframe ws are computed once (``recipe_ws``); ``state(i)`` is cheap. ``render(i)``
    gives frame i as uint8 [H, W, C]; ``frames()`` iterates all of them with progress
    and cancellation, for a GUI worker or the CLI.
    """

    def __init__(self, G, anim: Animation, device=None, path='exact', batch=8, synthesis='auto'):
        from explorer.engine.rendering import synthesis_path
        if path not in PATHS:
            raise ValueError(f'path must be one of {PATHS}, got {path!r}')
        self.G = G
        self.synthesis = synthesis_path(G, 'auto' if path == 'fast' else synthesis)    # 'fast' | 'ref'
        self.anim = anim
        self.device = device if device is not None else latents._device_of(G)
        for k, kf in enumerate(anim.keyframes):
            try:
                validate(kf.recipe, G)
            except UserError as e:
                raise UserError(f'keyframe {k}: {e}') from None
        self.key_ws = [recipe_ws(G, kf.recipe, self.device).to(torch.float32) for kf in anim.keyframes]
        if anim.interpolation == 'z':
            self.key_z = [latents.seed_to_z(kf.recipe.seeds[0], G.z_dim)[0] for kf in anim.keyframes]
        self._starts = []
        acc = 0.0
        for w in anim._weights():
            self._starts.append(acc)
            acc += w
        self._total = acc
        self._noise = NoiseLoopGenerator(G, anim.noise_loop.seed) if anim.noise_loop is not None else None
        self.path = path
        self.batch = max(1, int(batch))
        self._fast = None
        if path == 'fast':
            if self._noise is not None:
                self.path = 'exact'   # the noise loop swaps noise buffers: FastRenderer folds them into a plan
            else:
                from explorer.engine.fast_render import FastRenderer
                self._fast = FastRenderer(G, self.device)

    @property
    def num_frames(self) -> int:
        return self.anim.num_frames

    def time_of(self, i: int) -> float:
        """u in [0, 1] of frame i (open: i / (N - 1); closed: i / N)."""
        n = self.num_frames
        if not 0 <= i < n:
            raise IndexError(f'frame {i} out of range 0..{n - 1}')
        if self.anim.is_closed:
            return i / n
        return i / (n - 1)

    def position(self, u: float) -> tuple:
        """-> (keyframe a, keyframe b, eased t): frame = interpolate(a, b, t)."""
        K = len(self.anim.keyframes)
        if self.anim.noise_loop is not None:
            return 0, 0, 0.0
        x = u * self._total
        weights = self.anim._weights()
        piece = len(weights) - 1
        for p, (start, w) in enumerate(zip(self._starts, weights)):
            if x < start + w:
                piece = p
                break
        k = piece // 2
        if piece % 2 == 0:                      # a hold on keyframe k
            return k, k, 0.0
        w = weights[piece]
        t = 1.0 if w <= 0 else min(max((x - self._starts[piece]) / w, 0.0), 1.0)
        kf = self.anim.keyframes[k]
        return k, (k + 1) % K, ease(kf.easing, t)

    def _ws(self, a, b, t) -> torch.Tensor:
        if t == 0.0 or a == b:
            return self.key_ws[a]
        if t == 1.0:
            return self.key_ws[b]
        if self.anim.interpolation == 'w+':
            return torch.lerp(self.key_ws[a], self.key_ws[b], float(t))
        ra, rb = self.anim.keyframes[a].recipe, self.anim.keyframes[b].recipe
        z = torch.from_numpy(_slerp(self.key_z[a], self.key_z[b], t)[None]).to(torch.float32).to(self.device)
        c = latents.class_vector(ra.class_idx, self.G.c_dim, n=1, device=self.device)
        with torch.no_grad():
            return self.G.mapping(z, c, truncation_psi=_lerp(ra.psi, rb.psi, t),
                                  truncation_cutoff=ra.cutoff).to(torch.float32)

    def state(self, i: int) -> FrameState:
        u = self.time_of(i)
        a, b, t = self.position(u)
        ra, rb = self.anim.keyframes[a].recipe, self.anim.keyframes[b].recipe
        ws = self._ws(a, b, t)
        L = self.G.num_ws
        if ra.layer_noise is None and rb.layer_noise is None:
            layer_noise = None
        else:
            na = ra.layer_noise or (1.0,) * L
            nb = rb.layer_noise or (1.0,) * L
            layer_noise = tuple(float(_lerp(x, y, t)) for x, y in zip(na, nb))
        lat = StoredLatent.from_array(ws[0].detach().cpu().numpy(), name=f'frame {i}')
        recipe = Recipe(
            seeds=(lat.ref,), latents=(lat,), class_idx=ra.class_idx,
            noise_mode=ra.noise_mode, noise_seed=ra.noise_seed,
            noise_strength=float(_lerp(ra.noise_strength, rb.noise_strength, t)), layer_noise=layer_noise,
            translate=tuple(float(_lerp(x, y, t)) for x, y in zip(ra.translate, rb.translate)),
            rotate=float(_lerp(ra.rotate, rb.rotate, t)),
            checkpoint=ra.checkpoint, checkpoint_sha256=ra.checkpoint_sha256, synthesis=self.synthesis)
        theta = None
        if self._noise is not None:
            theta = 2 * math.pi * self.anim.noise_loop.turns * u
        return FrameState(ws=ws, recipe=recipe, theta=theta)

    def frame_recipe(self, i: int) -> Recipe:
        return self.state(i).recipe

    def generator_for(self, state: FrameState):
        """The generator (view) frame ``state`` renders with: ``G``, or for a noise loop a view
        whose constant noise is turned to the frame's angle."""
        return self.G if state.theta is None else self._noise.at(state.theta)

    @torch.no_grad()
    def _render_states(self, states) -> np.ndarray:
        from explorer.engine.export import batch_to_uint8
        if self._fast is None:
            if self._noise is None:     # on the CPU lanes several at once, each bit for bit as alone
                from explorer.engine.rendering import render_many
                return batch_to_uint8(torch.cat(render_many(self.G, [s.recipe for s in states], device=self.device)))
            imgs = [render(self.generator_for(s), s.recipe, device=self.device) for s in states]
            return batch_to_uint8(torch.cat(imgs))
        from explorer.engine.rendering import apply_input_transform, synthesis_kwargs
        apply_input_transform(self.G, states[0].recipe)
        kw = synthesis_kwargs(self.G, states[0].recipe)
        ws = torch.cat([s.ws for s in states]).to(self.device)
        return batch_to_uint8(self._fast.render(ws, **kw))

    def _same_settings(self, r1: Recipe, r2: Recipe) -> bool:
        return (r1.noise_strength == r2.noise_strength and r1.layer_noise == r2.layer_noise
                and r1.translate == r2.translate and r1.rotate == r2.rotate)

    def render(self, i: int) -> np.ndarray:
        """Frame i, uint8 [H, W, C]."""
        return self._render_states([self.state(i)])[0]

    def frames(self, start: int = 0, progress: Progress | None = None,
               cancel: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start .. N-1`` as uint8 [H, W, C]. ``progress(done, total, text)`` is
        called after each batch (it may raise ``Cancelled``); ``cancel()`` returning True stops
        with ``Cancelled`` before the next batch.

        Batches: the exact path renders each frame as ``rendering.render`` renders its recipe,
        bit for bit, several consecutive frames with the same synthesis settings in one call
        where that keeps the bits (``rendering.render_many``: the CPU lanes on the StyleGAN2
        fast path, up to ``batch``; not for a noise loop, whose frames each turn the noise);
        the fast path groups up to ``batch`` consecutive frames that share noise settings
        (never with 'random' noise, whose draws depend on the batch)."""
        from explorer.engine.rendering import batch_size, synthesis_key
        n = self.num_frames
        i = start
        exact_batch = 1
        if self._fast is None and self._noise is None:
            exact_batch = min(self.batch, batch_size(self.G, self.device))
        while i < n:
            if cancel is not None and cancel():
                raise Cancelled()
            states = [self.state(i)]
            if self._fast is not None and states[0].recipe.noise_mode != 'random':
                while len(states) < self.batch and i + len(states) < n:
                    s = self.state(i + len(states))
                    if not self._same_settings(s.recipe, states[0].recipe):
                        break
                    states.append(s)
            key = synthesis_key(self.G, states[0].recipe) if exact_batch > 1 else None
            while len(states) < exact_batch and i + len(states) < n:
                s = self.state(i + len(states))
                if synthesis_key(self.G, s.recipe) != key:
                    break
                states.append(s)
            yield from self._render_states(states)
            i += len(states)
            if progress is not None:
                progress(i, n, '')


# ---------------------------------------------------------------------------- export

def export_animation(G, anim: Animation, out, device=None, path='exact', scale: int = 1, resample='lanczos',
                     quality: int | None = None, progress: Progress | None = None,
                     cancel: Callable[[], bool] | None = None, batch: int = 8, extra: dict | None = None,
                     synthesis: str = 'auto'):
    """Render ``anim`` and write it to ``out`` (.mp4 / .gif / .webp / a folder of PNGs), with the
    animation JSON beside it and inside it. Cancelling (``Cancelled`` from ``progress`` or
    ``cancel``, or Ctrl+C) leaves nothing under ``out``. ``synthesis``: 'auto' (fast where the
    model has it) or 'ref'; the metadata and frame recipes record the concrete path.
    -> the written path."""
    from explorer.engine import video_writers as vw
    plan = AnimationPlan(G, anim, device=device, path=path, batch=batch, synthesis=synthesis)
    meta = dict(extra or {})
    meta['output'] = {'format': vw.format_of(out), 'scale': scale, 'resample': resample,
                      'quality': vw.DEFAULT_QUALITY if quality is None else quality, 'render_path': plan.path,
                      'synthesis': plan.synthesis,
                      'width': int(G.img_resolution) * scale, 'height': int(G.img_resolution) * scale}
    writer = vw.open_writer(out, anim.fps, quality=vw.DEFAULT_QUALITY if quality is None else quality,
                            scale=scale, resample=resample, metadata=anim.to_json(meta))
    want_info = writer.fmt == 'png'
    with writer:
        for i, frame in enumerate(plan.frames(progress=progress, cancel=cancel)):
            info = None
            if want_info:
                info = plan.frame_recipe(i).to_dict()
                if anim.noise_loop is not None:
                    info['noise_loop_frame'] = {'seed': anim.noise_loop.seed, 'turns': anim.noise_loop.turns,
                                                'theta': plan.state(i).theta}
            writer.write(frame, info)
    return writer.path
