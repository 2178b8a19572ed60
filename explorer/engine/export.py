"""PNG export with the full recipe embedded, and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from explorer.engine.atomic import atomic_write
from explorer.engine.files import NotRegularFile, open_regular
from explorer.errors import UserError

RECIPE_KEY = 'stylegan-explorer-recipe'


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] or [1, C, H, W] float in ~[-1, 1] -> [H, W, C] uint8 (C = 1 or 3)."""
    if img.ndim == 4:
        assert img.shape[0] == 1, 'to_uint8 takes one image'
        img = img[0]
    img = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return img.permute(1, 2, 0).cpu().numpy()


def batch_to_uint8(imgs: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] uint8."""
    imgs = (imgs.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return imgs.permute(0, 2, 3, 1).cpu().numpy()


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


def save_png(path, array: np.ndarray, recipe: dict | None = None, extra_text: dict | None = None) -> Path:
    """Write 8-bit RGB (or L) PNG with the recipe as a JSON text chunk, atomically: ``path`` is
    complete or untouched, and no temp file is left on any error (disk full...)."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_itxt(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    for k, v in (extra_text or {}).items():
        info.add_text(k, str(v))
    try:
        image = pil_image(np.ascontiguousarray(array))
        if not path.parent.exists():
            raise FileNotFoundError(path.parent)
        atomic_write(path, lambda f: image.save(f, format='PNG', pnginfo=info))
    except FileNotFoundError:
        raise UserError(f'cannot write {path}: folder does not exist') from None
    except OSError as e:  # permission denied, a folder in the way, disk full ...
        raise UserError(f'cannot write {path}: {e.strerror or e}') from None
    return path


def read_recipe(path) -> dict:
    """The recipe dict embedded by ``save_png``; UserError if the PNG has none."""
    path = Path(path)
    try:
        with open_regular(path) as f, Image.open(f) as im:  # a FIFO or device is refused, never read
            im.load()
            text = dict(getattr(im, 'text', {}) or {})
    except FileNotFoundError:
        raise UserError(f'{path}: no such file') from None
    except NotRegularFile as e:
        raise UserError(f'{path}: {e.strerror}') from None
    except (OSError, SyntaxError) as e:
        raise UserError(f'{path}: not a readable image ({e})') from None
    if RECIPE_KEY not in text:
        raise UserError(f'{path}: this PNG holds no StyleGAN Explorer recipe')
    try:
        return json.loads(text[RECIPE_KEY])
    except json.JSONDecodeError as e:
        raise UserError(f'{path}: recipe is not valid JSON ({e})') from None


def load_png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert('L' if im.mode == 'L' else 'RGB'))
