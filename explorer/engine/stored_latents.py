"""Stored latents and direction edits as plain data (numpy only, no torch).

A stored latent is a W [w_dim] or W+ [num_ws, w_dim] code kept by value: from a
projection, a drag, an import or "Keep this latent". Recipes embed the ones they use
(base64 of little-endian float32) and refer to them as ``'latent:<key>'`` wherever a
seed could stand (base blend, mix sources, grid rows and columns), so a PNG alone
re-renders the same pixels. The key is a content hash, so the same code always has
the same name.

An ``Edit`` is one direction edit (DESIGN.md): after truncation and mixing,
``ws[:, layers] += amount * vector``; the vector travels with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from explorer.errors import UserError

REF_PREFIX = 'latent:'
LATENT_SUFFIXES = ('.npz', '.npy', '.pt', '.pth')   # latent files the GUI and CLI read (explorer.engine.latent_io)
MAX_LATENT_VALUES = 64 * 4096       # num_ws * w_dim of any sane generator (18 x 512 = 9216)
MAX_W_DIM = 4096
MAX_NUM_WS = 64
MAX_ABS_VALUE = 1e4                 # a w coordinate beyond this is corrupt, not a latent


def _encode(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype='<f4').tobytes()).decode('ascii')


def _decode(data: str, shape: tuple, what: str) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    if n > MAX_LATENT_VALUES:
        raise UserError(f'{what}: shape {list(shape)} is too large')
    if not isinstance(data, str) or len(data) > 4 * (4 * n + 2) // 3 + 4:
        raise UserError(f'{what}: data does not match shape {list(shape)}')
    try:
        raw = base64.b64decode(data.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise UserError(f'{what}: data is not base64') from None
    if len(raw) != 4 * n:
        raise UserError(f'{what}: {len(raw)} bytes for shape {list(shape)}')
    arr = np.frombuffer(raw, dtype='<f4').astype(np.float32).reshape(shape)
    if not np.isfinite(arr).all() or np.abs(arr).max(initial=0.0) > MAX_ABS_VALUE:
        raise UserError(f'{what}: values must be finite and below {MAX_ABS_VALUE:g}')
    return arr


def content_key(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr, dtype='<f4')
    h = hashlib.sha256(repr(tuple(a.shape)).encode() + a.tobytes())
    return h.hexdigest()[:16]


def check_latent_shape(shape) -> tuple:
    if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise UserError(f'a latent shape must be a list of whole numbers, got {str(shape)[:40]}')
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1 and 1 <= shape[0] <= MAX_W_DIM:
        return shape
    if len(shape) == 2 and 1 <= shape[0] <= MAX_NUM_WS and 1 <= shape[1] <= MAX_W_DIM:
        return shape
    raise UserError(f'a latent must be W [w_dim] or W+ [num_ws, w_dim], got shape {list(shape)}')


@dataclass(frozen=True)
class StoredLatent:
    key: str            # content hash of shape and float32 values
    shape: tuple        # (w_dim,) for W, (num_ws, w_dim) for W+
    data: str           # base64 of little-endian float32
    name: str = ''      # what the user sees ('photo.jpg projected', 'kept latent'); not part of the key

    @classmethod
    def from_array(cls, arr, name: str = '') -> 'StoredLatent':
        a = np.asarray(arr, dtype=np.float32)
        while a.ndim > 2 and a.shape[0] == 1:       # NVIDIA's [1, num_ws, w_dim]
            a = a[0]
        shape = check_latent_shape(a.shape)
        if not np.isfinite(a).all() or np.abs(a).max(initial=0.0) > MAX_ABS_VALUE:
            raise UserError(f'latent values must be finite and below {MAX_ABS_VALUE:g}')
        return cls(key=content_key(a), shape=shape, data=_encode(a), name=str(name)[:200])

    @property
    def ref(self) -> str:
        return REF_PREFIX + self.key

    @property
    def space(self) -> str:
        return 'w' if len(self.shape) == 1 else 'w+'

    @property
    def w_dim(self) -> int:
        return int(self.shape[-1])

    def array(self) -> np.ndarray:
        return _decode(self.data, self.shape, f'latent {self.key}')

    def ws(self, num_ws: int) -> np.ndarray:
        """[num_ws, w_dim]: W broadcast to every layer, W+ as it is (checked)."""
        a = self.array()
        if a.ndim == 1:
            return np.repeat(a[None], num_ws, axis=0)
        if a.shape[0] != num_ws:
            raise UserError(f'latent {self.name or self.key} has {a.shape[0]} style layers; '
                            f'the model has {num_ws}')
        return a

    def to_dict(self) -> dict:
        return {'key': self.key, 'shape': list(self.shape), 'data': self.data, 'name': self.name}

    @classmethod
    def from_dict(cls, d) -> 'StoredLatent':
        if not isinstance(d, dict):
            raise UserError('a stored latent must be an object with key, shape and data')
        shape = check_latent_shape(d.get('shape', ()))
        arr = _decode(d.get('data', ''), shape, f'latent {str(d.get("key", "?"))[:20]}')
        key = content_key(arr)
        if d.get('key') not in (None, key):
            raise UserError(f'latent {str(d.get("key"))[:20]}: content does not match its key')
        return cls(key=key, shape=shape, data=d['data'], name=str(d.get('name', ''))[:200])


def is_ref(source) -> bool:
    return isinstance(source, str) and source.startswith(REF_PREFIX)


def ref_key(source) -> str:
    return source[len(REF_PREFIX):]


def source_label(source, latents=()) -> str:
    """'seed 42' or the stored latent's name, for tooltips and grid labels."""
    if is_ref(source):
        for lat in latents:
            if lat.key == ref_key(source):
                return lat.name or f'latent {lat.key[:8]}'
        return f'latent {ref_key(source)[:8]}'
    return f'seed {source}'


