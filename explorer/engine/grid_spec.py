"""The Figure-3 grid as plain data (no torch): its spec, the PNG recipe, cell recipes, and
composing, upscaling and labelling the tiles into one image.

A grid PNG carries its spec as the embedded recipe ``{'grid': {...}, 'checkpoint': ...}``
(``grid_recipe``; ``GridSpec.from_dict`` reads it back), so opening the PNG restores the
grid. Rendering the tiles is ``explorer.engine.mixing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.engine.png import pil_image, upscale_image
from explorer.engine.recipe import MAX_EDITS, MAX_SOURCES, RECIPE_VERSION, SYNTHESIS_PATHS, Recipe
from explorer.engine.seeds import MAX_SEED
from explorer.engine.stored_latents import Edit, StoredLatent, is_ref, ref_key, source_label
from explorer.errors import UserError


@dataclass(frozen=True)
class GridSpec:
    rows: tuple                 # destination seeds or stored-latent refs ('latent:<key>')
    cols: tuple                 # source seeds or stored-latent refs
    layers: tuple               # ws indices copied from the column face
    psi: float = 1.0
    cutoff: int | None = None
    class_idx: int | None = None
    noise_mode: str = 'const'
    noise_strength: float = 1.0
    edits: tuple = ()           # direction edits (stored_latents.Edit) applied to every tile, as in Explore
    latents: tuple = ()         # StoredLatent values that rows/cols refer to as 'latent:<key>'
    synthesis: str = 'auto'     # Recipe.synthesis of every tile; a grid file records 'fast' | 'ref'

    def __post_init__(self):
        if self.synthesis not in SYNTHESIS_PATHS:
            raise UserError(f'the grid has an unknown synthesis path {self.synthesis!r}')
        if not all(isinstance(x, StoredLatent) for x in self.latents):
            raise UserError('the grid latents must be stored latents')
        keys = {lat.key for lat in self.latents}
        if len(keys) != len(self.latents):
            raise UserError('the grid holds the same stored latent twice')
        for s in tuple(self.rows) + tuple(self.cols):
            if is_ref(s):
                if ref_key(s) not in keys:
                    raise UserError(f'the grid refers to {str(s)[:40]} but does not hold that latent')
            elif isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise UserError(f'the grid has a bad row or column {str(s)[:40]!r} (a seed 0..{MAX_SEED} '
                                f'or a stored latent)')

    def replace(self, **changes) -> 'GridSpec':
        import dataclasses
        return dataclasses.replace(self, **changes)

    def label(self, source) -> str:
        """A row or column header: the seed number, or the stored latent's name."""
        return source_label(source, self.latents) if is_ref(source) else str(source)

    def to_dict(self) -> dict:
        """Plain JSON types (the grid PNG's embedded spec)."""
        d = {'rows': [_plain(s) for s in self.rows], 'cols': [_plain(s) for s in self.cols],
             'layers': [int(i) for i in self.layers], 'psi': float(self.psi), 'cutoff': self.cutoff,
             'class_idx': self.class_idx, 'noise_mode': self.noise_mode,
             'noise_strength': float(self.noise_strength), 'synthesis': self.synthesis}
        if self.edits:
            d['edits'] = [e.to_dict() for e in self.edits]
        if self.latents:
            d['latents'] = [lat.to_dict() for lat in self.latents]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> 'GridSpec':
        """The spec of a grid PNG (``to_dict``, the CLI's ``mix`` meta, older GUI grids); UserError
        if it is damaged. Unknown keys (``styles``) are ignored; missing ones take the defaults
        (``synthesis``: 'ref', the path grids were rendered with before they recorded it)."""
        if not isinstance(d, dict):
            raise UserError('the grid settings are not a JSON object')
        try:
            rows, cols = tuple(_seed(s) for s in d['rows']), tuple(_seed(s) for s in d['cols'])
            layers = tuple(int(i) for i in d.get('layers', ()))
            cutoff, class_idx = d.get('cutoff'), d.get('class_idx')
            edits = d.get('edits', [])
            if not isinstance(edits, list) or len(edits) > MAX_EDITS:
                raise ValueError(f'edits must be a list of at most {MAX_EDITS}')
            edits = tuple(Edit.from_dict(x) for x in edits)
            stored = d.get('latents', [])
            if not isinstance(stored, list) or len(stored) > MAX_SOURCES:
                raise ValueError(f'latents must be a list of at most {MAX_SOURCES}')
            stored = tuple(sorted((StoredLatent.from_dict(x) for x in stored), key=lambda x: x.key))
            spec = cls(rows=rows, cols=cols, layers=layers, psi=float(d.get('psi', 1.0)),
                       cutoff=None if cutoff is None else int(cutoff),
                       class_idx=None if class_idx is None else int(class_idx),
                       noise_mode=str(d.get('noise_mode', 'const')),
                       noise_strength=float(d.get('noise_strength', 1.0)), edits=edits,
                       latents=stored, synthesis=str(d.get('synthesis', 'ref')))
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise UserError(f'the grid settings are damaged ({type(e).__name__}: {str(e)[:200]})') from None
        if not rows or not cols:
            raise UserError('the grid has no rows or no columns')
        if spec.noise_mode not in ('const', 'random', 'none'):
            raise UserError(f'the grid has an unknown noise mode {spec.noise_mode!r}')
        if any(i < 0 for i in layers):
            raise UserError('the grid has a negative layer index')
        return spec


