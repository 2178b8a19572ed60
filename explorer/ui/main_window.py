"""The explorer window: image view, control panels, mixing grid, export, undo, favourites.

The window holds the current ``Recipe`` (immutable). Every control writes one or a
few fields through ``apply_changes``; the window pushes the old recipe on the undo
stack, refreshes the panels under QSignalBlocker and submits a ``RenderRequest``
to the render worker. Results older than the newest shown are dropped.

Interactive rendering: a control change is *interactive* while a slider or the latent
pad is held down or when it follows the previous change within ``BURST_S`` (a drag, key
repeat, the wheel). Interactive requests may come back as a progressive preview (reduced
resolution, upscaled) when the model's full frame takes longer than the worker's
``preview_ms``. A preview on screen is refined (the same recipe at full resolution) when
input pauses: at once when the slider or pad is released, ``REFINE_IDLE_MS`` after the
last change when nothing is held (spin boxes, keys, the wheel), and ``HELD_REFINE_MS``
after the last change while a drag is held still. The worker interrupts a refine between
layers as soon as a newer request waits, so grabbing the slider again during a slow
refine (seconds at 1024 on a CPU) previews after at most one layer; the longer pause
while held keeps a slow drag from paying that layer on every movement.

The view uses the engine's fast path for StyleGAN2 models (optionally bf16); restored
recipes (Open recipe, favourites, grid cells), the noise view, every PNG written, the
clipboard copy and favourite thumbnails use the exact reference path (rendered in the
worker when the frame on screen is not already exact), so they equal
``python main.py render``'s pixels.

Preferences that persist (explorer.ui.settings): favourites, the bf16 toggle, the window
geometry, recent checkpoints and the last folders used.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from PyQt6 import sip
from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.grid_spec import GridSpec, cell_recipe, compose_grid, grid_export_image, grid_recipe
from explorer.engine.png import UPSCALES, read_recipe, save_png
from explorer.engine.recipe import Recipe
from explorer.engine.seeds import MAX_SEED, parse_seeds
from explorer.engine.view import format_gain
from explorer.errors import ExplorerError, error_text
from explorer.ui.image_view import ImageView
from explorer.ui.keys import keeps_key
from explorer.ui.panels.favourites import FavouritesPanel
from explorer.ui.panels.grid import GridPanel
from explorer.ui.panels.latent import LatentPanel
from explorer.ui.panels.layers import LayersPanel
from explorer.ui.panels.noise import NoisePanel
from explorer.ui.panels.truncation import TruncationPanel
from explorer.ui.qimage import to_qimage
from explorer.ui.settings import open_settings, value_bool
from explorer.workers.render_worker import RenderRequest, RenderWorker, default_session

APP_NAME = 'StyleGAN Explorer'
MAX_RECENT = 8
UNDO_COALESCE_S = 0.8
MAX_UNDO = 500
BURST_S = 0.15          # a change this soon after the previous one is part of a drag/burst
REFINE_IDLE_MS = 150    # input pause after which a preview is refined to full resolution
HELD_REFINE_MS = 400    # the same while a slider or the pad is still held down


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
    pngSaved = pyqtSignal(str, str)     # path, error ('' = written)
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
        self.frame_exact = False            # made on the exact reference path (else the fast path)
        self.shown_preview = False          # is the view showing a reduced-resolution preview?
        self._shown_request: RenderRequest | None = None
        self._last_change_t = float('-inf')
        self._refine_pending = False
        self._refine_held = False           # the pending refine may run while a drag is held
        self._pressed_sliders: set = set()  # sliders held down now (see _slider_down)
        self.last_request: RenderRequest | None = None
        self.request_options: tuple = ()    # view options (e.g. progressive preview, later)
        self._next_id = 0
        self._shown_id = -1
        self._submit_t: dict = {}
        self._frame_times: list = []
        self.latencies_ms: list = []        # submit -> shown, per shown frame (bench)
        self.undo_stack: list = []
        self.redo_stack: list = []
        self._undo_key = None
        self._undo_t = 0.0
        self._grid_id = 0
        self._grid_spec = None
        self._grid_cancelled = None         # the spec of a grid the user cancelled
        self._loading = None
        self._pending_favourite = None      # a favourite to restore once its checkpoint has loaded
        self.last_error_box = None
        self.settings = settings if settings is not None else open_settings()
        self._exact_jobs: dict = {}         # tag -> 'copy' | 'star', exact renders in the worker
        self._exact_tag = 0

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._build_ui()
        self._build_menus()
        self._build_shortcuts()
        self._restore_preferences()

        self.worker = RenderWorker(engine)
        self.worker.resultReady.connect(self._on_result)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.loadFailed.connect(self._on_load_failed)
        self.worker.gridTile.connect(self._on_grid_tile)
        self.worker.gridFinished.connect(self._on_grid_finished)
        self.worker.progress.connect(self._on_progress)
        self.worker.batchFinished.connect(self._on_batch_finished)
        self.worker.pngSaved.connect(self._on_png_saved)
        self.worker.exactReady.connect(self._on_exact_ready)
        self.worker.start()
        self.refine_timer = QTimer(self)
        self.refine_timer.setSingleShot(True)
        self.refine_timer.setInterval(REFINE_IDLE_MS)
        self.refine_timer.timeout.connect(self._input_paused)
        self.held_refine_timer = QTimer(self)
        self.held_refine_timer.setSingleShot(True)
        self.held_refine_timer.setInterval(HELD_REFINE_MS)
        self.held_refine_timer.timeout.connect(self._held_paused)
        self.latent_panel.pad.released.connect(self._input_released)
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
        self.controls.addTab(_scrolled(self._stack(self.latent_panel, self.truncation_panel)), 'Latent && truncation')
        self.controls.addTab(_scrolled(self.layers_panel), 'Per-layer styles')
        self.controls.addTab(_scrolled(self.noise_panel), 'Noise')
        self.controls.addTab(self.favourites_panel, 'Favourites')
        self.controls.setMinimumWidth(520)
        explore.addWidget(self.controls)
        explore.setStretchFactor(0, 3)
        explore.setStretchFactor(1, 2)
        explore.setSizes([820, 580])
        self.tabs.addTab(explore, 'Explore')

        self.grid_panel = GridPanel()
        self.tabs.addTab(self.grid_panel, 'Mixing grid')
        self.tabs.currentChanged.connect(self._tab_changed)

        self.panels = [self.latent_panel, self.truncation_panel, self.noise_panel, self.layers_panel]
        for p in self.panels:
            p.changed.connect(self.apply_changes)
        self.noise_panel.viewChanged.connect(self.set_view_mode)
        self.favourites_panel.starRequested.connect(self.star_current)
        self.favourites_panel.restore.connect(self.restore_favourite)
        self.favourites_panel.listChanged.connect(self._save_favourites)
        self.grid_panel.specChanged.connect(self._grid_spec_changed)
        self.grid_panel.cellClicked.connect(self.open_grid_cell)
        self.grid_panel.savePressed.connect(self.save_grid_dialog)
        self.grid_panel.cancelPressed.connect(self.cancel_grid)
        self.grid_panel.renderPressed.connect(lambda: self._refresh_grid(force=True))

        sb = self.statusBar()
        self.status_label = QLabel('Starting…')
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sb.addWidget(self.status_label, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(240)
        self.progress_bar.setVisible(False)
        self.cancel_btn = QPushButton('Cancel')
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(self.cancel_batch)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_btn)
        self.info_label = QLabel('')
        sb.addPermanentWidget(self.info_label)

    @staticmethod
    def _stack(*widgets):
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            lay.addWidget(x)
        lay.addStretch(1)
        return w

    def add_tab(self, widget, title) -> int:
        """Add a top-level tab (e.g. the training panel, issue 5)."""
        return self.tabs.addTab(widget, title)

    def _build_menus(self):
        mb = self.menuBar()
        f = mb.addMenu('&File')
        self.act_open = self._action(f, 'Open checkpoint…', self.open_checkpoint_dialog, QKeySequence('Ctrl+O'))
        self._action(f, 'Open checkpoint URL…', self.open_url_dialog)
        self.recent_menu = f.addMenu('Recent checkpoints')
        self._action(f, 'Checkpoint info', self.show_checkpoint_info)
        f.addSeparator()
        self._action(f, 'Open recipe (PNG)…', self.open_recipe_dialog, QKeySequence('Ctrl+Shift+O'))
        self._action(f, 'Save PNG…', self.save_png_dialog, QKeySequence('Ctrl+S'))
        self._action(f, 'Save grid PNG…', self.save_grid_dialog)
        self._action(f, 'Save grid PNG with labels…', lambda: self.save_grid_dialog(labels=True))
        self._action(f, 'Copy image to clipboard', self.copy_to_clipboard, QKeySequence('Ctrl+C'))
        self._action(f, 'Batch export…', self.batch_export_dialog, QKeySequence('Ctrl+B'))
        self._build_export_size_menu(f.addMenu('Export size'))
        f.addSeparator()
        self._action(f, 'Quit', self.close, QKeySequence('Ctrl+Q'))
        e = mb.addMenu('&Edit')
        self.act_undo = self._action(e, 'Undo', self.undo, QKeySequence('Ctrl+Z'))
        self.act_redo = self._action(e, 'Redo', self.redo, QKeySequence('Ctrl+Shift+Z'))
        self.act_redo.setShortcuts([QKeySequence('Ctrl+Shift+Z'), QKeySequence('Ctrl+Y')])
        self._action(e, '★ Star current state', self.star_current, QKeySequence('Ctrl+D'))
        v = mb.addMenu('&Seed')
        self._action(v, 'Previous seed (←)', lambda: self.latent_panel.step_seed(-1))
        self._action(v, 'Next seed (→)', lambda: self.latent_panel.step_seed(+1))
        self._action(v, 'Random seed (R)', self.latent_panel.random_seed)
        view = mb.addMenu('&View')
        self.act_bf16 = QAction('Use bf16 (faster, approximate)', self)
        self.act_bf16.setCheckable(True)
        self.act_bf16.setEnabled(False)
        self.act_bf16.setToolTip('Render the view in bfloat16 (about 44 dB from the exact image); '
                                 'saved PNGs always use the exact path')
        self.act_bf16.toggled.connect(self.set_bf16)
        view.addAction(self.act_bf16)
        from explorer.ui.help import add_help_menu
        self.help_menu = add_help_menu(self)
        self._refresh_recent()

    def _build_export_size_menu(self, menu):
        """File > Export size: native or x2/x4/x8 (Lanczos) for Save PNG, batch export and grid
        PNGs; the recipe in the file stays native. Remembered between sessions."""
        try:
            current = int(self.settings.value('export/upscale', 1))
        except (TypeError, ValueError):
            current = 1
        self.export_size_actions = {}
        for f in UPSCALES:
            a = QAction('Native resolution' if f == 1 else f'×{f} (Lanczos)', self)
            a.setCheckable(True)
            a.setChecked(f == current)
            a.triggered.connect(lambda _=False, f=f: self.set_export_upscale(f))
            menu.addAction(a)
            self.export_size_actions[f] = a
        if current not in UPSCALES:
            self.export_size_actions[1].setChecked(True)

    @property
    def export_upscale(self) -> int:
        """The factor exported PNGs are upscaled by (1 = native)."""
        return next((f for f, a in self.export_size_actions.items() if a.isChecked()), 1)

    def set_export_upscale(self, factor: int) -> None:
        for f, a in self.export_size_actions.items():
            a.setChecked(f == factor)
        self.settings.setValue('export/upscale', int(factor))

    def _action(self, menu, text, slot, shortcut=None):
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(lambda _=False: slot())
        menu.addAction(a)
        return a

    def _build_shortcuts(self):
        # Window shortcuts, so they work after a click on a button too; a focused text field or
        # spin box keeps all of these keys, a focused slider, combo box or list its arrows (see
        # explorer.ui.keys and event() below). The seed keys act on the Explore tab only.
        step = self.latent_panel.step_seed
        keys = {'Left': lambda: step(-1), 'Down': lambda: step(-1), 'Right': lambda: step(+1), 'Up': lambda: step(+1),
                'R': self.latent_panel.random_seed, 'S': self.save_png_dialog, 'Escape': self.view.setFocus}
        self.shortcuts = {}
        for key, slot in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(slot)
            self.shortcuts[key] = sc
        seed_keys = [self.shortcuts[k] for k in ('Left', 'Down', 'Right', 'Up', 'R', 'Escape')]
        self.tabs.currentChanged.connect(lambda i: [sc.setEnabled(i == 0) for sc in seed_keys])

    def event(self, e):
        if e.type() == QEvent.Type.ShortcutOverride and keeps_key(QApplication.focusWidget(), e.key(), e.modifiers()):
            e.accept()      # the focused widget uses this key itself: no shortcut
            return True
        return super().event(e)

    # ================================================================== state
    def apply_changes(self, changes: dict) -> None:
        """A control changed some recipe fields: record undo, update panels, render."""
        try:
            new = self.recipe.replace(**changes)
        except ExplorerError as e:
            self._status_error(str(e))
            return
        if new == self.recipe:
            return
        key = tuple(sorted(changes))
        now = time.monotonic()
        if not (key == self._undo_key and now - self._undo_t < UNDO_COALESCE_S):
            self.undo_stack.append(self.recipe)
            del self.undo_stack[:-MAX_UNDO]
        self._undo_key, self._undo_t = key, now
        self.redo_stack.clear()
        self.set_recipe(new, interactive=self._input_is_interactive())

    def _slider_down(self) -> bool:
        """Is a slider held? Tracked by sliderPressed (see _hook_sliders), so a change costs
        nothing here when none is held (searching the controls took ~1 ms per change)."""
        if self._pressed_sliders:
            self._pressed_sliders = {s for s in self._pressed_sliders if not sip.isdeleted(s) and s.isSliderDown()}
        return bool(self._pressed_sliders)

    def _input_held(self) -> bool:
        """A drag is in progress: a slider or the latent pad is held down."""
        return self._slider_down() or self.latent_panel.pad.held

    def _input_is_interactive(self) -> bool:
        """A drag is held, or this change follows the previous one within BURST_S."""
        now = time.monotonic()
        burst = now - self._last_change_t < BURST_S
        self._last_change_t = now
        return burst or self._input_held()

    def _hook_sliders(self):
        """Track held sliders and refine as soon as one is released (sliders are rebuilt per model)."""
        for s in self.controls.findChildren(QSlider):
            if not s.property('refine_hooked'):
                s.setProperty('refine_hooked', True)
                s.sliderPressed.connect(lambda s=s: self._pressed_sliders.add(s))
                s.sliderReleased.connect(self._input_released)

    def set_recipe(self, recipe: Recipe, interactive=False, exact=False) -> None:
        """Show ``recipe`` in every control (no signals) and render it (``interactive``: may
        be previewed; ``exact``: on the reference path, e.g. a restored recipe)."""
        self.recipe = recipe
        for p in self.panels:
            p.set_recipe(recipe)
        self.submit(interactive=interactive, exact=exact)
        if self.tabs.currentWidget() is self.grid_panel:
            self._refresh_grid()

    def restore_recipe(self, recipe: Recipe) -> None:
        """Jump to a whole state (favourite, recipe file, grid cell) as one undo step."""
        recipe = recipe.replace(checkpoint='', checkpoint_sha256='')
        if recipe == self.recipe:
            return
        self.undo_stack.append(self.recipe)
        self.redo_stack.clear()
        self._undo_key = None
        self.set_recipe(recipe, exact=True)

    def undo(self):
        if self.undo_stack:
            self.redo_stack.append(self.recipe)
            self._undo_key = None
            self.set_recipe(self.undo_stack.pop())

    def redo(self):
        if self.redo_stack:
            self.undo_stack.append(self.recipe)
            self._undo_key = None
            self.set_recipe(self.redo_stack.pop())

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
        if interactive:
            self.refine_timer.start()       # (re)start: refine once input pauses
            self.held_refine_timer.start()
            self._refine_pending = self._refine_held = False    # the input moved on: not paused now
        else:
            self.refine_timer.stop()
            self.held_refine_timer.stop()
            self._refine_pending = self._refine_held = False
        self.last_request = req
        self._submit_t[req.request_id] = time.perf_counter()
        if len(self._submit_t) > 1000:
            for k in sorted(self._submit_t)[:500]:
                del self._submit_t[k]
        self.worker.submit(req)
        return req

    def _input_paused(self):
        """No change for REFINE_IDLE_MS: refine a preview, unless a drag is still held (then
        HELD_REFINE_MS decides, or the release)."""
        if not self._input_held():
            self._request_refine()

    def _held_paused(self):
        """No change for HELD_REFINE_MS while a drag is held still: refine now (the worker
        interrupts it if the drag moves on)."""
        if self._input_held():
            self._request_refine(held=True)

    def _input_released(self):
        """A slider or the latent pad let go: refine a preview at once."""
        self.refine_timer.stop()
        self.held_refine_timer.stop()
        self._request_refine()

    def _request_refine(self, held=False):
        if self.last_request is not None and self.last_request.option('interactive'):
            self._refine_pending = True
            self._refine_held = held
            self._refine_if_due()

    def _refine_if_due(self):
        """Once the newest interactive request is on screen: if it came back as a preview,
        render the same recipe at full resolution (a request that is not interactive)."""
        req, shown = self.last_request, self._shown_request
        if not self._refine_pending or req is None or shown is None:
            return
        if self._input_held() and not self._refine_held:
            self._refine_pending = False    # grabbed again before the preview arrived: release refines
            return
        if self._shown_id < req.request_id and shown.key() != req.key():
            return      # still rendering; _on_result calls again
        self._refine_pending = False
        if self.shown_preview and req.option('interactive'):
            self.submit()

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
        path = res.timings.get('path')
        how = f'  ·  {path}' if path else ''
        if res.preview:
            r = res.timings.get('resolution')
            how += f'  ·  preview {r}x{r}'
        gain = res.timings.get('noise_gain')       # the noise-detail view's auto-contrast
        if gain is not None:
            how += f'  ·  noise detail {format_gain(gain)}'
        self.noise_panel.set_detail_gain(gain)
        self.status_label.setText(f'Render {ms:.1f} ms{extra}{how}  ·  {fps_text}')
        self.frameShown.emit(res.request_id)
        self._refine_if_due()

    def _status(self, text):
        """A normal status line: it replaces any red error line (which is stale by now)."""
        self.status_label.setStyleSheet('')
        self.status_label.setText(text)

    def _status_error(self, text):
        self.status_label.setStyleSheet('color: #d33;')
        self.status_label.setText(text)
        self.errorShown.emit(text)

    # ================================================================== checkpoints
    def open_checkpoint(self, path=None, sha256=None):
        """Load a checkpoint (path, URL or None = default) in the worker; ``sha256``: refuse a
        file whose content is not that (a favourite's checkpoint)."""
        self._loading = path
        if sha256 is None:
            self._pending_favourite = None
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self.status_label.setStyleSheet('')
        self.status_label.setText(f'Loading {path or "default checkpoint"}…')
        self.worker.load(path, sha256=sha256)

    def open_checkpoint_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, 'Open checkpoint', str(self.settings.value('paths/checkpoint_dir', '')),
                                              'Checkpoints (*.pkl *.pt *.pth *.ckpt);;All files (*)')
        if path:
            self.open_checkpoint(path)

    def open_url_dialog(self):
        url, ok = QInputDialog.getText(self, 'Open checkpoint', 'Path or http(s) URL:')
        if ok and url.strip():
            self.open_checkpoint(url.strip())

    def _on_loaded(self, info):
        self.progress_bar.setVisible(False)
        self.info = info
        for p in self.panels + [self.grid_panel]:
            p.set_model(info)
        r = self.recipe
        fix = {}
        for name in ('layer_noise', 'layer_source', 'layer_blend'):
            v = getattr(r, name)
            if v is not None and len(v) != info.num_ws:
                fix[name] = None
        if 'layer_source' in fix or 'layer_blend' in fix:
            fix.update(layer_source=None, layer_blend=None, mix_seeds=())
        if r.cutoff is not None and r.cutoff > info.num_ws:
            fix['cutoff'] = None
        if info.c_dim == 0 and r.class_idx is not None:
            fix['class_idx'] = None
        if info.c_dim > 0 and (r.class_idx is None or r.class_idx >= info.c_dim):
            fix['class_idx'] = 0
        self.undo_stack.clear()
        self.redo_stack.clear()
        self._grid_spec = None
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
        self._hook_sliders()
        if not info.placeholder and not info.live:      # a live training model has no file
            self._add_recent(info.path)
            if not str(self._loading or '').startswith(('http://', 'https://')):     # not the download cache
                self.settings.setValue('paths/checkpoint_dir', str(Path(info.path).parent))
        self.set_recipe(r.replace(**fix))
        pending, self._pending_favourite = self._pending_favourite, None
        if pending is not None and pending.checkpoint_sha256 == info.sha256:
            self.restore_recipe(pending)
        self.modelLoaded.emit(info)

    def _on_load_failed(self, message):
        self.progress_bar.setVisible(False)
        if self._pending_favourite is not None:
            message += '\n\nThe favourite was not restored.'
        self._pending_favourite = None
        failed = self._loading
        if self.info is None and failed is not None:    # e.g. gui --checkpoint /nope.pt: not a black window
            self.show_error('Could not load checkpoint', f'{message}\n\nThe default model is opened instead.')
            self.open_checkpoint(None)
            self._status_error(f'Could not load {failed}; opening the default model')
            return
        what = 'the current model is still loaded' if self.info else 'no model is loaded'
        self._status_error(f'Could not load checkpoint ({what})')
        self.show_error('Could not load checkpoint', f'{message}\n\nNothing was changed: {what}.')

    def show_error(self, title, text):
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()      # non-blocking, so the worker and tests keep running
        self.last_error_box = box
        self.errorShown.emit(text)

    def show_checkpoint_info(self):
        i = self.info
        if i is None:
            return
        text = (f'File: {i.path}\nFamily: {i.family}\nResolution: {i.resolution}×{i.resolution}, '
                f'{i.channels} channels\nStyle layers (num_ws): {i.num_ws}\nz_dim {i.z_dim}, w_dim {i.w_dim}, '
                f'classes {i.c_dim or "none (unconditional)"}\nDevice: {i.device}\nSHA-256: {i.sha256}')
        if i.placeholder:
            text += '\n\nThis is the untrained placeholder model (random weights).'
        QMessageBox.information(self, 'Checkpoint info', text)

    def _recent(self):
        v = self.settings.value('recent', []) or []
        return [v] if isinstance(v, str) else list(v)

    def _add_recent(self, path):
        rec = [path] + [p for p in self._recent() if p != path]
        self.settings.setValue('recent', rec[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self):
        self.recent_menu.clear()
        rec = self._recent()
        for p in rec:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_checkpoint(p))
        self.recent_menu.setEnabled(bool(rec))

    # ================================================================== drag and drop
    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        for url in e.mimeData().urls():
            self.open_path(url.toLocalFile() or url.toString())
            break

    def open_path(self, path):
        """A dropped file: PNG -> restore its recipe, anything else -> checkpoint."""
        if str(path).lower().endswith('.png'):
            self.open_recipe(path)
        else:
            self.open_checkpoint(path)

    # ================================================================== export
    def export_recipe(self, recipe: Recipe) -> dict:
        if self.info is not None:
            recipe = recipe.replace(checkpoint=self.info.name, checkpoint_sha256=self.info.sha256)
        return recipe.to_dict()

    def save_png(self, path, upscale=None) -> Path:
        """The recipe on screen at full native resolution (``upscale``: that many times larger,
        Lanczos; default File > Export size), exact reference pixels, recipe embedded. An exact
        full frame on screen is written at once; otherwise (fast path, bf16, a preview) the
        worker renders it exactly and writes it. pngSaved follows."""
        if self.frame is None or self._shown_request is None:
            raise ExplorerError('nothing rendered yet')
        recipe = self._shown_request.recipe
        path = Path(path)
        upscale = self.export_upscale if upscale is None else int(upscale)
        if self._exact_frame_of(recipe):
            out = save_png(path, self.frame, self.export_recipe(recipe), upscale=upscale)
            self._on_png_saved(str(out), '')
            return out
        self._status(f'Saving {path} (exact render)…')
        self.worker.export_png(path, recipe, self.export_recipe(recipe), upscale=upscale)
        return path

    def _on_png_saved(self, path, error):
        if error:
            self._status_error(f'Could not save {path}')   # not a stale "Saving …" line
            self.show_error('Could not save', error)
        else:
            self.status_label.setStyleSheet('')
            self.status_label.setText(f'Saved {path}')
        self.pngSaved.emit(path, error)

    def save_png_dialog(self):
        if self.frame is None:
            return
        r = self.frame_recipe
        name = self._in_save_dir(f'seed{r.seeds[0]:04d}.png')
        path, _ = QFileDialog.getSaveFileName(self, 'Save PNG', name, 'PNG images (*.png)')
        if path:
            self.settings.setValue('paths/save_dir', str(Path(path).parent))
            try:
                self.save_png(path)
            except (ExplorerError, OSError) as e:  # never let an error escape a slot (qFatal)
                self._status_error(f'Could not save {path}')
                self.show_error('Could not save', error_text(e, path))

    def _in_save_dir(self, name) -> str:
        d = str(self.settings.value('paths/save_dir', '') or '')
        return str(Path(d) / name) if d and Path(d).is_dir() else name

    def copy_to_clipboard(self):
        """Copy the exact full-resolution pixels of the recipe on screen (what Save PNG writes)."""
        self._with_exact_frame('copy')

    def _exact_frame_of(self, recipe) -> bool:
        """Is ``self.frame`` the exact full-resolution render of ``recipe``, shown now?"""
        return self.frame_exact and not self.shown_preview and recipe == self.frame_recipe

    def _with_exact_frame(self, purpose):
        """Do ``purpose`` ('copy' | 'star') with the exact frame of the recipe on screen: at once
        when the view already holds it, else after the worker renders it (exactReady)."""
        if self._shown_request is None or self.frame is None:
            return
        recipe = self._shown_request.recipe
        if self._exact_frame_of(recipe):
            self._use_exact_frame(purpose, recipe, self.frame)
            return
        self._exact_tag += 1
        self._exact_jobs[self._exact_tag] = purpose
        self.status_label.setStyleSheet('')
        self.status_label.setText('Copying the exact image…' if purpose == 'copy' else 'Starring (exact render)…')
        self.worker.render_exact(self._exact_tag, recipe)

    def _on_exact_ready(self, tag, recipe, image, error):
        purpose = self._exact_jobs.pop(tag, None)
        if purpose is None:
            return
        if error:
            self._status_error(f'Could not {"copy" if purpose == "copy" else "star"} the image: {error}')
            return
        self._use_exact_frame(purpose, recipe, image)

    def _use_exact_frame(self, purpose, recipe, frame):
        self.status_label.setStyleSheet('')
        if purpose == 'copy':
            QApplication.clipboard().setImage(to_qimage(frame))
            self.status_label.setText('Image copied to the clipboard')
            self.copied.emit()
        else:
            if self.info is not None and not self.info.live:     # the favourite knows its checkpoint
                recipe = recipe.replace(checkpoint=self.info.name, checkpoint_sha256=self.info.sha256)
            self.favourites_panel.add(recipe, frame, self.info.path if self.info is not None else '')
            self.status_label.setText('Starred. See the Favourites tab.')

    def open_recipe(self, path) -> bool:
        """Restore what a PNG was made with: a single image's recipe, or a grid (Mixing grid tab)."""
        grid = None
        try:
            d = read_recipe(path)
            if 'grid' in d:
                grid = GridSpec.from_dict(d['grid'])
            else:
                recipe = Recipe.from_dict(d)
        except Exception as e:  # a hostile or damaged file: a dialog, never an exception out of a slot
            if not isinstance(e, ExplorerError):
                logging.getLogger(__name__).exception('could not open recipe %s', path)
            text = error_text(e, path)
            self.show_error('Could not open recipe', text if str(path) in text else f'{path}: {text}')
            return False
        sha, made_with = d.get('checkpoint_sha256') or '', d.get('checkpoint') or ''
        if self.info is not None and sha and sha != self.info.sha256:
            self.show_error('Different checkpoint',
                            f'{Path(path).name} was made with {made_with or "another checkpoint"}, '
                            f'not {self.info.name}. The settings are restored; open that checkpoint to get '
                            f'the same image.')
        if grid is not None:
            return self.open_grid(grid, str(d['grid'].get('styles') or ''))
        self.restore_recipe(recipe)
        return True

    def open_recipe_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, 'Open recipe', '', 'PNG images (*.png)')
        if path:
            self.open_recipe(path)

    def restore_favourite(self, recipe: Recipe, path: str = '') -> None:
        """Restore a favourite onto its own checkpoint: at once when that file (same SHA-256) is
        open, else after loading it from ``path``; a file that is gone or changed is refused
        with a message (nothing changes). A favourite that records no checkpoint (older
        settings) restores onto the open model."""
        sha = recipe.checkpoint_sha256
        if not sha or (self.info is not None and self.info.sha256 == sha):
            self.restore_recipe(recipe)
            return
        name = recipe.checkpoint or Path(path).name or 'its checkpoint'
        if not path or not Path(path).is_file():
            self._status_error(f'Favourite not restored: {name} is not at {path or "a known place"} any more')
            self.show_error('Favourite', f'This favourite was made with {name}, which is not at '
                                         f'{path or "a known place"} any more.\n\nOpen that checkpoint from where it '
                                         f'is now, then click the favourite again. Nothing was changed.')
            return
        self._pending_favourite = recipe
        self.open_checkpoint(path, sha256=sha)

    def star_current(self):
        """Star the recipe on screen; its thumbnail is the exact render (as Save PNG writes it)."""
        self._with_exact_frame('star')

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

    # ---------------------------------------------------------------- batch export
    def batch_export(self, seeds, outdir, upscale=1):
        self.progress_bar.setRange(0, max(1, len(seeds)))
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self.cancel_btn.setVisible(True)
        if upscale == 1:
            self.worker.batch_export(seeds, outdir, self.recipe)
        else:
            self.worker.batch_export(seeds, outdir, self.recipe, upscale=upscale)

    def cancel_batch(self):
        self.worker.cancel_batch()

    def batch_export_dialog(self):
        if self.info is None:
            return
        dlg = BatchDialog(self, int(self.recipe.seeds[0]), self.export_upscale)
        if dlg.exec() == QDialog.DialogCode.Accepted:     # the dialog checked its input (BatchDialog.accept)
            self.batch_export(dlg.seeds(), dlg.outdir.text().strip(), dlg.size.currentData())

    def _on_progress(self, kind, done, total, text):
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
        if kind == 'batch':
            self._status(f'Batch export {done}/{total} {text}')

    def _on_batch_finished(self, paths, error):
        self.progress_bar.setVisible(False)
        self.cancel_btn.setVisible(False)
        if error == 'cancelled':
            self._status('Batch export cancelled')
        elif error:
            self.show_error('Batch export failed', error)
        else:
            self._status(f'Batch export: wrote {len(paths)} PNGs'
                                      + (f' to {Path(paths[0]).parent}' if paths else ''))

    # ================================================================== grid
    def _tab_changed(self, _):
        if self.tabs.currentWidget() is self.grid_panel:
            self._refresh_grid()

    def _grid_spec_changed(self):
        self._refresh_grid()

    def _refresh_grid(self, force=False):
        """Render the grid the panel describes, unless it is already shown (or was cancelled
        and ``force`` is False: Render grid or a changed setting renders it)."""
        if self.info is None:
            return
        try:
            spec = self.grid_panel.spec(self.recipe)
        except ExplorerError as e:
            # No stale tiles next to the error: forget the old grid and stop rendering it.
            self._grid_spec = None
            self._grid_id += 1
            self.worker.cancel_grid()
            self.grid_panel.show_error(str(e))
            return
        if spec == self._grid_spec or (spec == self._grid_cancelled and not force):
            return
        self._grid_spec = spec
        self._grid_cancelled = None
        self._grid_id += 1
        self.grid_panel.clear_tiles()
        self.grid_panel.start_rendering()
        self.worker.render_grid(self._grid_id, spec)

    def cancel_grid(self):
        """Stop the grid being rendered (the worker stops between tiles); tiles so far stay."""
        if self._grid_spec is None:
            return
        self._grid_cancelled, self._grid_spec = self._grid_spec, None
        self._grid_id += 1          # a tile still in flight is dropped
        self.worker.cancel_grid()
        self.grid_panel.show_cancelled()

    def open_grid(self, spec: GridSpec, styles: str = '') -> bool:
        """Show a saved grid (its PNG's recipe) in the Mixing grid tab: rows, columns, layers,
        psi; its noise, cutoff and class become Explore's (one undo step)."""
        if self.info is not None and any(i >= self.info.num_ws for i in spec.layers):
            self.show_error('Could not open recipe', f'the grid takes layers {list(spec.layers)} but this model has '
                                                     f'{self.info.num_ws} style layers')
            return False
        self.grid_panel.set_spec(spec, styles)
        changes = dict(cutoff=spec.cutoff, class_idx=spec.class_idx, noise_mode=spec.noise_mode,
                       noise_strength=spec.noise_strength)
        if any(getattr(self.recipe, k) != v for k, v in changes.items()):
            self.restore_recipe(self.recipe.replace(**changes))
        self.tabs.setCurrentWidget(self.grid_panel)
        self._refresh_grid(force=True)
        return True

    def _on_grid_tile(self, grid_id, kind, r, c, img):
        if grid_id == self._grid_id:
            self.grid_panel.set_tile(kind, r, c, img)

    def _on_grid_finished(self, grid_id, error):
        if grid_id == self._grid_id and error:
            self.grid_panel.show_error(f'Grid failed: {error}')
        elif grid_id == self._grid_id:
            self.grid_panel._stop_progress()

    def open_grid_cell(self, r, c):
        spec = self._grid_spec
        if spec is None or self.info is None:
            return
        rec = cell_recipe(spec, self.info.num_ws, spec.rows[r], spec.cols[c])
        rec = rec.replace(noise_seed=self.recipe.noise_seed)
        self.tabs.setCurrentIndex(0)
        self.restore_recipe(rec)

    def grid_image(self):
        spec = self._grid_spec
        total = len(spec.rows) + len(spec.cols) + len(spec.rows) * len(spec.cols) if spec else 0
        tiles = self.grid_panel.tiles
        if not spec:
            raise ExplorerError('no grid to save: ' + (self.grid_panel.status.text() or 'the grid settings are invalid'))
        if len(tiles) < total:
            raise ExplorerError('the grid is still rendering')
        return compose_grid(spec, tiles, next(iter(tiles.values())).shape)

    def save_grid(self, path, labels=None, upscale=None) -> Path:
        """The grid as one PNG with its spec embedded (File > Open recipe restores it);
        ``labels``: seed numbers around it (default: the panel's Labels box); ``upscale``:
        default File > Export size."""
        self.grid_image()       # raises while there is nothing complete to save
        spec, tiles = self._grid_spec, self.grid_panel.tiles
        labels = self.grid_panel.labels.isChecked() if labels is None else bool(labels)
        upscale = self.export_upscale if upscale is None else int(upscale)
        image, export = grid_export_image(spec, tiles, next(iter(tiles.values())).shape, upscale=upscale,
                                          labels=labels)
        name, sha = (self.info.name, self.info.sha256) if self.info is not None else ('', '')
        return save_png(path, image, grid_recipe(spec, self.grid_panel.styles_text(), name, sha), export=export)

    def save_grid_dialog(self, labels=None):
        try:
            self.grid_image()
        except ExplorerError as e:
            self.show_error('Save grid PNG', str(e))
            return
        path, _ = QFileDialog.getSaveFileName(self, 'Save grid PNG' + (' with labels' if labels else ''),
                                              self._in_save_dir('grid.png'), 'PNG images (*.png)')
        if path:
            self.settings.setValue('paths/save_dir', str(Path(path).parent))
            try:
                self.save_grid(path, labels=labels)
                self._status(f'Saved {path}')
            except ExplorerError as e:
                self._status_error(f'Could not save {path}')
                self.show_error('Could not save', str(e))

    # ================================================================== shutdown
    def shutdown(self):
        self.latent_panel.animate.setChecked(False)
        self.refine_timer.stop()
        self.held_refine_timer.stop()
        self.worker.stop()
        self.training_panel.shutdown()
        self._exact_jobs.clear()
        self._save_preferences()

    def closeEvent(self, e):
        self.shutdown()
        super().closeEvent(e)