def first_seed(sources, default: int = 0) -> int:
    """The first plain seed among ``sources`` (``default`` when they are all stored latents)."""
    return next((int(s) for s in sources if not is_ref(s)), int(default))


def fits_model(lat: StoredLatent, w_dim: int, num_ws: int) -> str:
    """'' when ``lat`` fits a model with ``w_dim`` and ``num_ws``, else why not (one line)."""
    what = lat.name or f'latent {lat.key[:8]}'
    if lat.w_dim != int(w_dim):
        return f'{what} has w_dim {lat.w_dim}; the model has w_dim {w_dim}'
    if lat.space == 'w+' and lat.shape[0] != int(num_ws):
        return f'{what} has {lat.shape[0]} style layers; the model has {num_ws}'
    return ''


@dataclass(frozen=True)
class Edit:
    name: str           # direction name ('yaw', 'SeFa 3')
    vector: str         # base64 float32 [w_dim], unit length
    amount: float       # A in ws[:, layers] += A * d (raw W units)
    layers: tuple       # ws indices it acts on
    w_dim: int

    @classmethod
    def make(cls, name, vector, amount, layers) -> 'Edit':
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if not 1 <= v.shape[0] <= MAX_W_DIM or not np.isfinite(v).all():
            raise UserError('an edit direction must be a finite vector')
        amount = float(amount)
        if not math.isfinite(amount) or abs(amount) > MAX_ABS_VALUE:
            raise UserError(f'edit amount must be a finite number, got {amount}')
        layers = tuple(sorted({int(i) for i in layers}))
        if any(i < 0 or i >= MAX_NUM_WS for i in layers):
            raise UserError(f'edit layers {list(layers)} out of range')
        return cls(name=str(name)[:200], vector=_encode(v), amount=amount, layers=layers, w_dim=int(v.shape[0]))

    @property
    def key(self) -> str:
        return content_key(self.array())

    def array(self) -> np.ndarray:
        return _decode(self.vector, (self.w_dim,), f'edit {self.name!r}')

    def with_amount(self, amount) -> 'Edit':
        return Edit.make(self.name, self.array(), amount, self.layers)

    def to_dict(self) -> dict:
        return {'name': self.name, 'vector': self.vector, 'amount': self.amount, 'layers': list(self.layers),
                'w_dim': self.w_dim}

    @classmethod
    def from_dict(cls, d) -> 'Edit':
        if not isinstance(d, dict):
            raise UserError('an edit must be an object with name, vector, amount and layers')
        try:
            w_dim = int(d.get('w_dim', 0))
            if not 1 <= w_dim <= MAX_W_DIM:
                raise ValueError
            vec = _decode(d.get('vector', ''), (w_dim,), f'edit {str(d.get("name", "?"))[:40]!r}')
            layers = [int(i) for i in d.get('layers', ())]
            amount = float(d.get('amount', 0.0))
        except (TypeError, ValueError, OverflowError):
            raise UserError('an edit needs a vector, w_dim, a numeric amount and integer layers') from None
        return cls.make(d.get('name', ''), vec, amount, layers)


def apply_edits_np(ws: np.ndarray, edits) -> np.ndarray:
    """The edit rule on numpy ws [N, num_ws, w_dim] (reference for tests and previews)."""
    out = np.array(ws, dtype=np.float32, copy=True)
    for e in edits:
        if e.layers:
            out[:, list(e.layers)] += np.float32(e.amount) * e.array()
    return out
