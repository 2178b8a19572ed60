"""Render many seeds to image files (CLI render, GUI batch export): PNG with the recipe embedded,
or any format ``explorer.engine.image_export.ExportOptions`` describes (JPEG, WebP, TIFF, 16-bit)."""

from __future__ import annotations

from pathlib import Path

import torch

from explorer.engine.checkpoint import sha256_file
from explorer.engine.export import to_uint8, to_uint16
from explorer.engine.image_export import ExportOptions, save_image
from explorer.engine.png import save_png
from explorer.engine.recipe import Recipe, validate
from explorer.engine.rendering import render, resolved
from explorer.engine.stored_latents import is_ref, ref_key


def seed_filename(seed: int, extension: str = '.png') -> str:
    return f'seed{seed:04d}{extension}'


def source_filename(source, extension: str = '.png', latents=()) -> str:
    """'seed0042.png', or for a stored latent 'latent_<name>_<key prefix>.png' (name made safe)."""
    if not is_ref(source):
        return seed_filename(int(source), extension)
    key = ref_key(source)
    name = next((lat.name for lat in latents if lat.key == key), '')
    safe = ''.join(c if c.isalnum() or c in '-_' else '_' for c in name.rsplit('.', 1)[0])[:40].strip('_')
    return f'latent_{safe + "_" if safe else ""}{key[:8]}{extension}'


def write_render(out, img: torch.Tensor, recipe_dict: dict, upscale: int = 1,
                 options: ExportOptions | None = None) -> Path:
    """A rendered float image [1, C, H, W] to ``out``, atomically: today's PNG when ``options`` is
    None, else as ``options`` asks (16 bits from the float pixels where it asks for them)."""
    if options is None:
        return save_png(out, to_uint8(img), recipe_dict, upscale=upscale)
    if upscale != 1:
        options = options.replace(upscale=upscale)
    frame = to_uint16(img) if options.bits == 16 else to_uint8(img)
    return save_image(out, frame, recipe_dict, options)


def remove_stale_temp_files(outdir, names) -> int:
    """Delete temp files (``.NAME.<random>.tmp``, see ``atomic_write``) left by a killed run for
    the PNGs in ``names``."""
    names = set(names)
    n = 0
    for tmp in Path(outdir).glob('.seed*.*.tmp'):
        parts = tmp.name[1:].rsplit('.', 2)  # ['seed0001.png', random tag, 'tmp']
        if len(parts) == 3 and parts[0] in names:
            try:
                tmp.unlink()
                n += 1
            except OSError:
                pass
    return n


@torch.no_grad()
def render_recipe_png(G, checkpoint_path, recipe: Recipe, out, device=None, upscale: int = 1,
                      options: ExportOptions | None = None) -> Path:
    """One recipe (seeds or stored latents, mixing, edits) to one PNG (or the format ``options``
    asks for), written atomically, with the checkpoint's name and SHA-256 in its embedded recipe."""
    out = Path(out)
    if checkpoint_path:
        recipe = recipe.replace(checkpoint=Path(checkpoint_path).name, checkpoint_sha256=sha256_file(checkpoint_path))
    validate(recipe, G)
    recipe = resolved(G, recipe)            # records the synthesis path that renders it ('fast' | 'ref')
    write_render(out, render(G, recipe, device=device), recipe.to_dict(), upscale, options)   # atomic
    return out


@torch.no_grad()
def render_seeds_to_dir(G, checkpoint_path, seeds, outdir, psi=1.0, cutoff=None, noise_mode='const',
                        noise_seed=0, noise_strength=1.0, class_idx=None, device=None,
                        progress=None, base_recipe: Recipe | None = None, skip_existing=False,
                        upscale: int = 1, options: ExportOptions | None = None,
                        synthesis: str = 'auto') -> list[Path]:
    """One PNG per seed, written atomically (temp name, then rename). Returns written paths.
    ``synthesis``: the path of a recipe built here (no ``base_recipe``); each image records the
    concrete one ('fast' | 'ref', ``rendering.resolved``).

    A seed may be a stored latent's ref ('latent:<key>', held by ``base_recipe``): that image
    has the latent as its base (``latent_<name>_<key>.png``); mix sources and edits stay.

    ``options``: write each image as it says (format, quality, bit depth, metadata, watermark)
    and name it ``seed0001.jpg`` etc.; None: today's PNG.

    ``upscale``: write each PNG that many times larger (Lanczos, recorded in the PNG; the
    embedded recipe stays the native one).

    ``skip_existing``: a PNG already under its final name was written completely (the
    rename is the last step), so it is left alone; temp files a killed run left behind
    for these seeds are deleted. This makes an interrupted batch restartable."""
    outdir = Path(outdir)
    sha = sha256_file(checkpoint_path) if checkpoint_path else ''
    name = Path(checkpoint_path).name if checkpoint_path else ''
    if base_recipe is None:
        base_recipe = Recipe(psi=psi, cutoff=cutoff, class_idx=class_idx, noise_mode=noise_mode,
                             noise_seed=noise_seed, noise_strength=noise_strength, synthesis=synthesis)
    base_recipe = resolved(G, base_recipe.replace(checkpoint=name, checkpoint_sha256=sha))    # concrete path
    validate(base_recipe, G)
    written = []
    seeds = list(seeds)
    ext = options.extension if options is not None else '.png'
    if skip_existing:
        remove_stale_temp_files(outdir, [source_filename(s, ext, base_recipe.latents) for s in seeds])
    for i, seed in enumerate(seeds):
        out = outdir / source_filename(seed, ext, base_recipe.latents)
        if skip_existing and out.exists():
            continue
        source = str(seed) if is_ref(seed) else int(seed)
        recipe = base_recipe.replace(seeds=(source,), seed_weights=(1.0,)).pruned()  # no unused base latent
        write_render(out, render(G, recipe, device=device), recipe.to_dict(), upscale, options)   # atomic
        written.append(out)
        if progress is not None:
            progress(i + 1, len(seeds), out.name)
    return written


