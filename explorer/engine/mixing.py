"""The Figure-3 style-mixing grid (Karras et al., "A Style-Based Generator ...").

Rows are destination faces, columns are source faces; cell (r, c) is the row face
with the chosen layers' styles copied from the column face. The top row shows the
column faces, the left column shows the row faces.

The spec, the PNG recipe and composing the image are plain data in
``explorer.engine.grid_spec``; this module renders the tiles with torch.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.engine import latents
from explorer.engine.export import batch_to_uint8
from explorer.engine.families import has_input_transform
from explorer.engine.grid_spec import GridSpec, grid_export_image
from explorer.engine.interrupt import checker, interruptible
from explorer.engine.rendering import MappingCache, apply_edits, batch_size, synthesis_path
from explorer.engine.stored_latents import fits_model
from explorer.errors import UserError


@torch.no_grad()
def iter_grid(G, spec: GridSpec, device=None, batch=8, cache: MappingCache | None = None, interrupt=None):
    """Yield (kind, r, c, uint8 HWC image) progressively: headers first, then cells in batches.

    kind is 'col' (top row, r=-1), 'row' (left column, c=-1) or 'cell'. The tiles render on
    ``spec.synthesis``'s path (``resolved_spec`` says which), as its cell recipes do, with
    StyleGAN3's input transform at rest (a cell recipe's translate/rotate), set again before every
    tile: a caller may render other recipes (their own transform) between two tiles.
    ``interrupt()`` true -> ``Cancelled``: asked before each tile and, on the reference path,
    between layers (``engine.interrupt``; the fast path is not hooked, its pixels stay the plan's).
    """
    cache = cache or MappingCache()
    device = device if device is not None else latents._device_of(G)
    impl = 'auto' if synthesis_path(G, spec.synthesis) == 'fast' else 'ref'
    kw = dict(noise_mode=spec.noise_mode, noise_scale=latents.noise_scales(G.num_ws, spec.noise_strength),
              impl=impl)
    check = checker(interrupt)

    def ws_of(seeds):
        # One source per mapping call, as a single render maps it: a batched mapping can differ
        # from it in the last bit on CPU, and then a cell would differ from its cell_recipe by 1/255.
        return torch.cat([cache.ws_for_seeds(G, [s], spec.psi, spec.cutoff, spec.class_idx, device,
                                             stored=spec.latents) for s in seeds])

    for lat in spec.latents:        # a latent of another model: one clear error before any tile
        why = fits_model(lat, G.w_dim, G.num_ws)
        if why:
            raise UserError(why)

    col_ws = ws_of(spec.cols)
    row_ws = ws_of(spec.rows)
    jobs = [('col', -1, c, col_ws[c]) for c in range(len(spec.cols))]
    jobs += [('row', r, -1, row_ws[r]) for r in range(len(spec.rows))]
    for r in range(len(spec.rows)):
        for c in range(len(spec.cols)):
            w = latents.mix_group(row_ws[r:r + 1], col_ws[c:c + 1], spec.layers)[0]
            jobs.append(('cell', r, c, w))
    if spec.edits:      # after truncation and mixing, as for a single image (rendering.recipe_ws)
        jobs = [(kind, r, c, apply_edits(w.unsqueeze(0), spec.edits)[0]) for kind, r, c, w in jobs]
    # Several tiles per call only where each keeps the bits of its single render (the CPU lanes
    # on the StyleGAN2 fast path, ``rendering.synthesize_batch``; random noise draws from the
    # global generator tile by tile, so not then); else one tile per call.
    lanes = batch_size(G, device) if impl == 'auto' and spec.noise_mode != 'random' else 1
    step = max(1, min(batch, lanes))
    for start in range(0, len(jobs), step):
        chunk = jobs[start:start + step]
        check()
        imgs = None
        if len(chunk) > 1:
            from explorer.engine import fast_synthesis
            imgs = fast_synthesis.try_render(G.synthesis, torch.stack([w for *_, w in chunk]),
                                             noise_scale=kw['noise_scale'],
                                             block_kwargs={'noise_mode': spec.noise_mode}, interrupt=interrupt)
        if imgs is not None:
            for (kind, r, c, _), tile in zip(chunk, batch_to_uint8(imgs)):
                yield kind, r, c, tile
            continue
        for kind, r, c, w in chunk:     # one image per call: each cell equals its single render
            check()
            if has_input_transform(G):
                G.set_input_transform(translate=(0.0, 0.0), rotate_deg=0.0)
            with interruptible(G.synthesis, interrupt if impl == 'ref' else None):
                img = G.synthesis(w.unsqueeze(0), **kw)
            yield kind, r, c, batch_to_uint8(img)[0]


def resolved_spec(G, spec: GridSpec) -> GridSpec:
    """``spec`` recording the synthesis path its tiles render with here ('fast' | 'ref')."""
    path = synthesis_path(G, spec.synthesis)
    return spec if spec.synthesis == path else spec.replace(synthesis=path)


def render_grid(G, spec: GridSpec, device=None, progress=None, upscale: int = 1, labels: bool = False,
                export: dict | None = None) -> np.ndarray:
    """The whole grid as one image (see ``grid_export_image``); ``export``, if given, is
    filled with the export record to embed."""
    tiles = {}
    total = len(spec.rows) + len(spec.cols) + len(spec.rows) * len(spec.cols)
    shape = None
    for i, (kind, r, c, img) in enumerate(iter_grid(G, spec, device=device)):
        tiles[(kind, r, c)] = img
        shape = img.shape
        if progress is not None:
            progress(i + 1, total)
    grid, record = grid_export_image(spec, tiles, shape, upscale=upscale, labels=labels)
    if export is not None:
        export.update(record)
    return grid
