"""Save image (PNG, JPEG, WebP, TIFF; File > Export preferences), copy to the clipboard and star,
always with the exact pixels of the recipe on screen.

The view may show a bf16 frame or a reduced-resolution preview; every image written and the
clipboard copy use the recipe's own synthesis path (new recipes: the fast fp32 path where the
model has it), or the reference when File > "Reference synthesis for exports" is on (this
module's ``for_export`` / ``export_synthesis``; batch, grid and video exports ask them too), so
they equal ``python main.py render``'s pixels (``--exact`` for the reference), and the file
records which path made them (``Recipe.synthesis``: 'fast' | 'ref'). Favourite thumbnails are
the recipe's own exact render. When the view already holds the exact full frame of that path it
is used as it is; otherwise the render worker renders it exactly first. Writing (and
upscaling) a PNG always happens in the worker, never on the UI thread; ``pngSaved`` on the
window follows each write. Every file carries the sRGB profile and the metadata the export
preferences keep (``explorer.ui.export_prefs``; the AI label by default); a 16-bit file is always
rendered again from the float pixels.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QApplication, QFileDialog

from explorer.engine.image_export import EXTENSIONS, ExportOptions, format_of, options_for_path
from explorer.engine.png import UPSCALES
from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import first_seed
from explorer.errors import ExplorerError, error_text
from explorer.ui.export_prefs import ExportPrefsDialog, file_filter, load_export_options, store_export_options
from explorer.ui.qimage import to_qimage


class Exporter:
    """The window's export actions (File > Save PNG, Copy image, Export size; Star)."""

    def __init__(self, window):
        self.win = window               # its frame state, worker, settings, status line and favourites
        self.size_actions: dict = {}    # upscale factor -> checkable QAction (File > Export size)
        self.reference_action = None    # File > Reference synthesis for exports (checkable)
        self._exact_jobs: dict = {}     # tag -> 'copy' | 'star', exact renders in the worker
        self._exact_tag = 0
        window.worker.pngSaved.connect(self.on_png_saved)
        window.worker.exactReady.connect(self._on_exact_ready)

    # ---------------------------------------------------------------- export size
    def build_size_menu(self, menu) -> None:
        """File > Export size: native or x2/x4/x8 (Lanczos) for Save PNG, batch export and grid
        PNGs; the recipe in the file stays native. Remembered between sessions."""
        try:
            current = int(self.win.settings.value('export/upscale', 1))
        except (TypeError, ValueError):
            current = 1
        for f in UPSCALES:
            a = QAction('Native resolution' if f == 1 else f'×{f} (Lanczos)', self.win)
            a.setCheckable(True)
            a.setChecked(f == current)
            a.triggered.connect(lambda _=False, f=f: self.set_upscale(f))
            menu.addAction(a)
            self.size_actions[f] = a
        if current not in UPSCALES:
            self.size_actions[1].setChecked(True)

    # ---------------------------------------------------------------- synthesis path
    def build_reference_action(self, menu) -> None:
        """File > Reference synthesis for exports: every image export (Save image, Copy image, batch
        export, grid images, video and PNG-frame export) renders with the reference synthesis
        (recorded as 'ref') instead of the recipe's own path (new recipes: the fast path where the
        model has it, recorded as 'fast', within float rounding of the reference). Remembered
        between sessions."""
        a = QAction('Reference synthesis for exports', self.win)
        a.setCheckable(True)
        a.setChecked(self.win.settings.value('export/reference_synthesis', False, type=bool))
        a.setToolTip('Save image, Copy image, batch, grid and video exports render with the reference\n'
                     'synthesis (slower; the fast path is within float rounding of it). Files record which.')
        a.toggled.connect(lambda on: self.win.settings.setValue('export/reference_synthesis', bool(on)))
        a.toggled.connect(lambda _on: self._exports_changed())
        menu.addAction(a)
        self.reference_action = a

    def _exports_changed(self) -> None:
        look = getattr(self.win, 'look_inside', None)     # the Performance tab's Exports line
        if look is not None:
            look.performance.show_exports()

    @property
    def reference_exports(self) -> bool:
        return self.reference_action is not None and self.reference_action.isChecked()

    def export_synthesis(self, requested: str = 'auto') -> str:
        """The ``Recipe.synthesis`` an export of something asking for ``requested`` renders with:
        'ref' when File > Reference synthesis for exports is on, else ``requested``."""
        return 'ref' if self.reference_exports else requested

    def for_export(self, recipe: Recipe) -> Recipe:
        """``recipe`` as exports render it: with the reference when that option is on."""
        return recipe.replace(synthesis=self.export_synthesis(recipe.synthesis))

    def synthesis_recorded(self, requested: str) -> str:
        """The concrete path ('fast' | 'ref') a recipe asking for ``requested`` renders with on
        the loaded model (``ModelInfo.synthesis_path``)."""
        info = self.win.info
        if requested == 'ref' or info is None:
            return 'ref'
        return info.synthesis_path

    def synthesis_label(self, recipe: Recipe) -> str:
        """What exports of ``recipe`` render with, for people: 'fast fp32' | 'reference'."""
        return 'reference' if self.synthesis_recorded(self.export_synthesis(recipe.synthesis)) == 'ref' else 'fast fp32'

    @property
    def upscale(self) -> int:
        """The factor exported PNGs are upscaled by (1 = native)."""
        return next((f for f, a in self.size_actions.items() if a.isChecked()), 1)

    def set_upscale(self, factor: int) -> None:
        for f, a in self.size_actions.items():
            a.setChecked(f == factor)
        self.win.settings.setValue('export/upscale', int(factor))

    # ---------------------------------------------------------------- image files
    def export_options(self, path=None) -> ExportOptions:
        """The export preferences with File > Export size, in the format ``path``'s suffix asks for."""
        options = load_export_options(self.win.settings).replace(upscale=self.upscale)
        return options_for_path(path, options) if path is not None else options

    def preferences_dialog(self) -> None:
        """File > Export preferences: format, quality, depth, metadata fields, watermark."""
        dlg = ExportPrefsDialog(self.win, self.export_options())
        if dlg.exec() == ExportPrefsDialog.DialogCode.Accepted:
            store_export_options(self.win.settings, dlg.options())
        dlg.deleteLater()

    def recipe_dict(self, recipe: Recipe) -> dict:
        """What a PNG embeds: the recipe with the open checkpoint's name and SHA-256 and the
        synthesis path that renders it ('fast' | 'ref')."""
        info = self.win.info
        if info is not None:
            recipe = recipe.replace(checkpoint=info.name, checkpoint_sha256=info.sha256)
        return recipe.replace(synthesis=self.synthesis_recorded(recipe.synthesis)).to_dict()

    def save_png(self, path, upscale=None) -> Path:
        """The recipe on screen at full native resolution (``upscale``: that many times larger,
        Lanczos; default File > Export size), exact reference pixels, recipe embedded. The
        worker writes the exact full frame on screen, or (fast path, bf16, a preview) renders
        it exactly first. pngSaved follows."""
        win = self.win
        if win.frame is None or win._shown_request is None:
            raise ExplorerError('nothing rendered yet')
        recipe = self.for_export(win._shown_request.recipe)
        path = Path(path)
        upscale = self.upscale if upscale is None else int(upscale)
        options = self.export_options(path).replace(upscale=1)      # upscale travels on its own
        if self._exact_frame_of(recipe) and options.bits == 8:
            win._status(f'Saving {path}…')
            win.worker.write_png(path, win.frame, self.recipe_dict(recipe), upscale=upscale, options=options)
        else:
            win._status(f'Saving {path} (rendering it for export)…')
            win.worker.export_png(path, recipe, self.recipe_dict(recipe), upscale=upscale, options=options)
        return path

    def on_png_saved(self, path, error) -> None:
        win = self.win
        if error == 'cancelled':
            pass    # a grid export the user stopped: its controller says so (GridController)
        elif error:
            win._status_error(f'Could not save {path}')   # not a stale "Saving …" line
            win.show_error('Could not save', error)
        else:
            win._status(f'Saved {path}')
        win.pngSaved.emit(path, error)

    def save_png_dialog(self) -> None:
        win = self.win
        if win.frame is None:
            return
        fmt = self.export_options().format
        seed = first_seed(win.frame_recipe.seeds, win.latent_panel.seed.value())
        name = self.in_save_dir(f'seed{seed:04d}{EXTENSIONS[fmt]}')
        path, _ = QFileDialog.getSaveFileName(win, 'Save image', name, file_filter(fmt))
        if path:
            if format_of(path) is None:
                path += EXTENSIONS[fmt]
            win.settings.setValue('paths/save_dir', str(Path(path).parent))
            try:
                self.save_png(path)
            except (ExplorerError, OSError) as e:  # never let an error escape a slot (qFatal)
                win._status_error(f'Could not save {path}')
                win.show_error('Could not save', error_text(e, path))

    def in_save_dir(self, name) -> str:
        """``name`` in the folder the last PNG went to (if it is still there)."""
        d = str(self.win.settings.value('paths/save_dir', '') or '')
        return str(Path(d) / name) if d and Path(d).is_dir() else name

    # ---------------------------------------------------------------- clipboard and star
    def copy_to_clipboard(self) -> None:
        """Copy the full-resolution pixels of the recipe on screen as Save image writes them (File >
        Reference synthesis for exports included)."""
        self._with_exact_frame('copy')

    def star_current(self) -> None:
        """Star the recipe on screen; its thumbnail is the exact render (as Save PNG writes it)."""
        self._with_exact_frame('star')

    def _exact_frame_of(self, recipe) -> bool:
        """Is the window's frame the exact full-resolution render of ``recipe``, shown now? (Its
        synthesis compared as the concrete path: 'auto' on a model without a fast path is 'ref'.)"""
        win = self.win
        if not win.frame_exact or win.shown_preview or win.frame_recipe is None:
            return False
        return self._concrete(recipe) == self._concrete(win.frame_recipe)

    def _concrete(self, recipe: Recipe) -> Recipe:
        return recipe.replace(synthesis=self.synthesis_recorded(recipe.synthesis))

    def _with_exact_frame(self, purpose) -> None:
        """Do ``purpose`` ('copy' | 'star') with the exact frame of the recipe on screen: at once
        when the view already holds it, else after the worker renders it (exactReady)."""
        win = self.win
        if win._shown_request is None or win.frame is None:
            return
        recipe = win._shown_request.recipe
        if purpose == 'copy':
            recipe = self.for_export(recipe)
        if self._exact_frame_of(recipe):
            self._use_exact_frame(purpose, recipe, win.frame)
            return
        self._exact_tag += 1
        self._exact_jobs[self._exact_tag] = purpose
        win._status('Copying the exact image…' if purpose == 'copy' else 'Starring (exact render)…')
        win.worker.render_exact(self._exact_tag, recipe)

    def _on_exact_ready(self, tag, recipe, image, error) -> None:
        purpose = self._exact_jobs.pop(tag, None)
        if purpose is None:
            return
        if error:
            self.win._status_error(f'Could not {"copy" if purpose == "copy" else "star"} the image: {error}')
            return
        self._use_exact_frame(purpose, recipe, image)

    def _use_exact_frame(self, purpose, recipe, frame) -> None:
        win, info = self.win, self.win.info
        if purpose == 'copy':
            QApplication.clipboard().setImage(to_qimage(frame))
            win._status('Image copied to the clipboard')
            win.copied.emit()
        else:
            if info is not None and not info.live:     # the favourite knows its checkpoint
                recipe = recipe.replace(checkpoint=info.name, checkpoint_sha256=info.sha256)
            win.favourites_panel.add(recipe, frame, info.path if info is not None else '')
            win._status('Starred. See the Saved tab.')

    def shutdown(self) -> None:
        self._exact_jobs.clear()
