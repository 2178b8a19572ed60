"""The Animation tab's work (issue #18): keyframes from the window, Play, Export, Save/Open.

- Keyframes: the current state (its thumbnail is the frame on screen when that is the exact
  render of the current recipe, else the worker renders it exactly), a favourite (its
  thumbnail), a stored latent as the base of the current settings (rendered by the worker).
- Play: a QTimer on the UI thread walks the timeline at the chosen fps by the wall clock.
  Each tick asks the render worker for the frame due now (``Session.animation_frame``), one
  at a time; when a frame comes back late, the frames the clock passed meanwhile are skipped
  and counted ("12 dropped: rendering 18 fps < 30"). The frames show in the main view;
  Pause, any change of a control or of the timeline stops and puts the current image back.
- Export: the worker renders and writes the video (``Session.export_animation``: temp file
  renamed into place, so Cancel leaves nothing under the final name), rendering the view's
  requests between frames; progress with ETA and Cancel in the tab, errors in a dialog. Frames
  render on the fast synthesis path where the model has it, or with the reference when File >
  Reference synthesis for exports is on; the files record which ('fast' | 'ref').
- Save / Open: the animation JSON (``Animation.to_json``), which ``main.py video
  --keyframes`` renders.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QSpinBox,
)

from explorer.engine.animation_spec import Animation, read_animation
from explorer.engine.atomic import atomic_write
from explorer.engine.stored_latents import fits_model
from explorer.engine.video_writers import format_of
from explorer.errors import ExplorerError, error_text
from explorer.timefmt import format_eta
from explorer.ui.latents_controller import with_base
from explorer.ui.panels.animation import AnimationPanel, keyframe_title

log = logging.getLogger(__name__)

FORMATS = (('MP4 video (H.264)', '.mp4'), ('GIF', '.gif'), ('WebP (animated)', '.webp'), ('PNG frames (a folder)', ''))
JSON_FILTER = 'Animation (*.json);;All files (*)'


def play_status(shown: int, dropped: int, render_fps: float, fps: float) -> str:
    """The panel's line while playing: frames shown, and frames dropped with why."""
    text = f'{shown} shown'
    if dropped:
        text += f'  ·  {dropped} dropped: rendering {render_fps:.0f} fps < {fps:g}'
    return text


class ExportDialog(QDialog):
    """Format, size, frame rate and quality of a video export."""

    def __init__(self, resolution: int, fps: float, parent=None):
        super().__init__(parent)
        self.setWindowTitle('Export video')
        form = QFormLayout(self)
        self.format = QComboBox()
        for label, _ in FORMATS:
            self.format.addItem(label)
        self.size = QComboBox()
        for f in (1, 2, 4, 8):
            self.size.addItem(f'{resolution * f} × {resolution * f}' + (' (native)' if f == 1 else f' ({f}×)'), f)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1.0, 240.0)
        self.fps.setValue(fps)
        self.fps.setSuffix(' fps')
        self.quality = QSpinBox()
        self.quality.setRange(0, 100)
        self.quality.setValue(75)
        self.quality.setToolTip('MP4: CRF 40..10; WebP: libwebp quality (100 = lossless); GIF ignores it')
        form.addRow('Format', self.format)
        form.addRow('Size', self.size)
        form.addRow('Frame rate', self.fps)
        form.addRow('Quality', self.quality)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def suffix(self) -> str:
        return FORMATS[self.format.currentIndex()][1]


