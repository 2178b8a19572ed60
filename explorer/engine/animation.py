"""Animations: keyframe latent walks, loops, easing and generated sweeps (no Qt).

An ``Animation`` is a list of ``Keyframe`` values, each a full ``Recipe`` (seed or
stored latent, psi, mixing, noise, direction edits) with the hold on it and the
duration and easing of the move to the next keyframe, plus the total length, the
frame rate and whether the path is closed (a loop).

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
each frame through exactly that call (batch 1, bit-exact). The ``'fast'`` path renders
the same ws through ``FastRenderer`` (the interactive view's path): equal to a single
``FastRenderer`` render of that ws, and to ``render`` within float rounding.

Generated animations (functions returning an ``Animation``): ``truncation_sweep``,
``direction_sweep`` (-A..+A along one direction), ``style_walk`` (only a layer range
moves), ``noise_loop`` (the latent stays, the noise inputs turn through a circle:
``noise(theta) = cos(theta) * noise_const + sin(theta) * B`` with B drawn from a seed,
so every pixel's noise stays unit-variance and frame 0 is the plain 'const' render).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from explorer.engine import latents
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe, validate
from explorer.engine.rendering import recipe_ws, render
from explorer.engine.stored_latents import Edit, StoredLatent, is_ref
from explorer.errors import UserError

ANIMATION_KIND = 'stylegan-explorer-animation'
ANIMATION_VERSION = 1
MAX_FRAMES = 100_000
MAX_FPS = 240.0
MAX_KEYFRAMES = 1000
INTERPOLATIONS = ('w+', 'z')
PATHS = ('exact', 'fast')

Progress = Callable[..., None]


# ---------------------------------------------------------------------------- easing

def _in_out(f_in):
    """Symmetric in-out easing from an ease-in curve."""
    return lambda t: f_in(2 * t) / 2 if t < 0.5 else 1 - f_in(2 - 2 * t) / 2


EASINGS: dict[str, Callable[[float], float]] = {
    'linear': lambda t: t,
    'ease-in-sine': lambda t: 1 - math.cos(t * math.pi / 2),
    'ease-out-sine': lambda t: math.sin(t * math.pi / 2),
    'ease-in-out-sine': lambda t: (1 - math.cos(t * math.pi)) / 2,
    'ease-in-quad': lambda t: t * t,
    'ease-out-quad': lambda t: 1 - (1 - t) ** 2,
    'ease-in-out-quad': _in_out(lambda t: t * t),
    'ease-in-cubic': lambda t: t ** 3,
    'ease-out-cubic': lambda t: 1 - (1 - t) ** 3,
    'ease-in-out-cubic': _in_out(lambda t: t ** 3),
    'ease-in-out-quint': _in_out(lambda t: t ** 5),
    'smoothstep': lambda t: t * t * (3 - 2 * t),
}
EASING_ALIASES = {'sine': 'ease-in-out-sine', 'cubic': 'ease-in-out-cubic', 'quad': 'ease-in-out-quad',
                  'quint': 'ease-in-out-quint'}


def easing_name(name: str) -> str:
    key = str(name).strip().lower().replace('_', '-')
    key = EASING_ALIASES.get(key, key)
    if key not in EASINGS:
        raise UserError(f'unknown easing {name!r}; choose one of {", ".join(EASINGS)} '
                        f'(or {", ".join(EASING_ALIASES)})')
    return key


def ease(name: str, t: float) -> float:
    """Eased progress of a move: 0 at t = 0, 1 at t = 1 (exactly), monotone in between."""
    t = min(max(float(t), 0.0), 1.0)
    if t == 0.0 or t == 1.0:
        return t
    return min(max(EASINGS[easing_name(name)](t), 0.0), 1.0)


# ---------------------------------------------------------------------------- data

def _nonneg(x, what) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
        raise UserError(f'{what} must be a number >= 0, got {x!r}')
    return float(x)


@dataclass(frozen=True)
class Keyframe:
    recipe: Recipe              # the full recipe at this keyframe
    hold: float = 0.0           # seconds the animation stays on this keyframe
    duration: float = 1.0       # seconds of the move to the next keyframe (last one: loops only)
    easing: str = 'linear'      # easing of that move

    def __post_init__(self):
        if not isinstance(self.recipe, Recipe):
            raise UserError('a keyframe needs a recipe')
        object.__setattr__(self, 'hold', _nonneg(self.hold, 'keyframe hold'))
        object.__setattr__(self, 'duration', _nonneg(self.duration, 'keyframe duration'))
        object.__setattr__(self, 'easing', easing_name(self.easing))

    def to_dict(self) -> dict:
        return {'recipe': self.recipe.to_dict(), 'hold': self.hold, 'duration': self.duration,
                'easing': self.easing}

    @classmethod
    def from_dict(cls, d) -> Keyframe:
        if not isinstance(d, dict) or 'recipe' not in d or not isinstance(d['recipe'], dict):
            raise UserError('a keyframe must be an object with a "recipe" object')
        unknown = set(d) - {'recipe', 'hold', 'duration', 'easing'}
        if unknown:
            raise UserError(f'keyframe has unknown fields: {sorted(unknown)}')
        return cls(recipe=Recipe.from_dict(d['recipe']), hold=d.get('hold', 0.0),
                   duration=d.get('duration', 1.0), easing=d.get('easing', 'linear'))


@dataclass(frozen=True)
class NoiseLoop:
    """The noise inputs turn once (or ``turns`` times) through a circle while the latent stays."""
    seed: int = 0               # seeds the second noise field B
    turns: int = 1

    def to_dict(self) -> dict:
        return {'seed': self.seed, 'turns': self.turns}


@dataclass(frozen=True)
class Animation:
    keyframes: tuple            # Keyframe values
    seconds: float              # total length
    fps: float = 30.0
    loop: bool = False          # closed path: the last keyframe moves back to the first
    interpolation: str = 'w+'   # 'w+' (lerp final ws) | 'z' (slerp z of seed keyframes)
    noise_loop: NoiseLoop | None = None
    name: str = ''              # what it is ('walk', 'psi sweep', ...), informational

    def __post_init__(self):
        object.__setattr__(self, 'keyframes', tuple(self.keyframes))
        if not self.keyframes or not all(isinstance(k, Keyframe) for k in self.keyframes):
            raise UserError('an animation needs keyframes')
        if len(self.keyframes) > MAX_KEYFRAMES:
            raise UserError(f'an animation may have at most {MAX_KEYFRAMES} keyframes')
        if self.noise_loop is None and len(self.keyframes) < 2:
            raise UserError('an animation needs at least two keyframes (or a noise loop)')
        if self.noise_loop is not None and len(self.keyframes) != 1:
            raise UserError('a noise loop animates one keyframe')
        if self.interpolation not in INTERPOLATIONS:
            raise UserError(f'interpolation must be one of {", ".join(INTERPOLATIONS)}, got {self.interpolation!r}')
        for name, top in (('seconds', 3600.0 * 10), ('fps', MAX_FPS)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= top:
                raise UserError(f'{name} must be a number > 0 and <= {top:g}, got {v!r}')
        n = self.num_frames
        if n > MAX_FRAMES:
            raise UserError(f'{n} frames is too many (at most {MAX_FRAMES})')
        if n < (1 if self.is_closed else 2):
            raise UserError(f'{self.seconds:g} s at {self.fps:g} fps is {n} frame(s); '
                            f'an open path needs at least 2')
        if self.noise_loop is None and sum(self._weights()) <= 0:
            raise UserError('the keyframes\' holds and durations are all zero')
        first = self.keyframes[0].recipe
        for k, kf in enumerate(self.keyframes[1:], 1):
            r = kf.recipe
            for name in ('noise_mode', 'noise_seed', 'class_idx'):
                if getattr(r, name) != getattr(first, name):
                    raise UserError(f'keyframe {k} has {name} {getattr(r, name)!r}, keyframe 0 has '
                                    f'{getattr(first, name)!r}: keyframes must share it')
        if self.interpolation == 'z':
            for k, kf in enumerate(self.keyframes):
                r = kf.recipe
                if (len(r.seeds) != 1 or is_ref(r.seeds[0]) or r.mix_seeds or r.layer_source is not None
                        or r.edits):
                    raise UserError(f'keyframe {k}: slerp in Z needs plain seed keyframes '
                                    '(one seed, no stored latent, mixing or edits); use w+')
                if r.cutoff != first.cutoff:
                    raise UserError(f'keyframe {k}: slerp in Z needs the same truncation cutoff in every keyframe')

    @property
    def num_frames(self) -> int:
        return round(self.seconds * self.fps)

    @property
    def is_closed(self) -> bool:
        return self.loop or self.noise_loop is not None

    def _weights(self) -> list:
        """Piece lengths: hold_0, move_0, hold_1, move_1, ... (open: without the last move)."""
        out = []
        for k, kf in enumerate(self.keyframes):
            out.append(kf.hold)
            if self.loop or k < len(self.keyframes) - 1:
                out.append(kf.duration)
        return out

    def replace(self, **changes) -> Animation:
        import dataclasses
        return dataclasses.replace(self, **changes)

    def with_easing(self, name: str) -> Animation:
        return self.replace(keyframes=tuple(Keyframe(k.recipe, k.hold, k.duration, name) for k in self.keyframes))

    def checkpoint_sha256(self) -> str:
        for kf in self.keyframes:
            if kf.recipe.checkpoint_sha256:
                return kf.recipe.checkpoint_sha256
        return ''

    def check_checkpoint(self, sha256: str, name: str = '') -> None:
        """Refuse keyframes made on another checkpoint (one with a different content hash)."""
        for k, kf in enumerate(self.keyframes):
            theirs = kf.recipe.checkpoint_sha256
            if theirs and sha256 and theirs != sha256:
                made = kf.recipe.checkpoint or theirs[:12]
                raise UserError(f'keyframe {k} was made with checkpoint {made} (sha256 {theirs[:12]}…), '
                                f'not the loaded {name or "checkpoint"} (sha256 {sha256[:12]}…)')

    def stamped(self, checkpoint: str, sha256: str) -> Animation:
        """Every keyframe recipe naming the checkpoint it renders with."""
        return self.replace(keyframes=tuple(
            Keyframe(k.recipe.replace(checkpoint=checkpoint, checkpoint_sha256=sha256), k.hold, k.duration, k.easing)
            for k in self.keyframes))

    # -------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        return {'kind': ANIMATION_KIND, 'version': ANIMATION_VERSION, 'name': self.name,
                'seconds': self.seconds, 'fps': self.fps, 'loop': self.loop,
                'interpolation': self.interpolation, 'frames': self.num_frames,
                'noise_loop': None if self.noise_loop is None else self.noise_loop.to_dict(),
                'keyframes': [k.to_dict() for k in self.keyframes]}

    def to_json(self, extra: dict | None = None) -> str:
        d = self.to_dict()
        if extra:
            d.update(extra)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_dict(cls, d, seconds=None, fps=None) -> Animation:
        """Read the animation JSON (``seconds``/``fps`` given here override the file's)."""
        if not isinstance(d, dict):
            raise UserError('an animation file must hold a JSON object')
        if d.get('kind', ANIMATION_KIND) != ANIMATION_KIND:
            raise UserError(f'not an animation file (kind {d.get("kind")!r})')
        if int(d.get('version', ANIMATION_VERSION)) > ANIMATION_VERSION:
            raise UserError(f'animation file version {d.get("version")} is newer than this program reads')
        kfs = d.get('keyframes')
        if not isinstance(kfs, list) or not kfs:
            raise UserError('an animation file needs a "keyframes" list')
        if len(kfs) > MAX_KEYFRAMES:
            raise UserError(f'an animation may have at most {MAX_KEYFRAMES} keyframes')
        keyframes = tuple(Keyframe.from_dict(k) for k in kfs)
        nl = d.get('noise_loop')
        if nl is not None:
            if not isinstance(nl, dict):
                raise UserError('"noise_loop" must be an object with a seed')
            seed, turns = nl.get('seed', 0), nl.get('turns', 1)
            if (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= latents.MAX_SEED
                    or isinstance(turns, bool) or not isinstance(turns, int) or not 1 <= turns <= 1000):
                raise UserError('noise_loop seed must be a seed and turns a whole number 1..1000')
            nl = NoiseLoop(seed=seed, turns=turns)
        seconds = d.get('seconds') if seconds is None else seconds
        if seconds is None:
            seconds = sum(k.hold + k.duration for k in keyframes)
        loop = d.get('loop', False)
        if not isinstance(loop, bool):
            raise UserError('"loop" must be true or false')
        return cls(keyframes=keyframes, seconds=seconds, fps=d.get('fps', 30.0) if fps is None else fps,
                   loop=loop, interpolation=str(d.get('interpolation', 'w+')), noise_loop=nl,
                   name=str(d.get('name', ''))[:200])


def read_animation(path, seconds=None, fps=None) -> Animation:
    """An animation JSON file (what the GUI writes, or the ``.json`` written beside a video)."""
    from pathlib import Path
    path = Path(path)
    try:
        if path.stat().st_size > 256 * 1024 * 1024:
            raise UserError(f'{path}: too large for an animation file')
        text = path.read_text(encoding='utf-8')
    except FileNotFoundError:
        raise UserError(f'{path}: no such file') from None
    except UnicodeDecodeError:
        raise UserError(f'{path}: not a JSON text file') from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f'{path}: not valid JSON ({e})') from None
    try:
        return Animation.from_dict(d, seconds=seconds, fps=fps)
    except UserError as e:
        raise UserError(f'{path}: {e}') from None
    except (TypeError, ValueError) as e:
        raise UserError(f'{path}: malformed animation ({e})') from None


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

    def __init__(self, G, anim: Animation, device=None, path='exact', batch=8):
        if path not in PATHS:
            raise ValueError(f'path must be one of {PATHS}, got {path!r}')
        self.G = G
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
            checkpoint=ra.checkpoint, checkpoint_sha256=ra.checkpoint_sha256)
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

        Batches: the exact path renders one frame per call (``recipe.render``, bit-exact);
        the fast path groups up to ``batch`` consecutive frames that share noise settings
        (never with 'random' noise, whose draws depend on the batch)."""
        n = self.num_frames
        i = start
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
            yield from self._render_states(states)
            i += len(states)
            if progress is not None:
                progress(i, n, '')


# ---------------------------------------------------------------------------- export

def export_animation(G, anim: Animation, out, device=None, path='exact', scale: int = 1, resample='lanczos',
                     quality: int | None = None, progress: Progress | None = None,
                     cancel: Callable[[], bool] | None = None, batch: int = 8, extra: dict | None = None):
    """Render ``anim`` and write it to ``out`` (.mp4 / .gif / .webp / a folder of PNGs), with the
    animation JSON beside it and inside it. Cancelling (``Cancelled`` from ``progress`` or
    ``cancel``, or Ctrl+C) leaves nothing under ``out``. -> the written path."""
    from explorer.engine import video_writers as vw
    plan = AnimationPlan(G, anim, device=device, path=path, batch=batch)
    meta = dict(extra or {})
    meta['output'] = {'format': vw.format_of(out), 'scale': scale, 'resample': resample,
                      'quality': vw.DEFAULT_QUALITY if quality is None else quality, 'render_path': plan.path,
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
