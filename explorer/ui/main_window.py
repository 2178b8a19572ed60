"""The explorer window: it wires the panels, the render worker and the window's controllers.

The window holds the current ``Recipe`` (immutable). Every control writes one or a few
fields through ``apply_changes``; the window records the old recipe in the undo history,
refreshes the panels under QSignalBlocker and submits a ``RenderRequest`` to the render
worker. Results older than the newest shown are dropped.

Each concern has its own home:

- ``explorer.ui.refine`` (+ ``refine_qt``): previews while a control is dragged, refined to
  full resolution when input pauses;
- ``explorer.ui.history``: undo/redo with coalescing;
- ``explorer.ui.exporter``: Save PNG, copy to the clipboard, star, File > Export size and
  Reference synthesis for exports (the pixels of the recipe's synthesis path, written in the worker);
- ``explorer.ui.grid_controller``: the Mixing grid tab; ``explorer.ui.batch``: batch export;
- ``explorer.ui.opener``: checkpoints (file, URL, recent), recipe PNGs, favourites;
  ``explorer.ui.recipe_fit``: the recipe kept when another model loads;
- ``explorer.ui.menus``: the menu bar and the window-wide shortcuts.

The view uses the engine's fast path for StyleGAN2 models (optionally bf16); restored
recipes (Open recipe, favourites, grid cells) and the noise view use the 'exact' path: exactly
the pixels an export writes, on the recipe's own synthesis path (fast fp32 or the reference).
Preferences that persist (explorer.ui.settings): favourites, the bf16 toggle, the window
geometry, recent checkpoints, the export size and the last folders used.
"""

from __future__ import annotations

import json
import time

from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.recipe import Recipe
from explorer.engine.view import format_gain
from explorer.errors import ExplorerError
from explorer.ui.batch import BatchExport
from explorer.ui.editing import attach_editing_tabs
from explorer.ui.exporter import Exporter
from explorer.ui.grid_controller import GridController
from explorer.ui.history import UndoHistory
from explorer.ui.image_view import ImageView
from explorer.ui.inspector_controller import attach_look_inside
from explorer.ui.keys import keeps_key
from explorer.ui.latents_controller import LatentsController, model_fixes
from explorer.ui.menus import build_menus, build_shortcuts
from explorer.ui.opener import Opener
from explorer.ui.panels.favourites import FavouritesPanel
from explorer.ui.panels.grid import GridPanel
from explorer.ui.panels.latent import LatentPanel
from explorer.ui.panels.latents import LatentsPanel
from explorer.ui.panels.layers import LayersPanel
from explorer.ui.panels.noise import NoisePanel
from explorer.ui.panels.truncation import TruncationPanel
from explorer.ui.performance_panel import path_text
from explorer.ui.projection_controller import ProjectionController
from explorer.ui.recipe_fit import reconcile_recipe
from explorer.ui.refine import ViewState
from explorer.ui.refine_qt import QtRefineScheduler
from explorer.ui.settings import open_settings, value_bool
from explorer.ui.status_bar import build_status_bar
from explorer.workers.render_worker import RenderRequest, RenderWorker, default_session

APP_NAME = 'StyleGAN Explorer'


def _scrolled(widget):
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    # The panels fit the column at 1280x800; should one ever be wider, scroll rather than clip.
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    return area