def _plain(s):
    return str(s) if is_ref(s) else int(s)


def _seed(s):
    """A seed (whole number 0..MAX_SEED) or a stored-latent ref, as JSON gives it."""
    if is_ref(s):
        return str(s)
    s = int(s)
    if not 0 <= s <= MAX_SEED:
        raise ValueError(f'seed {s} out of range 0..{MAX_SEED}')
    return s


def grid_recipe(spec: GridSpec, styles: str = '', checkpoint: str = '', checkpoint_sha256: str = '') -> dict:
    """What a grid PNG embeds (``styles``: how the layers were chosen, e.g. 'coarse' or '0-3,8')."""
    grid = dict(spec.to_dict(), styles=str(styles))
    return {'grid': grid, 'checkpoint': checkpoint, 'checkpoint_sha256': checkpoint_sha256,
            'version': RECIPE_VERSION}


def cell_recipe(spec: GridSpec, num_ws: int, row_seed, col_seed) -> Recipe:
    """The single-image recipe equal to grid cell (row_seed, col_seed); seeds or stored-latent
    refs, whose latents it carries."""
    src = tuple(0 if i in spec.layers else -1 for i in range(num_ws))
    return Recipe(seeds=(_plain(row_seed),), seed_weights=(1.0,), psi=spec.psi, cutoff=spec.cutoff,
                  class_idx=spec.class_idx, noise_mode=spec.noise_mode, noise_strength=spec.noise_strength,
                  mix_seeds=(_plain(col_seed),), layer_source=src, layer_blend=tuple([1.0] * num_ws),
                  edits=tuple(spec.edits), latents=tuple(spec.latents), synthesis=spec.synthesis).pruned()


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


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)     # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n - 3] + '...'


def label_grid(grid: np.ndarray, spec: GridSpec, tile: int) -> np.ndarray:
    """The grid with seed numbers (stored latents: their names) above its columns and left of its rows (Pillow's default
    font, black on white). ``tile``: the tile side in ``grid``'s pixels. The grid itself is
    copied unchanged below and right of the labels."""
    from PIL import Image, ImageDraw
    nr, nc = len(spec.rows), len(spec.cols)
    h, w = grid.shape[:2]
    assert h == (nr + 1) * tile and w == (nc + 1) * tile, 'grid and tile size disagree'
    font = _font(max(10, min(48, tile // 5)))
    probe = ImageDraw.Draw(Image.new('L', (1, 1)))

    def size(text):
        x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
        return x1 - x0, y1 - y0

    row_text = [_short(spec.label(s)) for s in spec.rows]
    col_text = [_short(spec.label(s)) for s in spec.cols]
    pad = max(3, tile // 16)
    text_h = max(size(t)[1] for t in row_text + col_text + ['0'])
    top = text_h + 2 * pad
    left = max(size(t)[0] for t in row_text) + 2 * pad
    src = pil_image(np.ascontiguousarray(grid))
    ink = 0 if src.mode == 'L' else (0, 0, 0)
    out = Image.new(src.mode, (left + w, top + h), 255 if src.mode == 'L' else (255, 255, 255))
    out.paste(src, (left, top))
    draw = ImageDraw.Draw(out)
    for c, text in enumerate(col_text):        # above the column's face and cells
        cx = left + (c + 1) * tile + tile // 2
        draw.text((cx, top - pad), text, fill=ink, font=font, anchor='mb')
    for r, text in enumerate(row_text):        # left of the row's face
        cy = top + (r + 1) * tile + tile // 2
        draw.text((left - pad, cy), text, fill=ink, font=font, anchor='rm')
    arr = np.asarray(out)
    return arr[:, :, None] if grid.ndim == 3 and arr.ndim == 2 else arr


def grid_export_image(spec: GridSpec, tiles: dict, tile_shape, upscale: int = 1,
                      labels: bool = False) -> tuple[np.ndarray, dict]:
    """The grid as written to a file: composed, upscaled (Lanczos), optionally labelled.
    -> (uint8 image, the ``export`` record to embed beside the grid recipe)."""
    grid = compose_grid(spec, tiles, tile_shape)
    export = {}
    if upscale != 1:
        native = [grid.shape[1], grid.shape[0]]
        grid = upscale_image(grid, upscale)
        export.update(upscale=int(upscale), resample='lanczos', native_size=native)
    if labels:
        grid = label_grid(grid, spec, tile_shape[0] * int(upscale))
        export['labels'] = True
    return grid, export