class BatchDialog(QDialog):
    """N seeds from the current one, or an explicit seed range; output folder."""

    def __init__(self, parent, seed, upscale=1):
        super().__init__(parent)
        self.setWindowTitle('Batch export')
        lay = QFormLayout(self)
        self.use_count = QRadioButton('Number of seeds from the current seed')
        self.use_count.setChecked(True)
        self.count = QSpinBox()
        self.count.setRange(1, min(100000, MAX_SEED - seed + 1))     # no seed past 2^32 - 1
        self.count.setValue(16)
        self.use_range = QRadioButton('Seed range')
        self.range = QLineEdit(f'{seed}-{min(seed + 15, MAX_SEED)}')
        self.start = seed
        lay.addRow(self.use_count, self.count)
        lay.addRow(self.use_range, self.range)
        row = QHBoxLayout()
        self.outdir = QLineEdit(str(Path.cwd() / 'out'))
        browse = QPushButton('Browse…')
        browse.clicked.connect(self._browse)
        row.addWidget(self.outdir, 1)
        row.addWidget(browse)
        lay.addRow('Output folder', row)
        self.size = QComboBox()
        for f in UPSCALES:
            self.size.addItem('Native resolution' if f == 1 else f'×{f} (Lanczos)', f)
        self.size.setCurrentIndex(max(0, self.size.findData(int(upscale))))
        lay.addRow('Size', self.size)
        lay.addRow(QLabel('Each PNG embeds its recipe and uses the current settings.'))
        self.error = QLabel('')
        self.error.setStyleSheet('color: #d33;')
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        lay.addRow(self.error)
        self.range.textEdited.connect(lambda _: self.use_range.setChecked(True))
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addRow(bb)

    def _browse(self):
        d = QFileDialog.getExistingDirectory(self, 'Output folder', self.outdir.text())
        if d:
            self.outdir.setText(d)

    def accept(self):
        """OK: check the input here; a mistake is shown in the dialog, which stays open with it."""
        try:
            seeds = self.seeds()
            if not seeds:
                raise ExplorerError('the seed range is empty')
            if not self.outdir.text().strip():
                raise ExplorerError('choose an output folder')
        except ExplorerError as e:
            self.error.setText(str(e))
            self.error.setVisible(True)
            (self.range if self.use_range.isChecked() else self.outdir).setFocus()
            return
        self.error.setVisible(False)
        super().accept()

    def seeds(self):
        if self.use_range.isChecked():
            return parse_seeds(self.range.text())
        return list(range(self.start, self.start + self.count.value()))
