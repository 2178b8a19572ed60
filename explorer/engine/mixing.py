"""The Figure-3 style-mixing grid (Karras et al., "A Style-Based Generator ...").

Rows are destination faces, columns are source faces; cell (r, c) is the row face
with the chosen layers' styles copied from the column face. The top row shows the
column faces, the left column shows the row faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.engine import latents
from explorer.engine.export import batch_to_uint8
from explorer.engine.recipe import MappingCache, Recipe


@dataclass(frozen=True)
class GridSpec:
    rows: tuple                 # destination seeds
    cols: tuple                 # source seeds
    layers: tuple               # ws indices copied from the column face
    psi: float = 1.0
    cutoff: int | None = None
    class_idx: int | None = None
    noise_mode: str = 'const'
    noise_strength: float = 1.0


def cell_recipe(spec: GridSpec, num_ws: int, row_seed: int, col_seed: int) -> Recipe:
    """The single-image recipe equal to grid cell (row_seed, col_seed)."""
    src = tuple(0 if i in spec.layers else -1 for i in range(num_ws))
    return Recipe(seeds=(int(row_seed),), seed_weights=(1.0,), psi=spec.psi, cutoff=spec.cutoff,
                  class_idx=spec.class_idx, noise_mode=spec.noise_mode, noise_strength=spec.noise_strength,
                  mix_seeds=(int(col_seed),), layer_source=src, layer_blend=tuple([1.0] * num_ws))


@torch.no_grad()
def iter_grid(G, spec: GridSpec, device=None, batch=8, cache: MappingCache | None = None):
    """Yield (kind, r, c, uint8 HWC image) progressively: headers first, then cells in batches.

    kind is 'col' (top row, r=-1), 'row' (left column, c=-1) or 'cell'.
    """
    cache = cache or MappingCache()
    device = device if device is not None else latents._device_of(G)
    kw = dict(noise_mode=spec.noise_mode, noise_scale=latents.noise_scales(G.num_ws, spec.noise_strength))

    def ws_of(seeds):
        return cache.ws_for_seeds(G, seeds, spec.psi, spec.cutoff, spec.class_idx, device)

    col_ws = ws_of(spec.cols)
    row_ws = ws_of(spec.rows)
    jobs = [('col', -1, c, col_ws[c]) for c in range(len(spec.cols))]
    jobs += [('row', r, -1, row_ws[r]) for r in range(len(spec.rows))]
    for r in range(len(spec.rows)):
        for c in range(len(spec.cols)):
            w = latents.mix_group(row_ws[r:r + 1], col_ws[c:c + 1], spec.layers)[0]
            jobs.append(('cell', r, c, w))
    for start in range(0, len(jobs), batch):
        chunk = jobs[start:start + batch]
        # Render one image per call so each cell equals the single render bit for bit.
        for kind, r, c, w in chunk:
            img = G.synthesis(w.unsqueeze(0), **kw)
            yield kind, r, c, batch_to_uint8(img)[0]


def compose_grid(spec: GridSpec, tiles: dict, tile_shape) -> np.ndarray:
    """Assemble {(kind, r, c): image} into one [H, W, C] uint8 grid with a blank corner."""
    h, w, ch = tile_shape
    nr, nc = len(spec.rows), len(spec.cols)
    canvas = np.full(((nr + 1) * h, (nc + 1) * w, ch), 255, dtype=np.uint8)
    for (kind, r, c), img in tiles.items():
        y = 0 if kind == 'col' else (r + 1) * h
        x = 0 if kind == 'row' else (c + 1) * w
        canvas[y:y + h, x:x + w] = img
    return canvas


def render_grid(G, spec: GridSpec, device=None, progress=None) -> np.ndarray:
    tiles = {}
    total = len(spec.rows) + len(spec.cols) + len(spec.rows) * len(spec.cols)
    shape = None
    for i, (kind, r, c, img) in enumerate(iter_grid(G, spec, device=device)):
        tiles[(kind, r, c)] = img
        shape = img.shape
        if progress is not None:
            progress(i + 1, total)
    return compose_grid(spec, tiles, shape)
