"""Semantic directions in W: SeFa, GANSpace PCA, directions from labels, and edits.

A direction set is K unit vectors in W ([K, w_dim], most important first) with the ws
indices they act on by default. An edit adds ``amount * direction`` to the chosen ws
rows after truncation and mixing (DESIGN.md: ``ws[:, layers] += A * directions[K]``).

- SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021):
  the eigenvectors of ``A A^T`` where ``A`` [w_dim, C] stacks, for each chosen ws index,
  the transposed weight of the affine that turns w into that layer's styles, each
  column normalised to unit length. No sampling: it reads the weights only.
- GANSpace (Harkonen et al., NeurIPS 2020): principal components of w = mapping(z)
  over many random z (no truncation), with the explained variance of each.
- From labels (InterFaceGAN, Shen et al., CVPR 2020): the normal of a linear classifier
  (or regressor, for scores) separating labelled w codes; "conditional" directions
  project out other directions so that an edit holds those attributes fixed.

Every set also carries ``std``: the standard deviation of w projected on each
direction, so a GUI slider can move in units of it. Files are ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from explorer.engine.atomic import atomic_write
from explorer.engine.safe_npz import load_npz
from explorer.errors import UserError

MAX_DIRECTIONS = 4096       # rows a direction file may hold
MAX_W_DIM = 4096            # w_dim a direction file may claim
MAX_PCA_SAMPLES = 10_000_000
STD_SAMPLES = 4096          # w samples used to measure the spread along each direction
METHODS = ('sefa', 'pca', 'labels', 'named')

Progress = Callable[[int, int, str], None]


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

    def check_compatible(self, G, checkpoint_sha256: str = '') -> str:
        """Refuse a set made for another architecture; return a warning ('' if none) when it
        fits this one but was made on another checkpoint."""
        if self.w_dim != G.w_dim:
            raise UserError(f'these directions are for w_dim {self.w_dim}; the loaded model has w_dim {G.w_dim}')
        if self.num_ws and self.num_ws != G.num_ws:
            raise UserError(f'these directions are for a model with {self.num_ws} style layers; '
                            f'the loaded model has {G.num_ws}')
        if self.checkpoint_sha256 and checkpoint_sha256 and self.checkpoint_sha256 != checkpoint_sha256:
            return ('these directions were made on another checkpoint of the same shape '
                    f'(sha256 {self.checkpoint_sha256[:12]}…); edits may not mean the same thing')
        return ''


def default_directions_path(checkpoint_path) -> Path | None:
    """The direction set shipped beside a checkpoint (``X.pt`` -> ``X_directions.npz``) if there
    is one, else None. The GUI loads it with the checkpoint, so a model can come with named sliders."""
    if checkpoint_path is None:
        return None
    p = Path(checkpoint_path)
    candidate = p.with_name(p.stem + '_directions.npz')
    return candidate if candidate.is_file() else None


# ---------------------------------------------------------------------- edits
def apply_edit(ws: torch.Tensor, direction, amount: float, layers: Sequence[int]) -> torch.Tensor:
    """``ws[:, layers] += amount * direction`` on a copy. ws: [N, num_ws, w_dim]."""
    out = ws.clone()
    if amount == 0 or len(layers) == 0:
        return out
    d = torch.as_tensor(np.asarray(direction, dtype=np.float32), device=ws.device).to(ws.dtype)
    if d.shape != (ws.shape[2],):
        raise UserError(f'direction has {d.shape[0]} values; w_dim is {ws.shape[2]}')
    idx = list(layers)
    if min(idx) < 0 or max(idx) >= ws.shape[1]:
        raise UserError(f'edit layers {idx} outside 0..{ws.shape[1] - 1}')
    out[:, idx] += float(amount) * d
    return out


# ---------------------------------------------------------------------- SeFa
def sefa(G, layers: Sequence[int] | None = None, num: int | None = None,
         checkpoint_sha256: str = '', std_samples: int = STD_SAMPLES) -> DirectionSet:
    """Closed-form factorisation of the style affines of ``layers`` (default: all)."""
    weights = G.style_affine_weights()
    layers = tuple(range(G.num_ws)) if layers is None else tuple(int(i) for i in layers)
    if not layers:
        raise UserError('SeFa needs at least one layer')
    A = np.concatenate([weights[i].detach().cpu().double().numpy().T for i in layers], axis=1)  # [w_dim, C]
    norms = np.linalg.norm(A, axis=0, keepdims=True)
    A = A / np.where(norms > 0, norms, 1.0)
    eigvals, eigvecs = np.linalg.eigh(A @ A.T)          # ascending, symmetric
    order = np.argsort(eigvals)[::-1]
    eigvals, dirs = eigvals[order], eigvecs[:, order].T  # rows = directions
    dirs = _fix_signs(dirs)
    K = G.w_dim if num is None else max(1, min(int(num), G.w_dim))
    dirs = dirs[:K].astype(np.float32)
    std = _std_along(G, dirs, std_samples) if std_samples else None
    return DirectionSet(directions=dirs, layers=layers, method='sefa',
                        names=tuple(f'SeFa {k}' for k in range(K)), num_ws=G.num_ws,
                        checkpoint_sha256=checkpoint_sha256, scores=eigvals[:K], std=std)


def _fix_signs(dirs: np.ndarray) -> np.ndarray:
    """Eigenvectors have no sign; make each row's largest-magnitude entry positive so the
    same network always gives the same file."""
    idx = np.argmax(np.abs(dirs), axis=1)
    signs = np.sign(dirs[np.arange(dirs.shape[0]), idx])
    return dirs * np.where(signs == 0, 1.0, signs)[:, None]


# ---------------------------------------------------------------------- PCA
@torch.no_grad()
def sample_w(G, n: int, seed: int = 0, batch: int = 1024, class_idx: int | None = None,
             progress: Progress | None = None, device=None) -> torch.Tensor:
    """[n, w_dim] float32 w = mapping(z) for n random z (no truncation)."""
    device = device if device is not None else _device_of(G)
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    done = 0
    while done < n:
        b = min(batch, n - done)
        z = torch.randn([b, G.z_dim], generator=gen).to(device)
        c = _class(G, class_idx, b, device)
        out.append(G.mapping(z, c)[:, 0].float().cpu())
        done += b
        if progress is not None:
            progress(done, n, 'sampling w')
    return torch.cat(out)


def pca(G, num: int = 32, samples: int = 20_000, layers: Sequence[int] | None = None, seed: int = 0,
        batch: int = 2048, class_idx: int | None = None, progress: Progress | None = None,
        checkpoint_sha256: str = '', device=None) -> DirectionSet:
    """GANSpace: principal components of w over ``samples`` random z, largest variance first.
    The covariance is accumulated in float64 batch by batch, so memory does not grow
    with ``samples``."""
    samples = int(samples)
    if not 2 <= samples <= MAX_PCA_SAMPLES:
        raise UserError(f'PCA needs between 2 and {MAX_PCA_SAMPLES} samples, got {samples}')
    device = device if device is not None else _device_of(G)
    D = G.w_dim
    gen = torch.Generator().manual_seed(int(seed))
    total = torch.zeros([D], dtype=torch.float64)
    outer = torch.zeros([D, D], dtype=torch.float64)
    done = 0
    with torch.no_grad():
        while done < samples:
            b = min(batch, samples - done)
            z = torch.randn([b, G.z_dim], generator=gen).to(device)
            w = G.mapping(z, _class(G, class_idx, b, device))[:, 0].double().cpu()
            total += w.sum(0)
            outer += w.T @ w
            done += b
            if progress is not None:
                progress(done, samples, 'sampling w')
    mean = total / samples
    cov = (outer - samples * torch.outer(mean, mean)) / (samples - 1)
    eigvals, eigvecs = np.linalg.eigh(cov.numpy())
    order = np.argsort(eigvals)[::-1]
    eigvals = np.clip(eigvals[order], 0.0, None)
    dirs = _fix_signs(eigvecs[:, order].T)
    K = max(1, min(int(num), D))
    ratio = eigvals / max(eigvals.sum(), 1e-30)
    return DirectionSet(directions=dirs[:K].astype(np.float32),
                        layers=tuple(range(G.num_ws)) if layers is None else tuple(int(i) for i in layers),
                        method='pca', names=tuple(f'PC {k}' for k in range(K)), num_ws=G.num_ws,
                        checkpoint_sha256=checkpoint_sha256, scores=ratio[:K],
                        std=np.sqrt(eigvals[:K]))


# ---------------------------------------------------------------------- labels
def orthogonalise(direction: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """``direction`` with the span of ``others`` projected out, renormalised (conditional
    editing: moving along it leaves the projections on ``others`` unchanged)."""
    d = np.asarray(direction, dtype=np.float64)
    if len(others):
        Q, _ = np.linalg.qr(np.stack([np.asarray(o, dtype=np.float64) for o in others], axis=1))
        d = d - Q @ (Q.T @ d)
    n = np.linalg.norm(d)
    if n < 1e-8:
        raise UserError('the direction lies in the span of the directions it should hold fixed')
    return (d / n).astype(np.float32)


def fit_direction(w: np.ndarray, labels: np.ndarray, condition_on: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A unit direction in W along which ``labels`` grow.

    w: [N, w_dim]; labels: [N], either two classes (any two values, e.g. -1/+1 or 0/1: a linear
    SVM, as in InterFaceGAN) or continuous scores (ridge regression). ``condition_on``:
    directions to project out (conditional editing)."""
    from sklearn.linear_model import Ridge
    from sklearn.svm import LinearSVC
    w = np.asarray(w, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if w.ndim != 2 or w.shape[0] != y.shape[0]:
        raise UserError(f'{w.shape[0] if w.ndim else 0} latents but {y.shape[0]} labels')
    if not np.isfinite(y).all() or not np.isfinite(w).all():
        raise UserError('labels and latents must be finite numbers')
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise UserError('label at least one face on each side (+ and -) before fitting a direction')
    mean, scale = w.mean(0), w.std(0) + 1e-8
    x = (w - mean) / scale
    if classes.shape[0] == 2:
        target = (y == classes[1]).astype(int)
        model = LinearSVC(C=1.0, max_iter=20_000, dual='auto').fit(x, target)
        coef = model.coef_.reshape(-1)
    else:
        model = Ridge(alpha=1.0).fit(x, y)
        coef = model.coef_.reshape(-1)
    d = coef / scale                  # back to w's own axes: score ~ coef . (w - mean) / scale
    if np.linalg.norm(d) < 1e-12:
        raise UserError('the labels do not separate along any direction')
    return orthogonalise(d / np.linalg.norm(d), condition_on)


def labelled_set(G, w: np.ndarray, label_sets: dict, condition: dict | None = None,
                 layers: Sequence[int] | None = None, checkpoint_sha256: str = '',
                 std_samples: int = STD_SAMPLES) -> DirectionSet:
    """One direction per named label set {name: labels [N]}; ``condition`` {name: [other names]}
    makes a direction conditional on others of the same set."""
    names = list(label_sets)
    raw = {n: fit_direction(w, label_sets[n]) for n in names}
    dirs = []
    for n in names:
        others = [raw[o] for o in (condition or {}).get(n, ()) if o != n]
        dirs.append(orthogonalise(raw[n], others) if others else raw[n])
    dirs = np.stack(dirs).astype(np.float32)
    std = _std_along(G, dirs, std_samples) if std_samples else None
    return DirectionSet(directions=dirs, layers=tuple(range(G.num_ws)) if layers is None else tuple(layers),
                        method='labels', names=tuple(names), num_ws=G.num_ws,
                        checkpoint_sha256=checkpoint_sha256, std=std)


# ---------------------------------------------------------------------- helpers
def _std_along(G, dirs: np.ndarray, n: int, seed: int = 12345) -> np.ndarray:
    w = sample_w(G, n, seed=seed).double().numpy()
    proj = (w - w.mean(0)) @ dirs.astype(np.float64).T
    return proj.std(0)


def _class(G, class_idx, n, device):
    if G.c_dim == 0:
        return None
    c = torch.zeros([n, G.c_dim], device=device)
    c[:, 0 if class_idx is None else int(class_idx)] = 1
    return c


def _device_of(G):
    for p in G.parameters():
        return p.device
    return torch.device('cpu')


def sweep_amounts(std: float, sigmas: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3)) -> list[float]:
    """Raw edit amounts for a sweep strip at the given multiples of ``std``."""
    s = float(std) if std and math.isfinite(std) else 1.0
    return [float(k) * s for k in sigmas]
