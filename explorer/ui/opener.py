"""What the window opens: checkpoints (file, URL, recent, dropped), recipe PNGs and favourites.

A checkpoint loads in the render worker; the window keeps its model until the new one has
loaded (``MainWindow._on_loaded``), and a failure leaves everything as it was. A favourite
made with another checkpoint loads that file first (refused unless its SHA-256 matches)
and is restored once it is open. A recipe PNG restores the settings it was made with (a
single image, or a mixing grid). An opened image's C2PA content credentials (when the optional
extra is installed and the file has a manifest) are verified and the result shown in the status bar.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from explorer.engine import c2pa_credentials as C2PA
from explorer.engine.grid_spec import GridSpec
from explorer.engine.image_export import format_of
from explorer.engine.png import read_recipe
from explorer.engine.recipe import Recipe
from explorer.errors import ExplorerError, UserError, error_text
from explorer.ui.latents_controller import is_latent_file
from explorer.ui.projection_controller import is_photo

log = logging.getLogger(__name__)

MAX_RECENT = 8


def has_recipe(path) -> bool:
    """Does the PNG at ``path`` hold a recipe (or is it unreadable: then opening it as a recipe
    says why)? False only for a readable PNG without one, i.e. a photo."""
    try:
        read_recipe(path)
    except UserError as e:
        return 'holds no StyleGAN Explorer recipe' not in str(e)
    except Exception:
        return True
    return True


class Opener:
    """File > Open checkpoint / URL / Recent / Checkpoint info / Open recipe, drops, favourites."""

    def __init__(self, window):
        self.win = window               # its model info, worker, settings, progress bar, status line
        self.recent_menu = None         # File > Recent checkpoints (build_recent_menu)
        self._loading = None            # the path or URL being loaded
        self._pending_favourite = None  # a favourite to restore once its checkpoint has loaded
        window.worker.loadFailed.connect(self._on_load_failed)

    # ---------------------------------------------------------------- checkpoints
    def open_checkpoint(self, path=None, sha256=None) -> None:
        """Load a checkpoint (path, URL or None = default) in the worker; ``sha256``: refuse a
        file whose content is not that (a favourite's checkpoint)."""
        win = self.win
        self._loading = path
        if sha256 is None:
            self._pending_favourite = None
        win.progress_bar.setRange(0, 0)
        win.progress_bar.setVisible(True)
        win._status(f'Loading {path or "default checkpoint"}…')
        win.worker.load(path, sha256=sha256)

    def open_checkpoint_dialog(self) -> None:
        start = str(self.win.settings.value('paths/checkpoint_dir', ''))
        path, _ = QFileDialog.getOpenFileName(self.win, 'Open checkpoint', start,
                                              'Checkpoints (*.pkl *.pt *.pth *.ckpt);;All files (*)')
        if path:
            self.open_checkpoint(path)

    def open_url_dialog(self) -> None:
        url, ok = QInputDialog.getText(self.win, 'Open checkpoint', 'Path or http(s) URL:')
        if ok and url.strip():
            self.open_checkpoint(url.strip())

    def loaded(self, info):
        """A model has loaded: remember its file (Recent checkpoints, the folder for the next
        Open). -> the favourite that waited for this checkpoint, or None."""
        if not info.placeholder and not info.live:      # a live training model has no file
            self._add_recent(info.path)
            if not str(self._loading or '').startswith(('http://', 'https://')):     # not the download cache
                self.win.settings.setValue('paths/checkpoint_dir', str(Path(info.path).parent))
        pending, self._pending_favourite = self._pending_favourite, None
        return pending if pending is not None and pending.checkpoint_sha256 == info.sha256 else None

    def _on_load_failed(self, message) -> None:
        win = self.win
        win.progress_bar.setVisible(False)
        if self._pending_favourite is not None:
            message += '\n\nThe favourite was not restored.'
        self._pending_favourite = None
        failed = self._loading
        if win.info is None and failed is not None:    # e.g. gui --checkpoint /nope.pt: not a black window
            win.show_error('Could not load checkpoint', f'{message}\n\nThe default model is opened instead.')
            self.open_checkpoint(None)
            win._status_error(f'Could not load {failed}; opening the default model')
            return
        what = 'the current model is still loaded' if win.info else 'no model is loaded'
        win._status_error(f'Could not load checkpoint ({what})')
        win.show_error('Could not load checkpoint', f'{message}\n\nNothing was changed: {what}.')

    def show_checkpoint_info(self) -> None:
        i = self.win.info
        if i is None:
            return
        text = (f'File: {i.path}\nFamily: {i.family}\nResolution: {i.resolution}×{i.resolution}, '
                f'{i.channels} channels\nStyle layers (num_ws): {i.num_ws}\nz_dim {i.z_dim}, w_dim {i.w_dim}, '
                f'classes {i.c_dim or "none (unconditional)"}\nDevice: {i.device}\nSHA-256: {i.sha256}')
        if i.placeholder:
            text += '\n\nThis is the untrained placeholder model (random weights).'
        QMessageBox.information(self.win, 'Checkpoint info', text)

    def build_recent_menu(self, menu) -> None:
        self.recent_menu = menu
        self._refresh_recent()

    def _recent(self) -> list:
        v = self.win.settings.value('recent', []) or []
        return [v] if isinstance(v, str) else list(v)

    def _add_recent(self, path) -> None:
        rec = [path] + [p for p in self._recent() if p != path]
        self.win.settings.setValue('recent', rec[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        rec = self._recent()
        for p in rec:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_checkpoint(p))
        self.recent_menu.setEnabled(bool(rec))

    # ---------------------------------------------------------------- recipes and favourites
    def open_path(self, path) -> None:
        """A dropped file: an image with a recipe (PNG, JPEG, WebP, TIFF) -> restore it, a photo (an
        image without one) -> the projection window, a latent file -> the base latent, anything
        else -> checkpoint."""
        if format_of(path) is not None and has_recipe(path):
            self.open_recipe(path)
        elif is_photo(path):
            self.win.projection.open_path(path)
        elif is_latent_file(path) and self.win.info is not None:   # .pt/.pth: a latent, or else a checkpoint
            self.win.latents.import_latent(path, or_else=self.open_checkpoint)
        else:
            self.open_checkpoint(path)

    def open_recipe(self, path) -> bool:
        """Restore what an exported image was made with (PNG iTXt or JPEG/WebP/TIFF XMP): a single
        image's recipe, or a grid (Mixing grid tab)."""
        win = self.win
        grid = None
        try:
            d = read_recipe(path)
            if 'grid' in d:
                grid = GridSpec.from_dict(d['grid'])
            else:
                recipe = Recipe.from_dict(d)
        except Exception as e:  # a hostile or damaged file: a dialog, never an exception out of a slot
            if not isinstance(e, ExplorerError):
                log.exception('could not open recipe %s', path)
            text = error_text(e, path)
            win.show_error('Could not open recipe', text if str(path) in text else f'{path}: {text}')
            return False
        self.show_credentials(path)
        sha, made_with = d.get('checkpoint_sha256') or '', d.get('checkpoint') or ''
        if win.info is not None and sha and sha != win.info.sha256:
            win.show_error('Different checkpoint',
                           f'{Path(path).name} was made with {made_with or "another checkpoint"}, '
                           f'not {win.info.name}. The settings are restored; open that checkpoint to get '
                           f'the same image.')
        if grid is not None:
            return win.grid.open(grid, str(d['grid'].get('styles') or ''))
        win.restore_recipe(recipe)
        return True

    def show_credentials(self, path) -> 'C2PA.Verification | None':
        """Verify the C2PA manifest of an opened image and show the result (status line and a
        lasting label with the details as its tooltip); nothing shown for a file without one or
        without the extra. -> the Verification, or None."""
        label = getattr(self.win, 'credentials_label', None)
        if label is not None:
            label.setVisible(False)
        if not C2PA.available():
            return None
        try:
            v = C2PA.verify_file(path)
        except ExplorerError as e:
            log.info('content credentials of %s not read: %s', path, e)
            return None
        if v.status == 'none':
            return None
        text = v.summary()
        if v.status == 'valid':
            self.win._status(f'{Path(path).name}: {text}')
        else:
            self.win._status_error(f'{Path(path).name}: {text}')
        if label is not None:
            details = [str(path), text]
            if v.claim_generator:
                details.append(f'Made by: {v.claim_generator}')
            if v.model:
                details.append(f"Model: {v.model.get('name') or '?'} (SHA-256 {v.model.get('sha256') or '?'})")
            if v.digital_source_type:
                details.append(f'Digital source type: {v.digital_source_type}')
            details += list(v.messages)
            label.setText('C2PA: ' + ('valid' if v.status == 'valid' else 'INVALID'))
            label.setStyleSheet('' if v.status == 'valid' else 'color: #d33;')
            label.setToolTip('\n'.join(details))
            label.setVisible(True)
        return v

    def open_recipe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, 'Open recipe', '',
                                              'Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff);;All files (*)')
        if path:
            self.open_recipe(path)

    def restore_favourite(self, recipe: Recipe, path: str = '') -> None:
        """Restore a favourite onto its own checkpoint: at once when that file (same SHA-256) is
        open, else after loading it from ``path``; a file that is gone or changed is refused
        with a message (nothing changes). A favourite that records no checkpoint (older
        settings) restores onto the open model."""
        win = self.win
        sha = recipe.checkpoint_sha256
        if not sha or (win.info is not None and win.info.sha256 == sha):
            win.restore_recipe(recipe)
            return
        name = recipe.checkpoint or Path(path).name or 'its checkpoint'
        if not path or not Path(path).is_file():
            win._status_error(f'Favourite not restored: {name} is not at {path or "a known place"} any more')
            win.show_error('Favourite', f'This favourite was made with {name}, which is not at '
                                        f'{path or "a known place"} any more.\n\nOpen that checkpoint from where it '
                                        f'is now, then click the favourite again. Nothing was changed.')
            return
        self._pending_favourite = recipe
        self.open_checkpoint(path, sha256=sha)
