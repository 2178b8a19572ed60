"""Target images for projection: load any common format, square-crop, resize.

No Qt, no torch. ``prepare_target(path, resolution)`` gives uint8 [R, R, C]:

- the file is opened by Pillow (PNG, JPEG, WebP, TIFF, BMP, GIF...), its EXIF
  orientation applied (a phone photo stands upright as it is shown);
- an alpha channel (RGBA, LA, transparent palette) is flattened onto white or black;
- 16-bit and 32-bit greyscale and float images are scaled to 8 bits, palette, CMYK and
  YCbCr to RGB, greyscale to RGB for colour models (and colour to L for 1-channel ones);
- a square box ``(x, y, size)`` in the upright image's pixels is cut out (default: the
  largest centred square), then resized to the model's resolution with Lanczos, which
  filters over the whole footprint when shrinking (no aliasing).

Face alignment (landmark-based crops as FFHQ was made) is not done: it needs a landmark
model that cannot ship offline. Crop by hand with ``crop`` instead.

Files that are missing, not images, too large for Pillow's decompression-bomb limit, or
smaller than ``MIN_SIDE`` pixels raise ``UserError`` with one clear line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.errors import UserError

MIN_SIDE = 16               # smaller images hold too little to project
BACKGROUNDS = {'white': 255, 'black': 0}


def parse_crop(text: str) -> tuple[int, int, int]:
    """'x,y,size' -> (x, y, size): a square box in image pixels (left, top, side)."""
    parts = [p.strip() for p in str(text).split(',')]
    try:
        x, y, size = (int(p) for p in parts)
    except ValueError:
        raise UserError(f'crop must be x,y,size in whole pixels (e.g. 40,10,512), got {text!r}') from None
    if x < 0 or y < 0 or size <= 0:
        raise UserError(f'crop x and y must be >= 0 and size > 0, got {text!r}')
    return x, y, size


def open_image(path) -> Image.Image:
    """The image at ``path``, decoded, upright (EXIF orientation applied)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f'{path}: no such file')
    if not path.is_file():
        raise UserError(f'{path}: not a regular file')
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its pixel limit and raises above 2x: refuse both.
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f'{path}: image is larger than Pillow\'s safety limit of {Image.MAX_IMAGE_PIXELS} '
                        f'pixels (a possible decompression bomb); shrink it first') from None
    except UnidentifiedImageError:
        raise UserError(f'{path}: not an image file Pillow can read') from None
    except (OSError, SyntaxError, ValueError) as e:
        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UserError(f'{path}: cannot read the image ({why})') from None
    if min(im.size) < MIN_SIDE:
        raise UserError(f'{path}: image is {im.size[0]}x{im.size[1]} pixels; need at least {MIN_SIDE}x{MIN_SIDE}')
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """High-bit-depth and float single-channel modes to 'L' (full scale kept)."""
    if im.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N'):
        a = np.asarray(im).astype(np.float64) / 257.0
    elif im.mode == 'I':
        a = np.asarray(im).astype(np.float64)
        # 16-bit PNGs open as 'I' holding 0..65535; 8-bit data in 'I' stays as it is.
        if a.max(initial=0) > 255:
            a = a / 257.0
    elif im.mode == 'F':
        a = np.nan_to_num(np.asarray(im).astype(np.float64))
        if a.max(initial=0) <= 1.0:
            a = a * 255.0
    else:
        return im
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), 'L')


def to_rgb(im: Image.Image, background: str = 'white') -> Image.Image:
    """Any Pillow image to 8-bit RGB, alpha flattened onto ``background``."""
    if background not in BACKGROUNDS:
        raise UserError(f'background must be one of {", ".join(BACKGROUNDS)}, got {background!r}')
    im = _to_8bit(im)
    has_alpha = im.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or (im.mode in ('P', 'L', 'RGB') and
                                                                  'transparency' in im.info)
    if has_alpha:
        rgba = im.convert('RGBA')
        bg = Image.new('RGBA', rgba.size, (BACKGROUNDS[background],) * 3 + (255,))
        return Image.alpha_composite(bg, rgba).convert('RGB')
    return im.convert('RGB')


def square_box(size: tuple[int, int], crop: tuple[int, int, int] | None = None) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the crop box, checked against the image ``size`` (w, h)."""
    w, h = size
    if crop is None:
        s = min(w, h)
        x, y = (w - s) // 2, (h - s) // 2
    else:
        x, y, s = (int(v) for v in crop)
        if x < 0 or y < 0 or s <= 0 or x + s > w or y + s > h:
            raise UserError(f'crop box x={x}, y={y}, size={s} does not fit in the {w}x{h} image')
        if s < MIN_SIDE:
            raise UserError(f'crop size {s} is below the minimum of {MIN_SIDE} pixels')
    return x, y, x + s, y + s


def prepare_image(im: Image.Image, resolution: int, channels: int = 3, crop=None,
                  background: str = 'white') -> np.ndarray:
    """uint8 [R, R, channels] from an upright Pillow image: flatten, crop, resize (Lanczos)."""
    if channels not in (1, 3):
        raise UserError(f'can only prepare 1- or 3-channel targets, the model has {channels}')
    rgb = to_rgb(im, background)
    box = square_box(rgb.size, crop)
    out = rgb.crop(box)
    if out.size != (resolution, resolution):
        out = out.resize((resolution, resolution), Image.Resampling.LANCZOS)
    if channels == 1:
        return np.asarray(out.convert('L'))[:, :, None].copy()
    return np.asarray(out).copy()


def prepare_target(path, resolution: int, channels: int = 3, crop=None, background: str = 'white') -> np.ndarray:
    """uint8 [R, R, channels]: the file at ``path`` ready to project (see the module docstring)."""
    return prepare_image(open_image(path), resolution, channels, crop=crop, background=background)
