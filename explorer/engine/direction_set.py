"""A set of semantic directions in W as plain data (numpy only, no torch): the file format,
compatibility checks and the recipe-edit helpers the GUI uses.

A direction set is K unit vectors in W ([K, w_dim], most important first) with the ws
indices they act on by default (per direction, ``layers_of(k)``) and ``std``: the standard
deviation of w along each direction, the unit of the GUI's sliders. Files are ``.npz``
read with ``allow_pickle=False`` (DESIGN.md, "directions"). The algorithms that make sets
(SeFa, PCA, labels) need torch and live in ``explorer.engine.directions``.

An edit is ``stored_latents.Edit`` in a ``Recipe``: ``ws[:, layers] += amount * vector`` after
truncation and mixing, ``amount`` in raw W units (a slider at s sigma: ``s * std[k]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from explorer.engine.atomic import atomic_write
from explorer.engine.safe_npz import load_npz
from explorer.engine.stored_latents import Edit
from explorer.errors import UserError

MAX_DIRECTIONS = 4096       # rows a direction file may hold
MAX_W_DIM = 4096            # w_dim a direction file may claim
SWEEP_SIGMAS = (-3, -2, -1, 0, 1, 2, 3)     # a sweep strip's thumbnails, in units of std


@dataclass(frozen=True)
class DirectionSet:
    directions: np.ndarray                  # [K, w_dim] float32, unit rows
    layers: tuple                           # default ws indices the directions act on
    method: str                             # 'sefa' | 'pca' | 'labels' | 'named'
    names: tuple                            # one name per direction
    num_ws: int                             # num_ws of the generator they were made for
    checkpoint_sha256: str = ''             # the checkpoint they were made on ('' = unknown)
    scores: np.ndarray | None = None        # [K] eigenvalues (SeFa) / explained variance ratio (PCA)
    std: np.ndarray | None = None           # [K] std of w along each direction (slider unit)
    layer_ranges: tuple = field(default=()) # per direction: its own default ws indices ((): use layers)

    def __post_init__(self):
        d = np.asarray(self.directions)
        if d.ndim != 2 or d.shape[0] < 1:
            raise UserError(f'directions must be [K, w_dim] with K >= 1, got shape {list(d.shape)}')
        if len(self.names) != d.shape[0]:
            raise UserError(f'{len(self.names)} names for {d.shape[0]} directions')

    @property
    def w_dim(self) -> int:
        return int(self.directions.shape[1])

    def __len__(self) -> int:
        return int(self.directions.shape[0])

    def layers_of(self, k: int) -> tuple:
        if self.layer_ranges and self.layer_ranges[k]:
            return tuple(self.layer_ranges[k])
        return tuple(self.layers)

    def vector(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise UserError(f'direction {k} out of range: this set has directions 0..{len(self) - 1}')
        return self.directions[k]

    def digest(self, k: int) -> str:
        """Content hash of direction k (recipes name directions by it)."""
        return hashlib.sha256(np.ascontiguousarray(self.vector(k), dtype='<f4').tobytes()).hexdigest()[:16]

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        path = Path(path)
        if path.suffix.lower() != '.npz':
            raise UserError(f'{path}: direction sets are saved as .npz')
        arrays = {
            'directions': np.ascontiguousarray(self.directions, dtype=np.float32),
            'layers': np.asarray(self.layers, dtype=np.int64),
            'method': np.array(self.method),
            'names': np.array([str(n) for n in self.names], dtype=np.str_),
            'num_ws': np.array(int(self.num_ws), dtype=np.int64),
            'w_dim': np.array(self.w_dim, dtype=np.int64),
            'checkpoint_sha256': np.array(self.checkpoint_sha256),
        }
        if self.scores is not None:
            arrays['scores'] = np.asarray(self.scores, dtype=np.float64)
        if self.std is not None:
            arrays['std'] = np.asarray(self.std, dtype=np.float64)
        if self.layer_ranges:
            mask = np.zeros([len(self), int(self.num_ws)], dtype=bool)
            for k, rows in enumerate(self.layer_ranges):
                mask[k, list(rows)] = True
            arrays['layer_mask'] = mask
        atomic_write(path, lambda f: np.savez(f, **arrays), suffix='.npz')
        return path

    @classmethod
    def load(cls, path) -> 'DirectionSet':
        path = Path(path)
        if not path.is_file():
            raise UserError(f'{path}: no such direction file')
        data = load_npz(path)
        if 'directions' not in data:
            raise UserError(f'{path}: not a direction file (no "directions" array)')
        d = np.asarray(data['directions'])
        if d.ndim != 2 or not 1 <= d.shape[0] <= MAX_DIRECTIONS or not 1 <= d.shape[1] <= MAX_W_DIM:
            raise UserError(f'{path}: directions must be [K, w_dim] with K <= {MAX_DIRECTIONS}, '
                            f'got {list(d.shape)}')
        if not np.issubdtype(d.dtype, np.floating) or not np.isfinite(d).all():
            raise UserError(f'{path}: directions must be finite floats')
        norms = np.linalg.norm(d.astype(np.float64), axis=1)
        if (norms < 1e-12).any():
            raise UserError(f'{path}: direction {int(np.argmin(norms))} is zero')
        d = (d / norms[:, None]).astype(np.float32)
        K = d.shape[0]
        num_ws = int(data['num_ws']) if 'num_ws' in data else None
        layers = tuple(int(i) for i in np.asarray(data.get('layers', np.zeros([0], np.int64))).reshape(-1))
        if num_ws is None:
            num_ws = (max(layers) + 1) if layers else 0
        if any(i < 0 or i >= max(num_ws, 1) for i in layers):
            raise UserError(f'{path}: layer indices {list(layers)} outside 0..{num_ws - 1}')
        names = tuple(str(n) for n in np.asarray(data.get('names', np.array([], np.str_))).reshape(-1))
        if len(names) != K:
            names = tuple(f'{str(data.get("method", "direction"))} {k}' for k in range(K))
        def vec(key):
            if key not in data:
                return None
            v = np.asarray(data[key], dtype=np.float64).reshape(-1)
            if v.shape[0] != K or not np.isfinite(v).all():
                raise UserError(f'{path}: "{key}" must hold {K} finite numbers')
            return v
        ranges = ()
        if 'layer_mask' in data:
            mask = np.asarray(data['layer_mask'], dtype=bool)
            if mask.shape != (K, num_ws):
                raise UserError(f'{path}: layer_mask must be [{K}, {num_ws}]')
            ranges = tuple(tuple(int(i) for i in np.flatnonzero(row)) for row in mask)
        return cls(directions=d, layers=layers, method=str(data.get('method', 'unknown')), names=names,
                   num_ws=num_ws, checkpoint_sha256=str(data.get('checkpoint_sha256', '')),
                   scores=vec('scores'), std=vec('std'), layer_ranges=ranges)

    def check_compatible(self, model, checkpoint_sha256: str = '') -> str:
        """Refuse a set made for another architecture (UserError); return a warning ('' if none)
        when it fits this one but was made on another checkpoint. ``model``: anything with
        ``w_dim`` and ``num_ws`` (a generator, or the GUI's ModelInfo)."""
        return self.check_shape(int(model.w_dim), int(model.num_ws), checkpoint_sha256)

    def check_shape(self, w_dim: int, num_ws: int, checkpoint_sha256: str = '') -> str:
        """``check_compatible`` with the model's numbers."""
        if self.w_dim != w_dim:
            raise UserError(f'these directions are for w_dim {self.w_dim}; the loaded model has w_dim {w_dim}')
        if self.num_ws and self.num_ws != num_ws:
            raise UserError(f'these directions are for a model with {self.num_ws} style layers; '
                            f'the loaded model has {num_ws}')
        if self.checkpoint_sha256 and checkpoint_sha256 and self.checkpoint_sha256 != checkpoint_sha256:
            return ('these directions were made on another checkpoint of the same shape '
                    f'(sha256 {self.checkpoint_sha256[:12]}…); edits may not mean the same thing')
        return ''

    def replace(self, **changes) -> 'DirectionSet':
        """A copy with some fields changed (names after a rename, std once measured)."""
        return dataclasses.replace(self, **changes)

    def edit_vector(self, k: int) -> str:
        """Direction k as an ``Edit`` stores it (base64 float32): recipes' edits of this
        direction carry exactly this string, whatever they are named."""
        return Edit.make('', self.vector(k), 0.0, ()).vector


def default_directions_path(checkpoint_path) -> Path | None:
    """The direction set shipped beside a checkpoint (``X.pt`` -> ``X_directions.npz``) if there
    is one, else None. The GUI loads it with the checkpoint, so a model can come with named sliders."""
    if not checkpoint_path:
        return None
    p = Path(checkpoint_path)
    candidate = p.with_name(p.stem + '_directions.npz')
    return candidate if candidate.is_file() else None


def sweep_amounts(std: float, sigmas: Sequence[float] = SWEEP_SIGMAS) -> list[float]:
    """Raw edit amounts for a sweep strip at the given multiples of ``std``."""
    s = float(std) if std and math.isfinite(std) else 1.0
    return [float(k) * s for k in sigmas]


# ---------------------------------------------------------------------- edits in a recipe
def find_edit(edits: Sequence[Edit], vector: str) -> int:
    """Index in ``edits`` of the edit along ``vector`` (``DirectionSet.edit_vector``), -1 if none."""
    for i, e in enumerate(edits):
        if e.vector == vector:
            return i
    return -1


def set_edit(edits: Sequence[Edit], edit: Edit) -> tuple:
    """``edits`` with the edit along ``edit``'s direction replaced by ``edit`` (in place; appended
    when there was none). An amount of 0 removes it: a recipe with a direction at zero equals
    the recipe that never had it."""
    edits = tuple(edits)
    i = find_edit(edits, edit.vector)
    if edit.amount == 0 or not edit.layers:
        return edits if i < 0 else edits[:i] + edits[i + 1:]
    if i < 0:
        return edits + (edit,)
    return edits[:i] + (edit,) + edits[i + 1:]


def sweep_recipes(recipe, edit: Edit, amounts: Sequence[float]) -> list:
    """One recipe per amount: ``recipe`` with its edit along ``edit``'s direction (if any)
    replaced by ``edit`` at that amount (other edits kept). Amount 0 gives the recipe
    without that direction."""
    return [recipe.replace(edits=set_edit(recipe.edits, edit.with_amount(a))) for a in amounts]
