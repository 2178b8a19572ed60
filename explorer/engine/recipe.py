"""A render recipe: every setting that makes one image, immutable and hashable.

The same object is the GUI's render request payload, the PNG's embedded recipe
and what the CLI builds from its flags, so an exported PNG re-renders exactly.
Plain data (no torch: the UI imports it); ``explorer.engine.rendering`` renders it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from explorer.engine.seeds import MAX_SEED
from explorer.engine.stored_latents import Edit, StoredLatent, is_ref, ref_key
from explorer.errors import UserError

RECIPE_VERSION = 1
MAX_SOURCES = 256                   # seeds + stored latents one recipe may blend or mix
MAX_EDITS = 64
SYNTHESIS_PATHS = ('auto', 'fast', 'ref')   # Recipe.synthesis: which synthesis path renders it


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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
    latents: tuple = ()                 # StoredLatent values that seeds/mix_seeds refer to as 'latent:<key>'
    edits: tuple = ()                   # Edit values, applied after truncation and mixing
    synthesis: str = 'auto'             # 'auto' (fast where the model has it) | 'fast' | 'ref' (reference);
                                        # files record the concrete path; read without it: 'ref'

    def __post_init__(self):
        if self.noise_mode not in ('const', 'random', 'none'):
            raise UserError(f'noise mode must be const, random or none, got {self.noise_mode!r}')
        if self.synthesis not in SYNTHESIS_PATHS:
            raise UserError(f'synthesis must be auto, fast or ref, got {self.synthesis!r}')
        if len(self.seeds) == 0 or len(self.seeds) != len(self.seed_weights):
            raise UserError('seeds and seed_weights must be non-empty and of equal length')
        if len(self.seeds) + len(self.mix_seeds) > MAX_SOURCES:
            raise UserError(f'a recipe may blend and mix at most {MAX_SOURCES} latents')
        for name in ('psi', 'noise_strength', 'rotate'):
            if not _finite(getattr(self, name)):
                raise UserError(f'{name} must be a finite number, got {getattr(self, name)!r}')
        for name in ('seed_weights', 'layer_noise', 'layer_blend', 'translate'):
            v = getattr(self, name)
            if v is not None and not all(_finite(x) for x in v):
                raise UserError(f'{name} must hold finite numbers')
        if len(self.edits) > MAX_EDITS:
            raise UserError(f'a recipe may hold at most {MAX_EDITS} edits')
        if not all(isinstance(x, StoredLatent) for x in self.latents):
            raise UserError('latents must be stored latents')
        if not all(isinstance(x, Edit) for x in self.edits):
            raise UserError('edits must be direction edits')
        keys = {lat.key for lat in self.latents}
        for s in tuple(self.seeds) + tuple(self.mix_seeds):
            if is_ref(s):
                if ref_key(s) not in keys:
                    raise UserError(f'the recipe refers to {s} but does not hold that latent')
            elif isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise UserError(f'seed {s!r} must be a whole number 0..{MAX_SEED} or a stored latent')

    def latent(self, source) -> StoredLatent:
        key = ref_key(source)
        for lat in self.latents:
            if lat.key == key:
                return lat
        raise UserError(f'the recipe holds no latent {source}')

    def with_latent(self, lat: StoredLatent) -> 'Recipe':
        """This recipe holding ``lat`` too (kept sorted by key, so equal recipes compare equal)."""
        if any(x.key == lat.key for x in self.latents):
            return self
        return self.replace(latents=tuple(sorted(self.latents + (lat,), key=lambda x: x.key)))

    def pruned(self) -> 'Recipe':
        """Drop stored latents that no seed or mix source refers to any more."""
        used = {ref_key(s) for s in tuple(self.seeds) + tuple(self.mix_seeds) if is_ref(s)}
        keep = tuple(x for x in self.latents if x.key in used)
        return self if keep == self.latents else self.replace(latents=keep)

    def replace(self, **changes) -> 'Recipe':
        return dataclasses.replace(self, **changes)

    def mapping_key(self) -> tuple:
        """What the mapping network output depends on (for caching)."""
        return (self.psi, self.cutoff, self.class_idx)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d['latents'] = [x.to_dict() for x in self.latents]
        d['edits'] = [x.to_dict() for x in self.edits]
        d['version'] = RECIPE_VERSION
        return json.loads(json.dumps(d))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> 'Recipe':
        """A recipe read back (PNG, JSON). One written before recipes recorded their synthesis
        path was rendered by the reference: without the field it reads as ``synthesis='ref'``,
        so it re-renders the same pixels."""
        d = dict(d)
        d.pop('version', None)
        d.setdefault('synthesis', 'ref')
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UserError(f'recipe has unknown fields: {sorted(unknown)}')
        if not isinstance(d.get('latents', []), list) or not isinstance(d.get('edits', []), list):
            raise UserError('recipe latents and edits must be lists')
        d['latents'] = tuple(StoredLatent.from_dict(x) for x in d.get('latents', []))
        d['edits'] = tuple(Edit.from_dict(x) for x in d.get('edits', []))
        for k, v in list(d.items()):
            if isinstance(v, list):
                d[k] = tuple(v)
            _check_type(k, d[k])
        return cls(**d)


_INTS = ('seeds', 'mix_seeds')                          # tuples of whole numbers or latent refs
_NUMBERS = ('seed_weights', 'translate', 'layer_noise', 'layer_blend')
_OPTIONAL_INT = ('cutoff', 'class_idx')


def _check_type(name, v) -> None:
    """A recipe read from a file: each field has the type the renderer expects (UserError if not)."""
    def number(x, whole=False):
        return isinstance(x, int if whole else (int, float)) and not isinstance(x, bool)
    ok = True
    if name in _INTS:      # seeds, or refs to stored latents ('latent:<key>', checked in __post_init__)
        ok = isinstance(v, tuple) and all((number(x, True) and x >= 0) or is_ref(x) for x in v)
    elif name in _NUMBERS:
        ok = (v is None and name.startswith('layer_')) or (isinstance(v, tuple) and all(number(x) for x in v))
    elif name == 'layer_source':
        ok = v is None or (isinstance(v, tuple) and all(x is None or number(x, True) for x in v))
    elif name in _OPTIONAL_INT:
        ok = v is None or (number(v, True) and v >= 0)
    elif name in ('psi', 'noise_strength', 'rotate'):
        ok = number(v)
    elif name == 'noise_seed':
        ok = number(v, True) and v >= 0
    elif name in ('noise_mode', 'checkpoint', 'checkpoint_sha256', 'synthesis'):
        ok = isinstance(v, str)
    if not ok:
        raise UserError(f'recipe field {name} has an invalid value {v!r}')


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
    for lat in recipe.latents:
        if lat.w_dim != G.w_dim:
            raise UserError(f'latent {lat.name or lat.key} has w_dim {lat.w_dim}; the model has w_dim {G.w_dim}')
        if lat.space == 'w+' and lat.shape[0] != L:
            raise UserError(f'latent {lat.name or lat.key} has {lat.shape[0]} style layers; the model has {L}')
    for e in recipe.edits:
        if e.w_dim != G.w_dim:
            raise UserError(f'edit {e.name!r} has w_dim {e.w_dim}; the model has w_dim {G.w_dim}')
        if e.layers and max(e.layers) >= L:
            raise UserError(f'edit {e.name!r} acts on layer {max(e.layers)}; the model has layers 0..{L - 1}')


