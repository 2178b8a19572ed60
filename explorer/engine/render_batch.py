"""Render many seeds to PNG files (CLI render, GUI batch export)."""

from __future__ import annotations

from pathlib import Path

import torch

from explorer.engine.checkpoint import sha256_file
from explorer.engine.export import to_uint8
from explorer.engine.png import save_png
from explorer.engine.recipe import Recipe, validate
from explorer.engine.rendering import render


def seed_filename(seed: int) -> str:
    return f'seed{seed:04d}.png'


def remove_stale_temp_files(outdir, names) -> int:
    """Delete temp files (``.NAME.<random>.tmp``, see ``atomic_write``) left by a killed run for
    the PNGs in ``names``."""
    names = set(names)
    n = 0
    for tmp in Path(outdir).glob('.seed*.png.*.tmp'):
        parts = tmp.name[1:].rsplit('.', 2)  # ['seed0001.png', random tag, 'tmp']
        if len(parts) == 3 and parts[0] in names:
            try:
                tmp.unlink()
                n += 1
            except OSError:
                pass
    return n


@torch.no_grad()
def render_recipe_png(G, checkpoint_path, recipe: Recipe, out, device=None, upscale: int = 1) -> Path:
    """One recipe (seeds or stored latents, mixing, edits) to one PNG, written atomically,
    with the checkpoint's name and SHA-256 in its embedded recipe."""
    out = Path(out)
    if checkpoint_path:
        recipe = recipe.replace(checkpoint=Path(checkpoint_path).name, checkpoint_sha256=sha256_file(checkpoint_path))
    validate(recipe, G)
    frame = to_uint8(render(G, recipe, device=device))
    save_png(out, frame, recipe.to_dict(), upscale=upscale)     # atomic: complete or absent
    return out


@torch.no_grad()
def render_seeds_to_dir(G, checkpoint_path, seeds, outdir, psi=1.0, cutoff=None, noise_mode='const',
                        noise_seed=0, noise_strength=1.0, class_idx=None, device=None,
                        progress=None, base_recipe: Recipe | None = None, skip_existing=False,
                        upscale: int = 1) -> list[Path]:
    """One PNG per seed, written atomically (temp name, then rename). Returns written paths.

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
                             noise_seed=noise_seed, noise_strength=noise_strength)
    base_recipe = base_recipe.replace(checkpoint=name, checkpoint_sha256=sha)
    validate(base_recipe, G)
    written = []
    seeds = list(seeds)
    if skip_existing:
        remove_stale_temp_files(outdir, [seed_filename(s) for s in seeds])
    for i, seed in enumerate(seeds):
        out = outdir / seed_filename(seed)
        if skip_existing and out.exists():
            continue
        recipe = base_recipe.replace(seeds=(int(seed),), seed_weights=(1.0,)).pruned()  # no unused base latent
        img = render(G, recipe, device=device)
        save_png(out, to_uint8(img), recipe.to_dict(), upscale=upscale)     # atomic: complete or absent
        written.append(out)
        if progress is not None:
            progress(i + 1, len(seeds), out.name)
    return written


