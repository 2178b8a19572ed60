"""Animations as plain data (no torch: the GUI imports it): keyframes, easing and the JSON file.

An ``Animation`` is a list of ``Keyframe`` values, each a full ``Recipe`` with the hold on it
and the duration and easing of the move to the next keyframe, plus the total length, the
frame rate and whether the path is closed (a loop). ``Animation.to_json`` /
``read_animation`` are the animation JSON that the GUI saves and ``main.py video
--keyframes`` reads. Rendering the frames needs torch and lives in
``explorer.engine.animation`` (``AnimationPlan``, ``export_animation``), which re-exports
everything here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from explorer.engine.recipe import Recipe
from explorer.engine.seeds import MAX_SEED
from explorer.engine.stored_latents import is_ref
from explorer.errors import UserError

ANIMATION_KIND = 'stylegan-explorer-animation'
ANIMATION_VERSION = 1
MAX_FRAMES = 100_000
MAX_FPS = 240.0
MAX_KEYFRAMES = 1000
INTERPOLATIONS = ('w+', 'z')


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
            if (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
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
