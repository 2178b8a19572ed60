"""Latent files in and out: NVIDIA's ``projected_w.npz`` layout, ``.npy`` and torch tensors.

Reading never unpickles: ``.npz``/``.npy`` through the checked reader (headers before data,
no object arrays), torch files with ``weights_only=True``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from explorer.engine.atomic import atomic_write
from explorer.engine.safe_npz import MAX_ELEMENTS, load_npy, load_npz
from explorer.engine.stored_latents import LATENT_SUFFIXES, StoredLatent, check_latent_shape
from explorer.errors import UserError

_KEYS = ('w', 'ws', 'latent', 'latents', 'projected_w')


def _pick(data: dict, path) -> np.ndarray:
    for k in _KEYS:
        if k in data:
            return np.asarray(data[k])
    if len(data) == 1:
        return np.asarray(next(iter(data.values())))
    raise UserError(f'{path}: no latent found (expected an array named "w", as NVIDIA\'s projector writes)')


def _as_latent(arr, path) -> np.ndarray:
    a = np.asarray(arr)
    if not np.issubdtype(a.dtype, np.floating):
        raise UserError(f'{path}: the latent must hold floating-point numbers, not {a.dtype}')
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    try:
        check_latent_shape(a.shape)
    except UserError as e:
        raise UserError(f'{path}: {e}') from None
    return a.astype(np.float32)


def read_latent(path) -> np.ndarray:
    """W [w_dim] or W+ [num_ws, w_dim] float32 from a latent file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f'{path}: no such file')
    if not path.is_file():
        raise UserError(f'{path}: not a regular file')
    suffix = path.suffix.lower()
    if suffix == '.npz':
        return _as_latent(_pick(load_npz(path), path), path)
    if suffix == '.npy':
        return _as_latent(load_npy(path), path)
    if suffix in ('.pt', '.pth'):
        return _as_latent(_read_torch(path), path)
    raise UserError(f'{path}: unknown latent file type (use {", ".join(LATENT_SUFFIXES)})')


def _read_torch(path) -> np.ndarray:
    import pickle
    import warnings

    import torch
    try:
        with warnings.catch_warnings():     # torch warns about the pickle protocol of foreign files
            warnings.simplefilter('ignore')
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as e:
        raise UserError(f'{path}: not a readable torch tensor file ({str(e).splitlines()[0][:200]})') from None
    if isinstance(obj, dict):
        obj = _pick({k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, path)
    if not isinstance(obj, (torch.Tensor, np.ndarray)):
        raise UserError(f'{path}: holds {type(obj).__name__}, not a latent tensor')
    t = torch.as_tensor(obj)
    if t.numel() > MAX_ELEMENTS:
        raise UserError(f'{path}: tensor of shape {list(t.shape)} is too large for a latent')
    return t.detach().to(torch.float32).numpy()


def read_stored_latent(path) -> StoredLatent:
    path = Path(path)
    return StoredLatent.from_array(read_latent(path), name=path.name)


def write_latent_npz(path, ws, num_ws: int | None = None) -> Path:
    """NVIDIA's layout: key ``w``, float32 [1, num_ws, w_dim]. A W latent is broadcast to
    ``num_ws`` layers (required then)."""
    path = Path(path)
    if path.suffix.lower() != '.npz':
        raise UserError(f'{path}: latents are written as .npz (NVIDIA projected_w layout)')
    a = np.asarray(ws, dtype=np.float32)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1:
        if not num_ws:
            raise UserError('a W latent needs num_ws to be written in NVIDIA\'s [1, num_ws, w_dim] layout')
        a = np.repeat(a[None], num_ws, axis=0)
    check_latent_shape(a.shape)
    atomic_write(path, lambda f: np.savez(f, w=a[None]), suffix='.npz')
    return path
