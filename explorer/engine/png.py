"""PNG export with the full recipe embedded, and reading it back.

The iTXt chunk ``stylegan-explorer-recipe`` holds JSON: a single image's ``Recipe`` dict,
or for a mixing grid ``{'grid': {...}, 'checkpoint': ..., ...}`` (engine.mixing). How the
pixels were post-processed for the file (an upscale, grid labels) sits beside it under
``'export'`` (``{'upscale': 4, 'resample': 'lanczos', 'native_size': [w, h]}``);
``read_recipe`` leaves that out, so the recipe it returns re-renders the native image,
and ``read_export_info`` returns it.

Plain numpy and Pillow (no torch: the UI reads and writes PNGs with it); the float -> uint8
rule for rendered tensors is ``explorer.engine.export``.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from explorer.engine.atomic import atomic_write
from explorer.engine.files import NotRegularFile, open_regular
from explorer.engine.nesting import NestingError, check_nesting
from explorer.engine.xmp import metadata_from_info
from explorer.errors import UserError

RECIPE_KEY = 'stylegan-explorer-recipe'
EXPORT_KEY = 'export'                       # post-processing of the file, beside the recipe
LEGACY_GRID_KEY = 'stylegan-explorer-grid'  # older GUI grids: a Python dict repr, no recipe chunk
UPSCALES = (1, 2, 4, 8)                     # the factors the GUI and CLI offer
MAX_UPSCALE = 16
MAX_EXPORT_SIDE = 32768                     # pixels; an upscale past this is refused
MAX_RECIPE_TEXT = 1 << 20                   # characters of embedded JSON (recipes with latents: ~50 kB)
MAX_RECIPE_DEPTH = 64                       # nesting of the embedded JSON (recipes: 4)
MAX_SCAN_PIXELS = 8192 * 8192               # decoded to find text chunks placed after the pixels


def pil_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], 'L')
    if array.ndim == 2:
        return Image.fromarray(array, 'L')
    if array.shape[2] == 3:
        return Image.fromarray(array, 'RGB')
    if array.shape[2] == 4:
        return Image.fromarray(array, 'RGBA')
    raise ValueError(f'cannot save an image with {array.shape[2]} channels')


def check_upscale(factor) -> int:
    """A valid integer upscale factor (1 = native) or UserError."""
    try:
        f = int(factor)
    except (TypeError, ValueError):
        raise UserError(f'upscale must be a whole number, got {factor!r}') from None
    if f != factor or not 1 <= f <= MAX_UPSCALE:
        raise UserError(f'upscale must be a whole number from 1 to {MAX_UPSCALE}, got {factor!r}')
    return f


def upscaled_size(array: np.ndarray, factor) -> tuple[int, int, int]:
    """(factor, width, height) of ``array`` [H, W, ...] upscaled ``factor`` times; UserError for a
    bad factor or a result over MAX_EXPORT_SIDE a side."""
    factor = check_upscale(factor)
    h, w = array.shape[:2]
    if max(h, w) * factor > MAX_EXPORT_SIDE:
        raise UserError(f'{w}x{h} upscaled x{factor} is larger than {MAX_EXPORT_SIDE} pixels a side')
    return factor, w * factor, h * factor


def upscale_image(array: np.ndarray, factor: int) -> np.ndarray:
    """[H, W, C] uint8 -> [H*f, W*f, C] uint8, Lanczos (Pillow); factor 1 returns the array."""
    factor, w, h = upscaled_size(array, factor)
    if factor == 1:
        return array
    im = pil_image(np.ascontiguousarray(array)).resize((w, h), Image.Resampling.LANCZOS)
    out = np.asarray(im)
    return out[:, :, None] if array.ndim == 3 and out.ndim == 2 else out


def save_png(path, array: np.ndarray, recipe: dict | None = None, extra_text: dict | None = None,
             upscale: int = 1, export: dict | None = None) -> Path:
    """Write 8-bit RGB (or L) PNG with the recipe as a JSON text chunk. ``path``: a file name
    (written atomically: the file is complete or untouched, and no temp file is left on any
    error, a full disk included) or a binary file open for writing (``atomic_write`` hands one).

    ``upscale``: write the image ``upscale`` times larger (Lanczos); the recipe stays the
    native one and the factor is recorded under ``recipe['export']`` together with ``export``
    (what a caller did to the pixels itself, e.g. grid labels). Other formats and the stock
    metadata: ``explorer.engine.image_export.write_image``."""
    path = Path(path) if isinstance(path, (str, os.PathLike)) else path
    upscale = check_upscale(upscale)
    native = array.shape[1], array.shape[0]
    if upscale > 1:
        array = upscale_image(array, upscale)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        recipe = dict(recipe)
        recipe.pop(EXPORT_KEY, None)
        extra = dict(export or {})
        if upscale > 1:
            extra.update(upscale=upscale, resample='lanczos', native_size=list(native))
        if extra:
            recipe[EXPORT_KEY] = extra
        info.add_itxt(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    for k, v in (extra_text or {}).items():
        info.add_text(k, str(v))
    try:
        image = pil_image(np.ascontiguousarray(array))
        if isinstance(path, Path):
            if not path.parent.exists():
                raise FileNotFoundError(path.parent)
            if not path.parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
            atomic_write(path, lambda f: image.save(f, format='PNG', pnginfo=info))
        else:
            image.save(path, format='PNG', pnginfo=info)
    except FileNotFoundError:
        raise UserError(f'cannot write {path}: folder does not exist') from None
    except OSError as e:  # permission denied, a folder in the way, disk full ...
        raise UserError(f'cannot write {path}: {e.strerror or e}') from None
    return path


def read_recipe(path) -> dict:
    """The recipe dict embedded by ``save_png`` (for a grid: ``{'grid': ..., ...}``), without
    the ``'export'`` record (see ``read_export_info``); UserError if the PNG has none."""
    d = _read_embedded(path)
    d.pop(EXPORT_KEY, None)
    return d


def read_export_info(path) -> dict:
    """How the PNG's pixels were made from the recipe's native render, e.g.
    ``{'upscale': 4, 'resample': 'lanczos', 'native_size': [64, 64]}``; {} for a native PNG."""
    info = _read_embedded(path).get(EXPORT_KEY) or {}
    return dict(info) if isinstance(info, dict) else {}


def open_image_info(path) -> tuple[dict, list]:
    """(Pillow's info with the PNG text chunks merged in, JPEG APP segments) of an image file, its
    pixels decoded only when a PNG's recipe chunk follows them (and never for a huge image);
    UserError for a file that is not a readable image or claims a decompression bomb."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Past Image.MAX_IMAGE_PIXELS Pillow warns (past twice that it raises, below); the
            # pixels of a large PNG are only decoded when its recipe is not before them.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with open_regular(path) as f, Image.open(f) as im:  # a FIFO or device is refused, never read
                info = dict(im.info)
                if im.format == 'PNG' and RECIPE_KEY not in info and LEGACY_GRID_KEY not in info:
                    # text chunks after the pixel data are only read by decoding the pixels
                    if im.width * im.height > MAX_SCAN_PIXELS:
                        raise UserError(f'{path}: this PNG holds no StyleGAN Explorer recipe before its pixels '
                                        f'and is too large ({im.width}x{im.height}) to decode for one')
                    im.load()
                    info.update(getattr(im, 'text', {}) or {})
                return info, list(getattr(im, 'applist', []) or [])
    except FileNotFoundError:
        raise UserError(f'{path}: no such file') from None
    except NotRegularFile as e:
        raise UserError(f'{path}: {e.strerror}') from None
    except Image.DecompressionBombError:
        raise UserError(f'{path}: refused: the image claims more than {2 * Image.MAX_IMAGE_PIXELS} pixels '
                        f'(a possible decompression bomb)') from None
    except (OSError, SyntaxError, ValueError, MemoryError) as e:
        raise UserError(f'{path}: not a readable image ({type(e).__name__}: {_first_line(e)})') from None


def _read_embedded(path) -> dict:
    path = Path(path)
    text, applist = open_image_info(path)
    if RECIPE_KEY not in text and LEGACY_GRID_KEY not in text:
        # JPEG/WebP/TIFF keep the recipe in their XMP (size-capped by the reader)
        try:
            meta = metadata_from_info(text, applist)
        except ValueError as e:
            raise UserError(f'{path}: {e}') from None
        if isinstance(meta.get('recipe'), dict):
            try:
                check_nesting(meta['recipe'], 'the embedded recipe', MAX_RECIPE_DEPTH)
            except NestingError as e:
                raise UserError(f'{path}: {e}') from None
            return meta['recipe']
        raise UserError(f'{path}: this image holds no StyleGAN Explorer recipe')
    if RECIPE_KEY not in text and LEGACY_GRID_KEY in text:
        legacy = text[LEGACY_GRID_KEY]
        try:
            if not isinstance(legacy, str) or len(legacy) > MAX_RECIPE_TEXT:
                raise ValueError
            grid = ast.literal_eval(legacy)
            check_nesting(grid, 'grid settings', MAX_RECIPE_DEPTH)
            return {'grid': dict(grid)}
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, NestingError):
            raise UserError(f'{path}: the grid settings in this PNG are damaged') from None
    raw = text[RECIPE_KEY]
    if not isinstance(raw, str) or len(raw) > MAX_RECIPE_TEXT:
        raise UserError(f'{path}: the embedded recipe is larger than {MAX_RECIPE_TEXT // (1 << 20)} MB')
    try:
        d = json.loads(raw)
        check_nesting(d, 'the embedded recipe', MAX_RECIPE_DEPTH)
    except json.JSONDecodeError as e:
        raise UserError(f'{path}: recipe is not valid JSON ({e})') from None
    except RecursionError:
        raise UserError(f'{path}: the embedded recipe is nested more than {MAX_RECIPE_DEPTH} levels deep') from None
    except NestingError as e:
        raise UserError(f'{path}: {e}') from None
    if not isinstance(d, dict):
        raise UserError(f'{path}: the embedded recipe is not a JSON object')
    return d


def _first_line(e: BaseException, limit=200) -> str:
    text = str(e).splitlines()[0] if str(e) else ''
    return text if len(text) <= limit else text[:limit] + '...'


def load_png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert('L' if im.mode == 'L' else 'RGB'))
