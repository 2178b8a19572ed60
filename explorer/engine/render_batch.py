"""Render many seeds to image files (CLI render, GUI batch export): PNG with the recipe embedded,
or any format ``explorer.engine.image_export.ExportOptions`` describes (JPEG, WebP, TIFF, 16-bit).

``render_seeds_to_dir`` renders its recipes in batches (``rendering.render_many``: on the CPU's
StyleGAN2 fast path as many at once as there are lanes, each bit for bit its own render) and
encodes and writes the images on a writer thread while the next batch renders (``ImageWriter``:
PNG encoding of a 1024x1024 image is ~20% of its fp32 render at one thread).
"""

from __future__ import annotations

import queue
import threading
from functools import partial
from pathlib import Path

import torch

from explorer.engine.checkpoint import sha256_file
from explorer.engine.export import to_uint8, to_uint16
from explorer.engine.image_export import ExportOptions, save_image
from explorer.engine.png import save_png
from explorer.engine.recipe import Recipe, validate
from explorer.engine.rendering import batch_size, render, render_many, resolved
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
    return write_frame(out, image_frame(img, options), recipe_dict, upscale, options)


def image_frame(img: torch.Tensor, options: ExportOptions | None = None):
    """[1, C, H, W] float -> the [H, W, C] array ``write_frame`` writes (16 bits where ``options`` asks)."""
    return to_uint16(img) if options is not None and options.bits == 16 else to_uint8(img)


def write_frame(out, frame, recipe_dict: dict, upscale: int = 1, options: ExportOptions | None = None) -> Path:
    """``image_frame``'s array to ``out``, atomically (no torch: a writer thread runs it)."""
    if options is None:
        return save_png(out, frame, recipe_dict, upscale=upscale)
    if upscale != 1:
        options = options.replace(upscale=upscale)
    return save_image(out, frame, recipe_dict, options)


class ImageWriter:
    """Writes images on its own thread, in the order given, while the caller renders the next
    ones. ``submit`` blocks while ``depth`` writes wait (memory stays bounded). ``completed``
    hands back, in order, the keys of the writes done so far and raises, on the caller's thread,
    the first error a write met (nothing after it is written). Leaving the ``with`` block on an
    exception (an error, ``Cancelled``) drops the writes not begun and waits for the one under
    way; each write is atomic, so no partial file is left either way."""

    def __init__(self, depth: int = 1):
        self._todo: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._done: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name='explorer-image-writer', daemon=True)
        self._thread.start()

    def _run(self):
        failed = False
        while True:
            item = self._todo.get()
            if item is None:
                return
            if failed or self._stop.is_set():
                continue                    # drop it (the caller stops or has an error to raise)
            key, write = item
            try:
                write()
            except BaseException as e:  # noqa: BLE001 - raised again on the caller's thread
                failed = True
                self._done.put((key, e))
            else:
                self._done.put((key, None))

    def submit(self, key, write) -> None:
        """Run ``write()`` on the writer thread; ``key`` comes back from ``completed``."""
        self._todo.put((key, write))
        self._pending += 1

    def completed(self, wait: bool = False) -> list:
        """Keys of the writes finished since the last call, in order (``wait``: all of them,
        waiting for each); raises the first write's error."""
        keys = []
        while self._pending:
            try:
                key, error = self._done.get(block=wait)
            except queue.Empty:
                break
            self._pending -= 1
            if error is not None:
                raise error
            keys.append(key)
        return keys

    def close(self, abort: bool = False) -> None:
        if abort:
            self._stop.set()
        self._todo.put(None)
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(abort=exc_type is not None)
        return False


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
                        synthesis: str = 'auto', batch: int | None = None) -> list[Path]:
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
    for these seeds are deleted. This makes an interrupted batch restartable.

    ``batch``: recipes per synthesis call (None: ``rendering.batch_size``, the CPU lanes on the
    StyleGAN2 fast path, else 1). Each image is bit for bit its recipe rendered alone whatever
    the batch (``rendering.render_many``). Images are encoded and written on a writer thread
    (``ImageWriter``) in seed order while the next batch renders; ``progress(done, total, name)``
    is called on this thread after each file is in place (it may raise ``Cancelled``: the
    writes not begun are dropped)."""
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
    todo = []                                   # (index in seeds, file, recipe)
    for i, seed in enumerate(seeds):
        out = outdir / source_filename(seed, ext, base_recipe.latents)
        if skip_existing and out.exists():
            continue
        source = str(seed) if is_ref(seed) else int(seed)
        todo.append((i, out, base_recipe.replace(seeds=(source,), seed_weights=(1.0,)).pruned()))  # no unused latent
    size = batch_size(G, device) if batch is None else max(1, int(batch))

    def report(done):
        for i, out in done:
            written.append(out)
            if progress is not None:
                progress(i + 1, len(seeds), out.name)

    with ImageWriter(depth=size) as writer:
        for start in range(0, len(todo), size):
            part = todo[start:start + size]
            if skip_existing:               # checked again just before rendering (another process may share outdir)
                part = [job for job in part if not job[1].exists()]
            imgs = render_many(G, [recipe for _, _, recipe in part], device=device)
            for (i, out, recipe), img in zip(part, imgs):
                frame = image_frame(img, options)
                writer.submit((i, out), partial(write_frame, out, frame, recipe.to_dict(), upscale, options))  # atomic
            del imgs
            report(writer.completed())
        report(writer.completed(wait=True))
    return written


