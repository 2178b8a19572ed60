"""PNG export with the full recipe embedded, and reading it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from explorer.errors import UserError

RECIPE_KEY = 'stylegan-explorer-recipe'


def float_to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Float pixels in ~[-1, 1] -> uint8 levels, same shape and device (the one conversion rule)."""
    return (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] or [1, C, H, W] float in ~[-1, 1] -> [H, W, C] uint8 (C = 1 or 3)."""
    if img.ndim == 4:
        assert img.shape[0] == 1, 'to_uint8 takes one image'
        img = img[0]
    return float_to_uint8(img).permute(1, 2, 0).cpu().numpy()


def batch_to_uint8(imgs: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] uint8."""
    return float_to_uint8(imgs).permute(0, 2, 3, 1).cpu().numpy()


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
    """Write 8-bit RGB (or L) PNG with the recipe as a JSON text chunk. ``path``: a file name
    or a binary file open for writing (``explorer.engine.atomic.atomic_write`` hands one)."""
    path = Path(path) if isinstance(path, (str, os.PathLike)) else path
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_itxt(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    for k, v in (extra_text or {}).items():
        info.add_text(k, str(v))
    try:
        pil_image(np.ascontiguousarray(array)).save(path, format='PNG', pnginfo=info)
    except FileNotFoundError:
        raise UserError(f'cannot write {path}: folder does not exist') from None
    except OSError as e:  # permission denied, a folder in the way, disk full ...
        raise UserError(f'cannot write {path}: {e.strerror or e}') from None
    return path


def read_recipe(path) -> dict:
    """The recipe dict embedded by ``save_png``; UserError if the PNG has none."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            text = dict(getattr(im, 'text', {}) or {})
    except FileNotFoundError:
        raise UserError(f'{path}: no such file') from None
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
