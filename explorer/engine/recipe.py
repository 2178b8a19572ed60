"""A render recipe: every setting that makes one image, immutable and hashable.

The same object is the GUI's render request payload, the PNG's embedded recipe
and what the CLI builds from its flags, so an exported PNG re-renders exactly.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import torch

from explorer.engine import latents
from explorer.engine.families import has_input_transform
from explorer.errors import UserError

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    seeds: tuple = (0,)                 # base latent seeds, blended in W with seed_weights
    seed_weights: tuple = (1.0,)        # one weight per seed (latent pad: 4 bilinear weights)
    psi: float = 1.0                    # truncation psi
    cutoff: int | None = None           # truncation applies to ws[:cutoff]; None = all
    class_idx: int | None = None        # class for conditional models
    noise_mode: str = 'const'           # 'const' | 'random' | 'none'
    noise_seed: int = 0                 # seeds the noise in 'random' mode
    noise_strength: float = 1.0         # global noise multiplier
    layer_noise: tuple | None = None    # per-ws-index noise multipliers (None = all 1)
    mix_seeds: tuple = ()               # style sources
    layer_source: tuple | None = None   # per ws index: -1 = base, k = mix_seeds[k]
    layer_blend: tuple | None = None    # per ws index: 0 = base .. 1 = source
    translate: tuple = (0.0, 0.0)       # StyleGAN3 input translation
    rotate: float = 0.0                 # StyleGAN3 input rotation (degrees)
    checkpoint: str = ''                # checkpoint file name (informational)
    checkpoint_sha256: str = ''         # checkpoint content hash (informational)

    def __post_init__(self):
        if self.noise_mode not in ('const', 'random', 'none'):
            raise UserError(f'noise mode must be const, random or none, got {self.noise_mode!r}')
        if len(self.seeds) == 0 or len(self.seeds) != len(self.seed_weights):
            raise UserError('seeds and seed_weights must be non-empty and of equal length')

    def replace(self, **changes) -> 'Recipe':
        return dataclasses.replace(self, **changes)

    def mapping_key(self) -> tuple:
        """What the mapping network output depends on (for caching)."""
        return (self.psi, self.cutoff, self.class_idx)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d['version'] = RECIPE_VERSION
        return json.loads(json.dumps(d))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> 'Recipe':
        d = dict(d)
        d.pop('version', None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UserError(f'recipe has unknown fields: {sorted(unknown)}')
        for k, v in list(d.items()):
            if isinstance(v, list):
                d[k] = tuple(v)
        return cls(**d)


def validate(recipe: Recipe, G) -> None:
    L = G.num_ws
    for name in ('layer_noise', 'layer_source', 'layer_blend'):
        v = getattr(recipe, name)
        if v is not None and len(v) != L:
            raise UserError(f'{name} has {len(v)} entries but the model has {L} style layers')
    if recipe.layer_source is not None:
        for s in recipe.layer_source:
            if s is not None and s >= len(recipe.mix_seeds):
                raise UserError(f'layer source {s} refers to a mix seed that is not given')
    if recipe.cutoff is not None and not 0 <= recipe.cutoff <= L:
        raise UserError(f'cutoff {recipe.cutoff} out of range 0..{L}')


class MappingCache:
    """Caches w per (seed, psi, cutoff, class) so style-only changes skip mapping."""

    def __init__(self, max_items=4096):
        self.max_items = max_items
        self._d: dict = {}
        self.hits = 0
        self.misses = 0

    def clear(self):
        self._d.clear()

    def ws_for_seeds(self, G, seeds, psi, cutoff, class_idx, device) -> torch.Tensor:
        """[len(seeds), L, D]."""
        out = [None] * len(seeds)
        todo = []
        for i, s in enumerate(seeds):
            key = (int(s), float(psi), cutoff, class_idx)
            hit = self._d.get(key)
            if hit is not None:
                self.hits += 1
                out[i] = hit
            else:
                todo.append((i, s, key))
        if todo:
            self.misses += len(todo)
            ws = latents.compute_ws(G, [s for _, s, _ in todo], psi, cutoff, class_idx, device)
            for (i, _, key), w in zip(todo, ws):
                out[i] = w
                if len(self._d) >= self.max_items:
                    self._d.pop(next(iter(self._d)))
                self._d[key] = w
        return torch.stack(out)


@torch.no_grad()
def recipe_ws(G, recipe: Recipe, device=None, cache: MappingCache | None = None) -> torch.Tensor:
    """[1, num_ws, w_dim]: blended base latent, then per-layer mixing."""
    validate(recipe, G)
    device = device if device is not None else latents._device_of(G)

    def lookup(seeds):
        if cache is not None:
            return cache.ws_for_seeds(G, seeds, recipe.psi, recipe.cutoff, recipe.class_idx, device)
        return latents.compute_ws(G, list(seeds), recipe.psi, recipe.cutoff, recipe.class_idx, device)

    base_all = lookup(recipe.seeds)  # [S, L, D]
    weights = torch.tensor(recipe.seed_weights, dtype=base_all.dtype, device=base_all.device)
    base = (base_all * weights.reshape(-1, 1, 1)).sum(0, keepdim=True)
    if recipe.layer_source is not None and recipe.mix_seeds:
        sources = lookup(recipe.mix_seeds)
        src = [(-1 if s is None else int(s)) for s in recipe.layer_source]
        base = latents.mix_ws(base, sources, src, recipe.layer_blend)
    return base


def synthesis_kwargs(G, recipe: Recipe) -> dict:
    kw = {'noise_mode': recipe.noise_mode,
          'noise_scale': latents.noise_scales(G.num_ws, recipe.noise_strength, recipe.layer_noise)}
    if recipe.noise_mode == 'random':
        g = torch.Generator()
        g.manual_seed(int(recipe.noise_seed))
        kw['noise_generator'] = g
    return kw


def apply_input_transform(G, recipe: Recipe) -> None:
    if has_input_transform(G):
        G.set_input_transform(translate=tuple(recipe.translate), rotate_deg=float(recipe.rotate))


@torch.no_grad()
def synthesize(G, recipe: Recipe, ws: torch.Tensor, **extra) -> torch.Tensor:
    """The image of ``recipe`` from its latents ``ws`` (``recipe_ws``): input transform, noise
    settings, ``G.synthesis``. ``extra``: more synthesis arguments (``stop_at``)."""
    apply_input_transform(G, recipe)
    return G.synthesis(ws, **synthesis_kwargs(G, recipe), **extra)


@torch.no_grad()
def render(G, recipe: Recipe, device=None, cache: MappingCache | None = None, **extra) -> torch.Tensor:
    """[1, C, H, W] float image in about [-1, 1]."""
    return synthesize(G, recipe, recipe_ws(G, recipe, device, cache), **extra)