class MainWindow(QMainWindow):
    frameShown = pyqtSignal(int)        # request id of the frame now on screen
    modelLoaded = pyqtSignal(object)    # ModelInfo
    errorShown = pyqtSignal(str)
    pngSaved = pyqtSignal(str, str)     # path, error ('' = written, 'cancelled': a grid export stopped)
    copied = pyqtSignal()               # the exact image is on the clipboard

    def __init__(self, engine=None, checkpoint=None, device=None, load_default=True, cpu_threads=None, parent=None,
                 settings=None):
        """settings: a QSettings to keep preferences in (default: explorer.ui.settings.open_settings())."""
        super().__init__(parent)
        if engine is None:
            engine = default_session(device, cpu_threads=cpu_threads)
        self.engine = engine
        self.info = None
        self.recipe = Recipe()
        self.frame = None                   # native uint8 HWC of the newest full-resolution frame shown
        self.frame_recipe = None            # the recipe that made it
        self.frame_exact = False            # exactly the export's pixels (else the view's fast/bf16 path)
        self.shown_preview = False          # is the view showing a reduced-resolution preview?
        self._shown_request: RenderRequest | None = None
        self.last_request: RenderRequest | None = None
        self.request_options: tuple = ()    # view options: view='noise', dtype='bf16'
        self._next_id = 0
        self._shown_id = -1
        self._submit_t: dict = {}
        self._frame_times: list = []
        self.latencies_ms: list = []        # submit -> shown, per shown frame (bench)
        self.history = UndoHistory()        # recipes before each change (Edit > Undo/Redo)
        self.last_error_box = None
        self.settings = settings if settings is not None else open_settings()

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.worker = RenderWorker(engine)
        self._build_ui()
        # Previews while a control is dragged, refined to full resolution when input pauses.
        self.refiner = QtRefineScheduler(self, self.latent_panel.pad, self._view_state, self.submit)
        self.exporter = Exporter(self)                      # Save PNG, clipboard, star, export size
        self.grid = GridController(self, self.grid_panel)   # the Mixing grid tab
        self.batch = BatchExport(self)                      # File > Batch export
        self.opener = Opener(self)                          # checkpoints, recipe PNGs, favourites
        self.latents = LatentsController(self, self.latents_panel)     # import / keep / export latents
        attach_editing_tabs(self, _scrolled)                # Directions, Animation and Drag tabs
        self.projection = ProjectionController(self)       # File > Project a photo…, dropped photos
        self.look_inside = attach_look_inside(self)         # Inspect, Compare and Performance tabs
        self.favourites_panel.starRequested.connect(self.exporter.star_current)
        self.favourites_panel.restore.connect(self.opener.restore_favourite)
        build_menus(self)
        build_shortcuts(self)
        self._restore_preferences()

        self.worker.resultReady.connect(self._on_result)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.progress.connect(self._on_progress)
        self.worker.start()
        from explorer.ui.training_panel import TrainingPanel
        self.training_panel = TrainingPanel()
        self.training_panel.attach(self)
        if checkpoint is not None or load_default:
            self.open_checkpoint(checkpoint)

    # ================================================================== layout
    def _build_ui(self):
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)

        explore = QSplitter(Qt.Orientation.Horizontal)
        self.view = ImageView()
        explore.addWidget(self.view)
        self.controls = QTabWidget()
        self.latent_panel = LatentPanel()
        self.truncation_panel = TruncationPanel()
        self.noise_panel = NoisePanel()
        self.layers_panel = LayersPanel()
        self.favourites_panel = FavouritesPanel()
        self.controls.addTab(_scrolled(self._stack(self.latent_panel, self.truncation_panel)), 'Latent && ψ')
        self.controls.setTabToolTip(0, 'Seed, latent pad, animation and truncation ψ')
        self.controls.addTab(_scrolled(self.layers_panel), 'Styles')
        self.controls.setTabToolTip(1, 'Per-layer styles: a source and a blend for every style input')
        self.controls.addTab(_scrolled(self.noise_panel), 'Noise')
        self.latents_panel = LatentsPanel()     # stored latents (issue #16)
        saved = QSplitter(Qt.Orientation.Vertical)     # what you keep: favourites above, stored latents below
        saved.addWidget(self._stack(QLabel('<b>Favourites</b>'), self.favourites_panel, stretch=False))
        saved.addWidget(self._stack(QLabel('<b>Stored latents</b>'), self.latents_panel, stretch=False))
        self.controls.addTab(saved, 'Saved')
        self.controls.setTabToolTip(3, 'Favourites (starred states) and stored latents (imported, kept, dragged)')
        self.controls.setMinimumWidth(520)
        explore.addWidget(self.controls)
        explore.setStretchFactor(0, 3)
        explore.setStretchFactor(1, 2)
        explore.setSizes([820, 580])
        self.tabs.addTab(explore, 'Explore')

        self.grid_panel = GridPanel()
        self.tabs.addTab(self.grid_panel, 'Mixing grid')

        self.panels = [self.latent_panel, self.truncation_panel, self.noise_panel, self.layers_panel]
        for p in self.panels:
            p.changed.connect(self.apply_changes)
        self.noise_panel.viewChanged.connect(self.set_view_mode)
        self.favourites_panel.listChanged.connect(self._save_favourites)

        build_status_bar(self)

    @staticmethod
    def _stack(*widgets, stretch=True):
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            lay.addWidget(x)
        if stretch:
            lay.addStretch(1)
        return w

    def add_tab(self, widget, title) -> int:
        """Add a top-level tab (e.g. the training panel, issue 5)."""
        return self.tabs.addTab(widget, title)

    def event(self, e):
        if e.type() == QEvent.Type.ShortcutOverride and keeps_key(QApplication.focusWidget(), e.key(), e.modifiers()):
            e.accept()      # the focused widget uses this key itself: no shortcut
            return True
        return super().event(e)

    # ================================================================== state
    def apply_changes(self, changes: dict) -> None:
        """A control changed some recipe fields: record undo, update panels, render."""
        try:
            new = self.recipe.replace(**changes).pruned()     # no stored latent nothing refers to
        except ExplorerError as e:
            self._status_error(str(e))
            return
        if new == self.recipe:
            return
        self.history.record(self.recipe, key=tuple(sorted(changes)))
        self.set_recipe(new, interactive=self.refiner.change_is_interactive())

    def _view_state(self) -> ViewState:
        return ViewState(self.last_request, self._shown_request, self._shown_id, self.shown_preview)

    def set_recipe(self, recipe: Recipe, interactive=False, exact=False) -> None:
        """Show ``recipe`` in every control (no signals) and render it (``interactive``: may
        be previewed; ``exact``: the export's pixels, e.g. a restored recipe)."""
        self.recipe = recipe
        for p in self.panels:
            p.set_recipe(recipe)
        self.submit(interactive=interactive, exact=exact)
        self.grid.refresh_if_shown()

    def restore_recipe(self, recipe: Recipe) -> None:
        """Jump to a whole state (favourite, recipe file, grid cell) as one undo step."""
        recipe = recipe.replace(checkpoint='', checkpoint_sha256='')
        if recipe == self.recipe:
            return
        self.history.record(self.recipe)
        self.set_recipe(recipe, exact=True)

    def undo(self):
        recipe = self.history.undo(self.recipe)
        if recipe is not None:
            self.set_recipe(recipe)

    def redo(self):
        recipe = self.history.redo(self.recipe)
        if recipe is not None:
            self.set_recipe(recipe)

    def set_option(self, name, value) -> None:
        """A view option (not part of the recipe, not undoable), e.g. view='noise'."""
        opts = dict(self.request_options)
        if value is None:
            opts.pop(name, None)
        else:
            opts[name] = value
        self.request_options = tuple(sorted(opts.items()))
        self.submit()

    def set_view_mode(self, mode: str) -> None:
        self.set_option('view', None if mode == 'image' else mode)

    def set_bf16(self, on: bool) -> None:
        """View menu: render the view in bf16 (only offered where the engine supports it).
        The choice is remembered for the next session and the next model that offers bf16."""
        self.settings.setValue('view/bf16', bool(on))
        on = bool(on) and self.info is not None and 'bf16' in self.info.fast_dtypes
        self.set_option('dtype', 'bf16' if on else None)

    def submit(self, interactive=False, exact=False) -> RenderRequest | None:
        if self.info is None:
            return None
        self._next_id += 1
        opts = dict(self.request_options)
        if interactive:
            opts['interactive'] = True
        if exact:
            opts['path'] = 'exact'
        req = RenderRequest(recipe=self.recipe, request_id=self._next_id, options=tuple(sorted(opts.items())))
        self.refiner.submitted(interactive)
        self.last_request = req
        self._submit_t[req.request_id] = time.perf_counter()
        if len(self._submit_t) > 1000:
            for k in sorted(self._submit_t)[:500]:
                del self._submit_t[k]
        self.worker.submit(req)
        return req

    # ================================================================== results
    def _on_result(self, res):
        if res.request_id <= self._shown_id:
            return  # stale: something newer is already on screen
        self._shown_id = res.request_id
        if res.error:
            self.shown_preview = False
            self._status_error(f'Render failed: {res.error}')
            return
        self._shown_request = res.request
        self.shown_preview = res.preview
        if not res.preview:
            self.frame = res.frame
            self.frame_recipe = res.request.recipe
            self.frame_exact = res.exact
        self.view.set_frame(res.image)
        now = time.perf_counter()
        t0 = self._submit_t.pop(res.request_id, None)
        if t0 is not None:
            self.latencies_ms.append((now - t0) * 1e3)
        self._frame_times = [t for t in self._frame_times if now - t < 2.0] + [now]
        fps = (len(self._frame_times) - 1) / (self._frame_times[-1] - self._frame_times[0]) \
            if len(self._frame_times) > 1 else 0.0
        ms = res.timings.get('total_ms', 0.0)
        mapping = res.timings.get('mapping_ms')
        extra = f' (mapping {mapping:.1f} ms)' if mapping is not None else ''
        self.status_label.setStyleSheet('')
        fps_text = f'{fps:.1f} fps' if fps > 0 else '– fps (idle)'
        how = f'  ·  {path_text(res.timings, self.exporter.synthesis_label(res.request.recipe))}' \
            if res.timings.get('path') else ''
        if res.preview:
            r = res.timings.get('resolution')
            how += f'  ·  preview {r}x{r}'
        gain = res.timings.get('noise_gain')       # the noise-detail view's auto-contrast
        if gain is not None:
            how += f'  ·  noise detail {format_gain(gain)}'
        self.noise_panel.set_detail_gain(gain)
        notice = res.timings.get('notice')        # a fast path failed its self-check: said once
        if notice:
            how += f'  ·  {notice}'
        self.status_label.setText(f'Render {ms:.1f} ms{extra}{how}  ·  {fps_text}')
        self.frameShown.emit(res.request_id)
        self.refiner.refine_if_due()

    def _status(self, text):
        """A normal status line: it replaces any red error line (which is stale by now)."""
        self.status_label.setStyleSheet('')
        self.status_label.setText(text)

    def _status_error(self, text):
        self.status_label.setStyleSheet('color: #d33;')
        self.status_label.setText(text)
        self.errorShown.emit(text)

    def _on_progress(self, kind, done, total, text):
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
        if kind == 'batch':
            self._status(f'Batch export {done}/{total} {text}')

    def show_error(self, title, text):
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()      # non-blocking, so the worker and tests keep running
        self.last_error_box = box
        self.errorShown.emit(text)

    def open_checkpoint(self, path=None, sha256=None) -> None:
        """Load a checkpoint (path, URL or None = default) in the worker (see Opener)."""
        self.opener.open_checkpoint(path, sha256=sha256)

    def _on_loaded(self, info):
        """A model is in the engine: panels, undo history, title and options follow it; the
        recipe is kept as far as it fits (a favourite waiting for this model replaces it)."""
        self.progress_bar.setVisible(False)
        self.info = info
        self.view.fit()                     # a new model starts fitted to the window
        for p in self.panels + [self.grid_panel]:
            p.set_model(info)
        fix = dict(reconcile_recipe(self.recipe, info))
        fix.update(model_fixes(self.recipe, info, self.latent_panel.seed.value()))   # stored latents of another model
        fitted = self.recipe.replace(**fix).pruned()
        self.history.clear()
        self.grid.forget()
        self._shown_id = max(self._shown_id, self._next_id)
        title = f'{info.name} — {APP_NAME}'
        if info.placeholder:
            title += ' (untrained placeholder model)'
        self.setWindowTitle(title)
        self.info_label.setText(f'{info.device}  ·  {info.name}  {info.resolution}×{info.resolution}'
                                f'  ({info.family}, {info.num_ws} style layers)')
        bf16 = 'bf16' in info.fast_dtypes
        use_bf16 = bf16 and value_bool(self.settings, 'view/bf16')     # the remembered choice
        self.act_bf16.setEnabled(bf16)
        with QSignalBlocker(self.act_bf16):
            self.act_bf16.setChecked(use_bf16)
        opts = dict(self.request_options)
        opts.pop('dtype', None)
        if use_bf16:
            opts['dtype'] = 'bf16'
        self.request_options = tuple(sorted(opts.items()))
        self.refiner.hook_sliders(self.controls)
        pending = self.opener.loaded(info)      # Recent checkpoints; a favourite waiting for this model
        self.set_recipe(fitted)
        if pending is not None:
            self.restore_recipe(pending)
        self.modelLoaded.emit(info)

    # ================================================================== drag and drop
    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        for url in e.mimeData().urls():
            self.opener.open_path(url.toLocalFile() or url.toString())
            break

    # ---------------------------------------------------------------- preferences
    def _restore_preferences(self):
        geometry = self.settings.value('window/geometry')
        if geometry is not None:
            self.restoreGeometry(geometry)
        text = self.settings.value('favourites', '')
        try:
            entries = json.loads(text) if text else []
        except (TypeError, ValueError):
            entries = []            # a damaged setting: start with no favourites
        with QSignalBlocker(self.favourites_panel):
            self.favourites_panel.load_entries(entries)

    def _save_favourites(self):
        self.settings.setValue('favourites', json.dumps(self.favourites_panel.entries()))

    def _save_preferences(self):
        self.settings.setValue('window/geometry', self.saveGeometry())
        self.settings.sync()

    # ================================================================== shutdown
    def shutdown(self):
        self.projection.shutdown()
        self.latent_panel.animate.setChecked(False)
        self.refiner.stop()
        self.worker.stop()
        self.training_panel.shutdown()
        self.exporter.shutdown()
        self._save_preferences()

    def closeEvent(self, e):
        self.shutdown()
        super().closeEvent(e)
