"""Project a photo (issue #17): the projection window, its photo and crop, and the run.

- ``open_path`` reads the photo here (explorer.engine.image_prep: Pillow, no torch; EXIF
  orientation, alpha, 16-bit) and shows it in ``ProjectionDialog`` with a centred crop;
  a file that is not an image gets an error dialog and nothing changes.
- Start prepares the target from the crop (Lanczos to the model's size), asks the render
  worker for a private copy of the generator (``prepare_projection``: taken between
  renders) and runs the projection on a ``ProjectionWorker`` thread, so the view keeps
  rendering. Each step updates the PSNR plot, steps/s and the ETA (at most every
  ``DRAW_S``), every few steps the reconstruction beside the target. Cancel stops within
  a step.
- The result becomes a stored latent in Saved > stored latents (with its thumbnail); "Use
  in Explore" makes it the base with no mixing and no edits, one undo step, so it can be
  style-mixed with seeds, edited, put in the grid, animated and exported.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QFileDialog

from explorer.engine.image_prep import open_image, prepare_image, to_rgb
from explorer.engine.stored_latents import StoredLatent
from explorer.errors import ExplorerError, error_text
from explorer.timefmt import format_eta
from explorer.ui.latents_controller import kept_recipe
from explorer.ui.projection_dialog import ProjectionDialog
from explorer.workers.projection_worker import ProjectionWorker

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif')
FILE_FILTER = 'Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff *.gif);;All files (*)'
DISPLAY_SIDE = 1024         # the dialog shows the photo at most this large (the crop stays in photo pixels)
DRAW_S = 0.05               # redraw the plot and the status at most this often
PREVIEWS = 60               # about this many reconstruction images per run


def is_photo(path) -> bool:
    return str(path).lower().endswith(PHOTO_SUFFIXES)


def preview_every(steps: int) -> int:
    return max(1, int(steps) // PREVIEWS)


def progress_text(step: int, total: int, rate: float | None, psnr: float | None, phase: str = '') -> str:
    """'step 42/300 (W+) · 18.3 steps/s · ETA 00:00:14 · PSNR 21.3 dB'."""
    parts = [f'step {step}/{total}' + (f' ({phase.upper()})' if phase else '')]
    if rate:
        parts.append(f'{rate:.1f} steps/s')
        parts.append(f'ETA {format_eta((total - step) / rate)}')
    if psnr is not None:
        parts.append(f'PSNR {psnr:.2f} dB')
    return ' · '.join(parts)


class ProjectionController(QObject):
    """File > Project a photo…, dropped photos, the dialog and projection runs."""

    stepShown = pyqtSignal(int)             # a step reached the dialog (its number)
    finished = pyqtSignal(object, str)      # ProjectionResult (None unless ok), error ('' ok, 'cancelled')

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.dialog: ProjectionDialog | None = None
        self.photo: Image.Image | None = None       # upright RGB, full size
        self.path = ''
        self.target: np.ndarray | None = None       # what the running/last projection was given
        self.job: ProjectionWorker | None = None
        self.result = None                          # the last ProjectionResult
        self.latent: StoredLatent | None = None     # ... as a stored latent
        self._tag = 0
        self._model = None                          # (sha256, name, num_ws, w_dim) the run started on
        self._steps: list = []
        self._psnr: list = []
        self._t0 = self._t_first = self._drawn = 0.0
        self._first = 0
        self.rate: float | None = None
        window.worker.projectionReady.connect(self._on_ready)

    @property
    def running(self) -> bool:
        return self._model is not None

    # ------------------------------------------------------------------ the photo
    def _dialog(self) -> ProjectionDialog:
        if self.dialog is None:
            d = self.dialog = ProjectionDialog(self.window)
            d.openRequested.connect(self.open_dialog)
            d.startRequested.connect(self.start)
            d.cancelRequested.connect(self.cancel)
            d.useRequested.connect(self.use_in_explore)
            d.crop_view.cropChanged.connect(lambda _: self._show_target())
        return self.dialog

    def open_dialog(self) -> None:
        start = str(self.window.settings.value('paths/photo_dir', ''))
        path, _ = QFileDialog.getOpenFileName(self.dialog or self.window, 'Project a photo', start, FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path) -> bool:
        """Show the photo at ``path`` in the projection window (an error dialog if unreadable)."""
        if self.running:
            self.window._status_error('A projection is running: cancel it before opening another photo')
            return False
        try:
            photo = to_rgb(open_image(path))
        except Exception as e:  # a damaged or hostile file: one line in a dialog, never a traceback
            if not isinstance(e, ExplorerError):
                log.exception('could not open photo %s', path)
            text = error_text(e, path)
            self.window.show_error('Could not open photo', text if str(path) in text else f'{path}: {text}')
            return False
        self.photo, self.path = photo, str(path)
        self.window.settings.setValue('paths/photo_dir', str(Path(path).parent))
        display = photo
        if max(photo.size) > DISPLAY_SIDE:
            display = photo.copy()
            display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
        d = self._dialog()
        d.set_photo(np.asarray(display), photo.size, Path(path).name)
        d.set_running(False)
        self.result = self.latent = None
        self._show_target()
        d.say('Move or resize the square (drag it, its corner or the wheel), choose the space and the '
              'steps, then Start.' if self.window.info is not None else 'No model is loaded yet.')
        d.show()
        d.raise_()
        d.activateWindow()
        return True

    def prepared_target(self) -> np.ndarray | None:
        """uint8 [R, R, C]: the crop at the loaded model's size and channels."""
        info = self.window.info
        if self.photo is None or info is None:
            return None
        return prepare_image(self.photo, info.resolution, info.channels, crop=self.dialog.crop())

    def _show_target(self) -> None:
        if self.running or self.dialog is None:
            return
        target = self.prepared_target()
        if target is not None:
            self.dialog.set_target(target)

    # ------------------------------------------------------------------ the run
    def start(self) -> bool:
        w = self.window
        if self.running or self.photo is None or w.info is None:
            return False
        d = self.dialog
        try:
            target = self.prepared_target()
        except ExplorerError as e:
            d.say(str(e), error=True)
            return False
        options = d.options()
        options['preview_every'] = preview_every(options['steps'])
        self.target = target
        self.result = self.latent = None
        self._model = (w.info.sha256, w.info.name, w.info.num_ws, w.info.w_dim)
        self._tag += 1
        self._steps, self._psnr = [], []
        self._first = 0
        self.rate = None
        self._t0 = time.perf_counter()
        d.set_target(target)
        d.set_curve([], [])
        d.result_label.setText('')
        d.use_btn.setEnabled(False)
        d.set_running(True)
        d.say(f'Starting: {options["steps"]} steps in {options["space"].upper()}'
              f'{" with noise maps" if options["optimize_noise"] else ""} (computing the mean w first)…')
        w.worker.prepare_projection(self._tag, target, options)
        return True

    def _on_ready(self, tag, run, error) -> None:
        if tag != self._tag or not self.running:
            return
        if error:
            self._end(None, error)
            return
        self.job = ProjectionWorker(run)
        self.job.step.connect(self._on_step)
        self.job.done.connect(self._on_done)
        self.job.start()

    def cancel(self) -> None:
        if not self.running:
            return
        if self.job is not None:
            self.job.cancel()
        else:
            self._tag += 1              # not started yet: its generator copy is dropped when it comes
            self._end(None, 'cancelled')
            return
        self.dialog.say('Cancelling…')

    def _on_step(self, st) -> None:
        if self.sender() is not self.job:
            return
        now = time.perf_counter()
        if self._first == 0:        # the first step also includes the mean w
            self._first, self._t_first = st.step, now
        elif st.step > self._first:
            self.rate = (st.step - self._first) / max(now - self._t_first, 1e-9)
        psnr = st.losses.get('psnr')
        self._steps.append(st.step)
        self._psnr.append(psnr if psnr is not None and np.isfinite(psnr) else np.nan)
        d = self.dialog
        if st.image is not None:
            d.set_reconstruction(st.image)
        if now - self._drawn >= DRAW_S or st.step == st.total:
            self._drawn = now
            d.set_curve(self._steps, self._psnr)
            d.say(progress_text(st.step, st.total, self.rate, psnr, st.phase))
        self.stepShown.emit(int(st.step))

    def _on_done(self, result, error) -> None:
        if self.sender() is not self.job:
            return
        self.job.wait()
        self.job = None
        self._end(result, error)

    def _end(self, result, error) -> None:
        model, self._model = self._model, None
        w, d = self.window, self.dialog
        d.set_running(False)
        d.set_curve(self._steps, self._psnr)
        if error == 'cancelled':
            d.say(f'Cancelled after {self._steps[-1] if self._steps else 0} steps.')
            self.finished.emit(None, error)
            return
        if error:
            d.say(f'Projection failed: {error}', error=True)
            w._status_error(f'Projection failed: {error}')
            self.finished.emit(None, error)
            return
        self.result = result
        d.set_reconstruction(result.image)
        info = w.info
        stem = Path(self.path).stem or 'photo'
        text = (f'PSNR {result.psnr:.2f} dB · SSIM {result.ssim:.3f} · {result.steps_done} steps in '
                f'{result.seconds:.1f} s ({result.space.upper()})')
        if info is None or (info.sha256, info.name, info.num_ws, info.w_dim) != model:
            d.result_label.setText(text + ' · another model was loaded meanwhile: the result was not kept')
            self.finished.emit(result, '')
            return
        lat = StoredLatent.from_array(result.latent(), name=f'{stem} (projected {result.space.upper()})')
        self.latent = lat
        panel = w.latents_panel
        panel.add(lat, select=True)
        panel.set_thumbnail(lat.key, result.image)
        d.result_label.setText(text + f' · stored as "{lat.name}" (Saved tab)')
        d.say(progress_text(result.steps_done, result.steps_done, self.rate, result.psnr) + ' · done')
        d.use_btn.setEnabled(True)
        w._status(f'Projected {Path(self.path).name}: PSNR {result.psnr:.2f} dB; "Use in Explore" makes it the base')
        self.finished.emit(result, '')

    def use_in_explore(self) -> bool:
        """The projected latent as the base (no mixing, no edits), one undo step; Explore shown."""
        w = self.window
        if self.latent is None or w.info is None:
            return False
        w.latents_panel.add(self.latent, select=True)       # back on the list if it was removed
        w.restore_recipe(kept_recipe(w.recipe, self.latent))
        w.tabs.setCurrentIndex(0)
        w._status(f'"{self.latent.name}" is the base latent: mix its styles with seeds in the Styles tab')
        return True

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.stop()