class AnimationController(QObject):
    frameShown = pyqtSignal(int, object)    # frame index, uint8 image shown while playing
    exported = pyqtSignal(str, str)         # path, error ('' = written, 'cancelled')

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel = AnimationPanel()
        self._tag = 0
        self._thumbs: dict = {}             # tag -> keyframe id waiting for its thumbnail
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._anim: Animation | None = None
        self._inflight = None               # (tag, frame index) asked of the worker
        self._export_t0 = 0.0
        self.reset_counts()
        p = self.panel
        p.addCurrent.connect(self.add_current)
        p.favouritesMenu.connect(self._fill_favourites)
        p.latentsMenu.connect(self._fill_latents)
        p.restoreRequested.connect(window.restore_recipe)
        p.playToggled.connect(self._play_toggled)
        p.exportRequested.connect(self.export_dialog)
        p.saveRequested.connect(self.save_dialog)
        p.openRequested.connect(self.open_dialog)
        p.cancelRequested.connect(window.worker.cancel_animation_export)
        window.worker.animReady.connect(self._on_anim)
        window.worker.animExported.connect(self._on_exported)
        window.worker.progress.connect(self._on_progress)

    def reset_counts(self):
        self.shown = 0
        self.dropped = 0
        self._last = -1                     # index of the frame shown last
        self._play_t0 = 0.0

    # ------------------------------------------------------------------ adding keyframes
    def add_current(self) -> int:
        win = self.window
        frame = win.frame if (win.frame is not None and win.frame_exact and win.frame_recipe == win.recipe) else None
        uid = self.panel.add_keyframe(win.recipe, frame)
        if frame is None:
            self._request_thumb(uid, win.recipe)
        return uid

    def add_favourite(self, i: int) -> int | None:
        fav = self.window.favourites_panel
        recipe = fav.recipes[i]
        info = self.window.info
        if info is not None and recipe.checkpoint_sha256 and info.sha256 and recipe.checkpoint_sha256 != info.sha256:
            self.window._status_error(f'That favourite was made with {recipe.checkpoint or "another checkpoint"}, '
                                      'not the loaded model: open it first')
            return None
        return self.panel.add_keyframe(recipe, fav.thumbs[i])

    def add_latent(self, lat) -> int | None:
        info = self.window.info
        why = fits_model(lat, info.w_dim, info.num_ws) if info is not None else ''
        if why:
            self.window._status_error(why)
            return None
        recipe = with_base(self.window.recipe, lat)
        uid = self.panel.add_keyframe(recipe)
        self._request_thumb(uid, recipe)
        return uid

    def _fill_favourites(self, menu):
        menu.clear()
        fav = self.window.favourites_panel
        for i, r in enumerate(fav.recipes):
            menu.addAction(fav.thumbs[i], keyframe_title(r), lambda i=i: self.add_favourite(i))
        if not fav.recipes:
            menu.addAction('No favourites yet (star a state: Saved tab)').setEnabled(False)

    def _fill_latents(self, menu):
        menu.clear()
        lats = self.window.latents_panel.latents
        for lat in lats:
            menu.addAction(lat.name or lat.key[:8], lambda lat=lat: self.add_latent(lat))
        if not lats:
            menu.addAction('No stored latents yet (import or keep one: Saved tab)').setEnabled(False)

    def _request_thumb(self, uid, recipe):
        self._tag += 1
        self._thumbs[self._tag] = uid
        self.window.worker.animation_job(self._tag, 'thumb', recipe)

    # ------------------------------------------------------------------ the animation
    def animation(self, fps=None) -> Animation:
        """The panel's animation, each keyframe naming the loaded checkpoint (UserError if it cannot play)."""
        anim = self.panel.animation(fps)
        info = self.window.info
        if info is not None and info.sha256:
            anim = anim.stamped(info.name, info.sha256)
        return anim

    # ------------------------------------------------------------------ play
    def _play_toggled(self, on: bool) -> None:
        if on:
            self.play()
        else:
            self.stop()

    def play(self) -> bool:
        if self.window.info is None:
            self.panel.set_playing(False)
            return False
        try:
            anim = self.animation()
        except ExplorerError as e:
            self.panel.play_status.setText(str(e))
            self.panel.set_playing(False)
            return False
        self._anim = anim
        self._inflight = None
        self.reset_counts()
        self._play_t0 = time.perf_counter()
        self.panel.set_playing(True)
        self.panel.play_status.setText(f'Playing {anim.num_frames} frames at {anim.fps:g} fps…')
        self.timer.start(max(1, int(500 / anim.fps)))       # twice per frame: a late tick misses none
        self._tick()
        return True

    def stop(self) -> None:
        """Pause: stop asking for frames and put the current image back in the view."""
        was = self._anim is not None
        self.timer.stop()
        self._anim = None
        self._inflight = None
        self.panel.set_playing(False)
        if was and self.window.frame is not None:
            self.window.view.set_frame(self.window.frame)

    @property
    def playing(self) -> bool:
        return self._anim is not None

    def _due(self) -> int:
        """The frame the clock says is due (open path: the last once the time is up)."""
        n = self._anim.num_frames
        i = int((time.perf_counter() - self._play_t0) * self._anim.fps)
        return i % n if self._anim.is_closed else min(i, n - 1)

    def _tick(self) -> None:
        if self._anim is None or self._inflight is not None:
            return
        i = self._due()
        if i == self._last:
            return
        self._tag += 1
        self._inflight = (self._tag, i)
        self.window.worker.animation_job(self._tag, 'frame', self._anim, i, 'auto')

    def _on_anim(self, tag, kind, result, error) -> None:
        if kind == 'thumb':
            uid = self._thumbs.pop(tag, None)
            if uid is not None and result is not None:
                self.panel.set_thumb(uid, result)
            elif uid is not None:
                self.window._status_error(f'Keyframe thumbnail failed: {error}')
            return
        if self._inflight is None or self._inflight[0] != tag:
            return      # stopped meanwhile
        i = self._inflight[1]
        self._inflight = None
        if error:
            self.stop()
            self.panel.play_status.setText(f'Stopped: {error}')
            self.window._status_error(f'Animation frame failed: {error}')
            return
        image, _timings = result
        n = self._anim.num_frames
        skipped = (i - self._last - 1) % n if self._last >= 0 else i
        self.dropped += skipped
        self.shown += 1
        self._last = i
        self.window.view.set_frame(image)
        self.frameShown.emit(i, image)
        elapsed = max(time.perf_counter() - self._play_t0, 1e-6)
        self.panel.play_status.setText(f'Frame {i + 1}/{n}  ·  ' + play_status(
            self.shown, self.dropped, self.shown / elapsed, self._anim.fps))
        if not self._anim.is_closed and i == n - 1:
            self.timer.stop()       # the end: the last frame stays until Pause or a change
            self._anim = None
            self.panel.set_playing(False)
            self.panel.play_status.setText(f'Played {n} frames  ·  ' + play_status(
                self.shown, self.dropped, self.shown / elapsed, self.panel.fps.value()))

    # ------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        win = self.window
        if win.info is None:
            return
        dlg = ExportDialog(win.info.resolution, self.panel.fps.value(), win)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        suffix = dlg.suffix()
        folder = win.settings.value('animation/folder', str(Path.home()))
        if suffix:
            path, _ = QFileDialog.getSaveFileName(win, 'Export video', str(Path(folder) / f'animation{suffix}'),
                                                  f'*{suffix}')
            if path and not path.lower().endswith(suffix):
                path += suffix
        else:
            path, _ = QFileDialog.getSaveFileName(win, 'New folder for the PNG frames', str(Path(folder) / 'frames'))
        if not path:
            return
        win.settings.setValue('animation/folder', str(Path(path).parent))
        self.export_to(path, scale=dlg.size.currentData(), fps=dlg.fps.value(), quality=dlg.quality.value())

    def export_to(self, path, scale: int = 1, fps: float | None = None, quality: int | None = None,
                  path_kind: str = 'exact') -> bool:
        """Export the timeline to ``path`` (.mp4/.gif/.webp, or a new folder for PNG frames) in the worker,
        with the synthesis File > Reference synthesis for exports asks for."""
        try:
            anim = self.animation(fps)
            out = Path(path)
            format_of(out)      # a known extension, else one clear line now
            if out.suffix == '' and out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise ExplorerError(f'{out} already exists and is not an empty folder; choose a new folder name')
        except ExplorerError as e:
            self.window.show_error('Export video', str(e))
            return False
        self.stop()
        self.panel.set_exporting(True)
        self.panel.set_progress(0, anim.num_frames, 'starting…')
        self._export_t0 = time.perf_counter()
        self.window.worker.export_animation(anim, str(path), scale=int(scale), quality=quality, path=path_kind,
                                            synthesis=self.window.exporter.export_synthesis())
        return True

    def _on_progress(self, kind, done, total, text) -> None:
        if kind != 'animation':
            return
        elapsed = time.perf_counter() - self._export_t0
        eta = elapsed / done * (total - done) if done else None
        self.panel.set_progress(done, total, f'{done}/{total} frames  ·  ETA {format_eta(eta)}')

    def _on_exported(self, path, error) -> None:
        self.panel.set_exporting(False)
        if error == 'cancelled':
            self.panel.play_status.setText('Export cancelled: nothing was written')
        elif error:
            self.window.show_error('Export video', f'{path}: {error}')
        else:
            self.panel.play_status.setText(f'Wrote {path}')
            self.window._status(f'Wrote {path} and its animation JSON')
        self.exported.emit(path, error)

    # ------------------------------------------------------------------ save / open
    def save_to(self, path) -> Path:
        anim = self.animation()
        data = anim.to_json().encode('utf-8')
        atomic_write(path, lambda f: f.write(data))
        return Path(path)

    def open_from(self, path) -> Animation:
        anim = read_animation(path)
        info = self.window.info
        if info is not None:
            anim.check_checkpoint(info.sha256, info.name)
        if anim.noise_loop is not None:
            raise ExplorerError(f'{path}: a noise loop has one keyframe and is not edited here; '
                                'render it with python main.py video --keyframes')
        uids = self.panel.set_animation(anim)
        for uid, kf in zip(uids, anim.keyframes):
            self._request_thumb(uid, kf.recipe.replace(checkpoint='', checkpoint_sha256=''))
        return anim

    def save_dialog(self) -> None:
        win = self.window
        folder = win.settings.value('animation/folder', str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(win, 'Save animation', str(Path(folder) / 'animation.json'),
                                              JSON_FILTER)
        if not path:
            return
        try:
            self.save_to(path)
        except (ExplorerError, OSError) as e:
            log.exception('saving the animation to %s failed', path)
            win.show_error('Save animation', error_text(e))
            return
        win.settings.setValue('animation/folder', str(Path(path).parent))
        win._status(f'Saved {path}  ·  python main.py video --keyframes "{path}" --out animation.mp4')

    def open_dialog(self) -> None:
        win = self.window
        folder = win.settings.value('animation/folder', str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(win, 'Open animation', str(folder), JSON_FILTER)
        if not path:
            return
        try:
            self.open_from(path)
        except (ExplorerError, OSError) as e:
            win.show_error('Open animation', error_text(e))
