"""Stored latents in the GUI (issue #16): import, "Keep this latent", export, the Latents list.

The window wires this in (menu actions, drops, the Latents tab); the work is here:

- Import (File menu, a dropped .npz/.npy/.pt/.pth, the Latents tab): the render worker reads
  the file and checks it against the loaded model (torch files need torch, which the UI never
  imports); the latent becomes the base of the current recipe, one undo step. A file that
  does not fit is one error dialog and nothing changes.
- Keep this latent (Edit menu, Ctrl+K): the worker computes the current recipe's final ws
  (blend, mixing, edits) as a W+ latent; the recipe becomes that latent as its base with no
  mixing and no edits, one undo step, the same pixels (a stored latent is used as it is).
- Export latent (File menu): the current final ws as NVIDIA's ``projected_w.npz`` layout.
- The Latents list: every stored latent seen this session (imported, kept, in a rendered
  recipe, e.g. one opened from a PNG), usable as base or mix source, or as a row or column
  of the Mixing grid.

The recipe edits themselves are plain functions (``with_base``, ``kept_recipe``,
``with_mix_source``) so they are tested without a window.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QFileDialog

from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import LATENT_SUFFIXES, StoredLatent, fits_model, is_ref, source_label

log = logging.getLogger(__name__)

FILE_FILTER = 'Latents (*.npz *.npy *.pt *.pth);;All files (*)'
TORCH_SUFFIXES = ('.pt', '.pth')        # a latent or a checkpoint: dropped ones are tried as a latent first
MAX_LATENT_FILE_BYTES = 4 << 20         # 64 x 4096 float32 values and a container: larger is a checkpoint


def _size(path) -> int:
    try:
        return Path(str(path)).stat().st_size
    except OSError:
        return 0


def is_latent_file(path) -> bool:
    return Path(str(path)).suffix.lower() in LATENT_SUFFIXES


def with_base(recipe: Recipe, lat: StoredLatent) -> Recipe:
    """``recipe`` with ``lat`` as its whole base latent (mixing and edits stay)."""
    return recipe.with_latent(lat).replace(seeds=(lat.ref,), seed_weights=(1.0,)).pruned()


def kept_recipe(recipe: Recipe, lat: StoredLatent) -> Recipe:
    """``lat`` (the final ws of ``recipe``) as the base, with no mixing and no edits: the same image."""
    return recipe.with_latent(lat).replace(seeds=(lat.ref,), seed_weights=(1.0,), mix_seeds=(),
                                           layer_source=None, layer_blend=None, edits=()).pruned()


def with_mix_source(recipe: Recipe, lat: StoredLatent, num_ws: int) -> tuple[Recipe, int]:
    """``recipe`` with ``lat`` added as a style source (no layer takes it yet) -> (recipe, its index)."""
    if lat.ref in recipe.mix_seeds:
        return recipe, recipe.mix_seeds.index(lat.ref)
    src = recipe.layer_source if recipe.layer_source is not None else (-1,) * num_ws
    blend = recipe.layer_blend if recipe.layer_blend is not None else (1.0,) * num_ws
    new = recipe.with_latent(lat).replace(mix_seeds=tuple(recipe.mix_seeds) + (lat.ref,),
                                          layer_source=tuple(src), layer_blend=tuple(blend))
    return new, len(new.mix_seeds) - 1


def model_fixes(recipe: Recipe, info, seed: int) -> dict:
    """Recipe changes for a newly loaded model (``info``: w_dim, num_ws) that some of the
    recipe's stored latents do not fit: ``seed`` replaces such a base, such mix sources go
    (with the per-layer mixing). {} when everything fits."""
    bad = {lat.ref for lat in recipe.latents if fits_model(lat, info.w_dim, info.num_ws)}
    fix = {}
    if any(s in bad for s in recipe.seeds):
        fix.update(seeds=(int(seed),), seed_weights=(1.0,))
    if any(s in bad for s in recipe.mix_seeds):
        fix.update(mix_seeds=(), layer_source=None, layer_blend=None)
    if bad:
        keep = tuple(lat for lat in recipe.latents if lat.ref not in bad)
        fix['latents'] = keep
    return fix


def mixes(recipe: Recipe) -> bool:
    """Does any layer take (part of) its style from a mix source?"""
    if not recipe.mix_seeds or recipe.layer_source is None:
        return False
    blend = recipe.layer_blend or (1.0,) * len(recipe.layer_source)
    return any(s is not None and s >= 0 and b != 0 for s, b in zip(recipe.layer_source, blend))


def plain_base(recipe: Recipe) -> str | None:
    """The ref when ``recipe`` shows one stored latent on its own (no mixing, no edits), else None."""
    if len(recipe.seeds) == 1 and is_ref(recipe.seeds[0]) and not mixes(recipe) and not recipe.edits:
        return recipe.seeds[0]
    return None


def kept_name(recipe: Recipe, now: float | None = None) -> str:
    """'kept 12:03:45 (seed 42 + mix + edits)'."""
    if len(recipe.seeds) == 1:
        what = source_label(recipe.seeds[0], recipe.latents)
    else:
        what = f'blend of {len(recipe.seeds)}'
    if mixes(recipe):
        what += ' + mix'
    if any(e.amount != 0 for e in recipe.edits):
        what += ' + edits'
    return f'kept {time.strftime("%H:%M:%S", time.localtime(now))} ({what})'


class LatentsController(QObject):
    """Import / keep / export and the Latents list for ``window`` (a MainWindow: its worker,
    recipe, restore_recipe, show_error, status line and settings)."""

    done = pyqtSignal(str, object, str)     # kind ('read' | 'keep' | 'export'), result, error: handled

    def __init__(self, window, panel):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self._jobs: dict = {}               # tag -> (kind, what it was asked with)
        self._tag = 0
        window.worker.latentReady.connect(self._on_ready)
        window.frameShown.connect(self._frame_shown)
        panel.importRequested.connect(self.import_dialog)
        panel.keepRequested.connect(self.keep_current)
        panel.useAsBase.connect(self.use_as_base)
        panel.addAsMix.connect(self.add_as_mix)
        panel.addToGrid.connect(self.add_to_grid)
        panel.exportRequested.connect(lambda lat: self.export_dialog(lat))
        panel.list.currentRowChanged.connect(lambda _: self._mark_in_use())

    # ------------------------------------------------------------------ actions
    def import_latent(self, path, or_else=None) -> bool:
        """Read ``path`` in the worker; the latent becomes the base when it fits the model.
        ``or_else(path)``: what a dropped .pt/.pth that holds no latent is (a checkpoint): called
        instead of an error dialog, at once for a file too large to be a latent."""
        name = Path(str(path)).name
        if self.window.info is None:
            self.window.show_error('Could not import latent', 'Load a model first.')
            return False
        if not is_latent_file(path):
            self.window.show_error('Could not import latent', f'{name}: not a latent file '
                                                               f'(use {", ".join(LATENT_SUFFIXES)})')
            return False
        torch_file = Path(str(path)).suffix.lower() in TORCH_SUFFIXES
        if or_else is not None and not (torch_file and _size(path) <= MAX_LATENT_FILE_BYTES):
            if torch_file:
                or_else(path)
                return False
            or_else = None
        self.window._status(f'Reading {name}…')
        self._start('read', (str(path), or_else), str(path))
        return True

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, 'Import latent', self._dir(), FILE_FILTER)
        if path:
            self.window.settings.setValue('paths/latent_dir', str(Path(path).parent))
            self.import_latent(path)

    def keep_current(self) -> bool:
        """Turn the current recipe's final ws into a stored W+ latent (its base from then on)."""
        if self.window.info is None:
            return False
        recipe = self.window.recipe
        self.window._status('Keeping this latent…')
        self._start('keep', recipe, recipe, kept_name(recipe))
        return True

    def export_latent(self, path, recipe: Recipe | None = None) -> None:
        """Write the final ws of ``recipe`` (default: the current one) as NVIDIA's .npz layout."""
        path = str(path)
        if not path.lower().endswith('.npz'):
            path += '.npz'
        self._start('export', path, path, recipe if recipe is not None else self.window.recipe)

    def export_dialog(self, lat: StoredLatent | None = None) -> None:
        """File > Export latent (the current final ws) or the list's Export (``lat`` on its own)."""
        if self.window.info is None:
            return
        recipe = self.window.recipe
        if lat is not None:
            recipe = Recipe(seeds=(lat.ref,), latents=(lat,))
            name = lat.name.rsplit('.', 1)[0] if lat.name else f'latent_{lat.key[:8]}'
        elif len(recipe.seeds) == 1 and not is_ref(recipe.seeds[0]):
            name = f'seed{recipe.seeds[0]:04d}'
        else:
            name = 'latent'
        name = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name) + '.npz'
        start = str(Path(self._dir()) / name) if self._dir() else name
        path, _ = QFileDialog.getSaveFileName(self.window, 'Export latent', start,
                                              'NVIDIA projected_w (*.npz)')
        if path:
            self.window.settings.setValue('paths/latent_dir', str(Path(path).parent))
            self.export_latent(path, recipe)

    def use_as_base(self, lat: StoredLatent) -> None:
        self.window.restore_recipe(with_base(self.window.recipe, lat))

    def add_as_mix(self, lat: StoredLatent) -> None:
        info = self.window.info
        if info is None:
            return
        recipe, k = with_mix_source(self.window.recipe, lat, info.num_ws)
        self.window.restore_recipe(recipe)
        self.window._status(f'{lat.name or "The latent"} is style source {k + 1}: choose its layers in '
                            f'the Styles tab')

    def add_to_grid(self, lat: StoredLatent, which: str = 'row') -> bool:
        """``lat`` as a row ('row') or column ('col') of the Mixing grid, which is then shown."""
        w = self.window
        info = w.info
        if info is None:
            return False
        why = fits_model(lat, info.w_dim, info.num_ws)
        if why:
            w.show_error('Could not add to the grid', f'{why}.')
            return False
        w.grid_panel.add_latent(lat, which)
        w.tabs.setCurrentWidget(w.grid_panel)
        w._status(f'{lat.name or "The latent"} is a {"row" if which == "row" else "column"} of the Mixing grid')
        return True

    # ------------------------------------------------------------------ worker
    def _start(self, kind, asked, *args) -> None:
        self._tag += 1
        self._jobs[self._tag] = (kind, asked)
        self.window.worker.latent_job(self._tag, kind, *args)

    def _on_ready(self, tag, kind, result, error) -> None:
        job = self._jobs.pop(tag, None)
        if job is None:
            return
        asked = job[1]
        if kind == 'read':
            self._read_done(asked, result, error)
        elif kind == 'keep':
            self._keep_done(asked, result, error)
        elif kind == 'export':
            if error:
                self.window._status_error('Could not export the latent')
                self.window.show_error('Could not export latent', error)
            else:
                self.window._status(f'Exported the latent to {result}')
        self.done.emit(kind, result, error)

    def _read_done(self, asked, lat, error) -> None:
        path, or_else = asked
        if error and or_else is not None:       # a dropped .pt that is no latent: a checkpoint
            or_else(path)
            return
        info = self.window.info
        why = fits_model(lat, info.w_dim, info.num_ws) if not error and info is not None else ''
        if error or why:
            self.window._status_error(f'Could not import {Path(path).name}')
            self.window.show_error('Could not import latent', error or f'{Path(path).name}: {why}. Nothing '
                                                                       f'was changed.')
            return
        self.panel.add(lat, select=True)
        self.window.restore_recipe(with_base(self.window.recipe, lat))
        self.window._status(f'Imported {lat.name} ({lat.space.upper()}) as the base latent')

    def _keep_done(self, recipe, lat, error) -> None:
        if error:
            self.window._status_error('Could not keep this latent')
            self.window.show_error('Could not keep this latent', error)
            return
        self.panel.add(lat, select=True)
        w = self.window
        if w.frame is not None and w.frame_recipe == recipe:
            self.panel.set_thumbnail(lat.key, w.frame)
        if w.recipe == recipe:      # the user moved on meanwhile: only list it
            w.restore_recipe(kept_recipe(recipe, lat))
            w._status(f'Kept this latent as "{lat.name}" (Latents tab); it is the base now')
        else:
            w._status(f'Kept "{lat.name}" (Latents tab)')

    # ------------------------------------------------------------------ the list follows the view
    def _frame_shown(self, _request_id=None) -> None:
        """List the stored latents of the recipe on screen (opened PNGs, undo, favourites) and
        take a thumbnail from the view when it shows one latent on its own."""
        w = self.window
        recipe = w.frame_recipe
        self._mark_in_use()
        if recipe is None or not recipe.latents:
            return
        for lat in recipe.latents:
            self.panel.add(lat)
        ref = plain_base(recipe)
        if ref is not None and w.frame is not None:
            key = recipe.latent(ref).key
            if key not in self.panel.thumbed:
                self.panel.set_thumbnail(key, w.frame)

    def _mark_in_use(self) -> None:
        """The current recipe's latents cannot be taken off the list (they would come back)."""
        self.panel.set_in_use({lat.key for lat in self.window.recipe.latents})

    def _dir(self) -> str:
        d = str(self.window.settings.value('paths/latent_dir', '') or '')
        return d if d and Path(d).is_dir() else ''
