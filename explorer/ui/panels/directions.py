"""Directions: semantic edits as sliders (issue 16).

A direction set comes from the render worker (SeFa or GANSpace PCA on chosen layers, the
K strongest), from a file (``.npz``, DESIGN.md's layout), or with the model: the set shipped
beside a checkpoint (``X_directions.npz``) loads when the checkpoint opens. A set made for
another architecture (w_dim, num_ws) is refused with a message and the old one stays; one
made on another checkpoint of the same shape loads with a warning.

One row per direction: its name (editable; saved with the set), a slider in units of the
standard deviation of w along it (-5..+5 sigma; edit amount = sigma x std), the layers it
acts on (coarse / middle / fine / all, the set's own choice, or typed ws indices such as
``0-3,8``) and a reset. The selected row (click or focus it) gets a sweep strip: thumbnails
of the edit at -3..+3 sigma, rendered in the worker; a click on one moves the slider there.

The panel writes ``Recipe.edits`` through ``changed({'edits': ...})`` like every panel, so
edits are undoable and go into favourites, exported PNGs, the grid and batch export with
the recipe. A row finds its edit in the recipe by the direction's vector (names can
change); edits of other directions (another set, an opened PNG) are kept as they are.
Recipe -> widgets updates happen under QSignalBlocker (no ping-pong).

Plain Qt and numpy: ``explorer.ui.directions_controller`` connects it to the worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.direction_set import SWEEP_SIGMAS, DirectionSet, default_directions_path, find_edit, set_edit
from explorer.engine.layers import format_layer_spec, parse_layer_spec
from explorer.engine.recipe import MAX_EDITS, Recipe
from explorer.engine.stored_latents import Edit
from explorer.errors import ExplorerError
from explorer.ui.qimage import to_pixmap
from explorer.ui.widgets import FloatSlider

SIGMA_MAX = 5.0             # sliders run over -SIGMA_MAX..+SIGMA_MAX standard deviations
SIGMA_STEP = 0.05
MAX_ROWS = MAX_EDITS        # a recipe holds at most this many edits: one row per possible edit
THUMB = 64                  # sweep thumbnail size (px): seven fit the 520 px controls column
GROUP_ORDER = ('all', 'coarse', 'middle', 'fine')
SET_PREFIX = 'set: '        # the layer combo's item for the set's own layers of a direction
COLOURS = {'info': '', 'warn': 'color: #b60;', 'error': 'color: #d33;'}


class DirectionRow(QFrame):
    """One direction: name, sigma slider with its value, layers, reset."""

    def __init__(self, k: int, name: str, parent=None):
        super().__init__(parent)
        self.k = k
        self.setObjectName('dirRow')
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 1, 4, 1)
        self.name = QLineEdit(name)
        self.name.setFixedWidth(112)
        self.name.setToolTip('Name of this direction (edit it; Save set… keeps it)')
        self.value = FloatSlider(-SIGMA_MAX, SIGMA_MAX, 0.0, step=SIGMA_STEP, decimals=2)
        self.value.slider.setMinimumWidth(70)
        self.value.spin.setSuffix(' σ')
        self.value.spin.setFixedWidth(78)
        self.value.setToolTip('Edit amount in standard deviations of w along this direction')
        self.layers = QComboBox()
        self.layers.setEditable(True)
        self.layers.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layers.setFixedWidth(92)
        self.layers.setToolTip('Layers the edit acts on: coarse, middle, fine, all, the set\'s own, '
                               'or ws indices such as 0-3,8 (type them and press Enter)')
        self.reset = QToolButton()
        self.reset.setText('↺')
        self.reset.setToolTip('Reset this direction to 0')
        lay.addWidget(self.name)
        lay.addWidget(self.value, 1)
        lay.addWidget(self.layers)
        lay.addWidget(self.reset)

    def set_selected(self, on: bool) -> None:
        self.setStyleSheet('#dirRow { background: rgba(60, 130, 230, 45); border-radius: 3px; }' if on else '')


class Thumb(QLabel):
    clicked = pyqtSignal()

    def mousePressEvent(self, e):
        if e.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(e)


class SweepStrip(QGroupBox):
    """Thumbnails of one direction at SWEEP_SIGMAS standard deviations (the middle one: no edit)."""

    sigmaClicked = pyqtSignal(float)

    def __init__(self, parent=None):
        super().__init__('Sweep', parent)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(0)
        self.thumbs: list[Thumb] = []
        self.images: list = [None] * len(SWEEP_SIGMAS)     # the uint8 frames shown (None: not yet)
        for i, s in enumerate(SWEEP_SIGMAS):
            t = Thumb()
            t.setFixedSize(THUMB, THUMB)
            t.setFrameShape(QFrame.Shape.StyledPanel)
            t.setAlignment(Qt.AlignmentFlag.AlignCenter)
            t.setCursor(Qt.CursorShape.PointingHandCursor)
            t.setToolTip(f'{s:+g} σ: click to set the slider here')
            t.clicked.connect(lambda s=s: self.sigmaClicked.emit(float(s)))
            cap = QLabel('0' if s == 0 else f'{s:+g}σ')
            cap.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(t, 0, i)
            grid.addWidget(cap, 1, i)
            self.thumbs.append(t)
        self.clear('Select a direction to see it from −3σ to +3σ')

    def clear(self, title: str) -> None:
        self.setTitle(title)
        self.images = [None] * len(SWEEP_SIGMAS)
        for t in self.thumbs:
            t.clear()
            t.setText('…')

    def set_thumb(self, i: int, image: np.ndarray) -> None:
        self.images[i] = image
        self.thumbs[i].setPixmap(to_pixmap(image, THUMB))

    def complete(self) -> bool:
        return all(x is not None for x in self.images)


class DirectionsPanel(QWidget):
    changed = pyqtSignal(dict)                      # {'edits': tuple of Edit}
    computeRequested = pyqtSignal(str, object, int, int)    # method, layers (tuple | None = all), num, samples
    cancelRequested = pyqtSignal()
    measureRequested = pyqtSignal(object)           # a DirectionSet without std: the worker measures it
    selectionChanged = pyqtSignal()                 # the sweep strip needs new thumbnails
    setChanged = pyqtSignal()                       # another set (or none) is shown; rows rebuilt
    recipeShown = pyqtSignal()                      # set_recipe ran (the sweep's base may have changed)
    labelsRequested = pyqtSignal()                  # "From labels…": open the label gallery

    def __init__(self, parent=None):
        super().__init__(parent)
        self.info = None
        self.recipe = Recipe()
        self.dset: DirectionSet | None = None
        self.source = ''                # where the set came from (file name or 'computed')
        self.rows: list[DirectionRow] = []
        self.row_layers: list[tuple] = []   # per row: the layers its edit uses (or will use)
        self._vectors: list[str] = []       # per row: the direction as an Edit stores it
        self.selected: int | None = None
        self.busy = False               # a computation or measurement is running in the worker
        self._groups: dict = {}
        lay = QVBoxLayout(self)

        # ---------------------------------------------------------- compute / load / save
        box = QGroupBox('Direction set')
        bl = QVBoxLayout(box)
        r1 = QHBoxLayout()
        self.method = QComboBox()
        self.method.addItem('SeFa (closed form)', 'sefa')
        self.method.addItem('PCA (GANSpace)', 'pca')
        self.method.setToolTip('SeFa: eigenvectors of the style weights (instant). PCA: principal '
                               'components of sampled w (GANSpace)')
        self.compute_layers = QComboBox()
        self.compute_layers.setToolTip('Layers whose styles SeFa factorises, and the default layers of the edits')
        self.count = QSpinBox()
        self.count.setRange(1, MAX_ROWS)
        self.count.setValue(10)
        self.count.setPrefix('K = ')
        self.count.setToolTip('How many directions to keep (strongest first)')
        self.samples = QSpinBox()
        self.samples.setRange(1000, 1_000_000)
        self.samples.setSingleStep(5000)
        self.samples.setValue(20_000)
        self.samples.setToolTip('PCA: number of random w samples')
        self.compute_btn = QPushButton('Compute')
        self.labels_btn = QPushButton('From labels…')
        self.labels_btn.setToolTip('Label generated faces + or − and fit a direction to them (InterFaceGAN); '
                                   'it joins this set as one more slider')
        r1.addWidget(self.method)
        r1.addWidget(self.compute_layers)
        r1.addWidget(self.count)
        r1.addWidget(self.samples)
        r1.addWidget(self.compute_btn)
        r1.addWidget(self.labels_btn)
        bl.addLayout(r1)
        r2 = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_btn = QPushButton('Cancel')
        self.cancel_btn.setVisible(False)
        self.source_label = QLabel('No directions yet: compute a set or load one.')
        self.source_label.setWordWrap(True)
        self.load_btn = QPushButton('Load set…')
        self.save_btn = QPushButton('Save set…')
        self.reset_all = QPushButton('Reset all')
        self.reset_all.setToolTip('Remove every direction edit from the current image')
        r2.addWidget(self.source_label, 1)
        r2.addWidget(self.progress, 1)
        r2.addWidget(self.cancel_btn)
        r2.addWidget(self.load_btn)
        r2.addWidget(self.save_btn)
        r2.addWidget(self.reset_all)
        bl.addLayout(r2)
        self.message = QLabel('')
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        bl.addWidget(self.message)
        lay.addWidget(box)

        # ---------------------------------------------------------- sweep and rows
        self.sweep = SweepStrip()
        lay.addWidget(self.sweep)
        self.others = QLabel('')
        self.others.setVisible(False)
        lay.addWidget(self.others)
        self.rows_widget = QWidget()
        self.rows_lay = QVBoxLayout(self.rows_widget)
        self.rows_lay.setContentsMargins(0, 0, 0, 0)
        self.rows_lay.setSpacing(1)
        self.rows_lay.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.rows_widget)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        lay.addWidget(self.scroll, 1)

        self.method.currentIndexChanged.connect(self._method_changed)
        self.compute_btn.clicked.connect(self.request_compute)
        self.labels_btn.clicked.connect(self.labelsRequested.emit)
        self.cancel_btn.clicked.connect(self.cancelRequested.emit)
        self.load_btn.clicked.connect(self.load_dialog)
        self.save_btn.clicked.connect(self.save_dialog)
        self.reset_all.clicked.connect(self.reset_all_edits)
        self.sweep.sigmaClicked.connect(self._sweep_clicked)
        self._method_changed()
        self._enable()

    # ================================================================== model and recipe
    def set_model(self, info) -> None:
        """A model was opened: offer its layer groups; show the set shipped with it, else keep
        the set shown if it was made for this very checkpoint, else none."""
        self.info = info
        self._groups = {k: tuple(v) for k, v in info.groups}
        with QSignalBlocker(self.compute_layers):
            self.compute_layers.clear()
            for name in GROUP_ORDER:
                idx = self._groups.get(name, ())
                if idx:
                    self.compute_layers.addItem(f'{name} layers' if name != 'all' else 'all layers', name)
        self.count.setMaximum(max(1, min(MAX_ROWS, int(info.w_dim))))
        self.show_message('')
        shipped = default_directions_path(info.path) if not getattr(info, 'live', False) else None
        if shipped is not None and self.load_set(shipped):
            return
        keep = None
        if self.dset is not None:
            try:
                if not self.dset.check_compatible(info, info.sha256):
                    keep = self.dset
            except ExplorerError:
                keep = None
        self.set_directions(keep, self.source if keep is not None else '')

    def set_recipe(self, recipe: Recipe) -> None:
        """Show ``recipe``'s edits on the rows (no signals)."""
        self.recipe = recipe
        ours = 0
        for k, row in enumerate(self.rows):
            i = find_edit(recipe.edits, self._vectors[k])
            sigma = 0.0
            if i >= 0:
                e = recipe.edits[i]
                sigma = e.amount / self.unit(k)
                ours += 1
                if tuple(e.layers) != self.row_layers[k]:
                    self.row_layers[k] = tuple(e.layers)
                    self._show_layers(k)
            row.value.set_silently(sigma)
        others = len(recipe.edits) - ours
        self.others.setText(f'This image also has {others} edit{"s" if others != 1 else ""} along directions not in '
                            f'this set (Reset all removes them too).')
        self.others.setVisible(others > 0)
        self.reset_all.setEnabled(bool(recipe.edits))
        self.recipeShown.emit()

    # ================================================================== the set
    def set_directions(self, dset: DirectionSet | None, source: str = '', warning: str = '') -> None:
        """Show ``dset`` (None: no set). A set without ``std`` is measured first (measureRequested);
        its sliders stay off until it comes back."""
        self.dset, self.source = dset, source
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows, self.row_layers, self._vectors = [], [], []
        self.selected = None
        if dset is not None:
            for k in range(min(len(dset), MAX_ROWS)):
                self._add_row(k)
        self._describe()
        if warning:
            self.show_message(warning, 'warn')
        elif dset is not None and len(dset) > MAX_ROWS:
            self.show_message(f'Showing the first {MAX_ROWS} of {len(dset)} directions.', 'info')
        if dset is not None and dset.std is None:
            self.show_message('Measuring the spread of w along each direction…', 'info')
            self.measureRequested.emit(dset)
        self._enable()
        self.set_recipe(self.recipe)
        if self.rows:
            self.select(0)
        else:
            self.sweep.clear('Select a direction to see it from −3σ to +3σ')
        self.setChanged.emit()

    def _add_row(self, k: int) -> None:
        dset = self.dset
        row = DirectionRow(k, dset.names[k])
        layers = tuple(dset.layers_of(k)) or tuple(range(self.info.num_ws if self.info else dset.num_ws))
        self.row_layers.append(layers)
        self._vectors.append(dset.edit_vector(k))
        row.value.valueChanged.connect(lambda v, k=k: self._amount_changed(k, v))
        row.reset.clicked.connect(lambda _=False, k=k: self.reset(k))
        row.name.editingFinished.connect(lambda k=k: self.rename(k, self.rows[k].name.text()))
        row.layers.textActivated.connect(lambda text, k=k: self.choose_layers(k, text))
        row.layers.lineEdit().editingFinished.connect(
            lambda k=k: self.choose_layers(k, self.rows[k].layers.currentText()))
        row.value.slider.sliderPressed.connect(lambda k=k: self.select(k))
        for w in (row, row.name, row.value.slider, row.value.spin, row.layers, row.layers.lineEdit(), row.reset):
            w.setProperty('direction_row', k)
            w.installEventFilter(self)
        self.rows_lay.insertWidget(self.rows_lay.count() - 1, row)
        self.rows.append(row)
        self._fill_layer_items(k)
        self._show_layers(k)
        score = '' if dset.scores is None else f'; score {float(dset.scores[k]):.3g}'
        std = '' if dset.std is None else f'; 1σ = {self.unit(k):.3g} in W'
        row.name.setToolTip(f'Direction {k}{score}{std}. Edit the name; Save set… keeps it.')

    def eventFilter(self, obj, e):
        if e.type() in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress):
            k = obj.property('direction_row')
            if k is not None and 0 <= int(k) < len(self.rows):
                self.select(int(k))
        return False

    def unit(self, k: int) -> float:
        """The slider unit of direction k: the std of w along it (1 when unknown or zero)."""
        if self.dset is None or self.dset.std is None:
            return 1.0
        s = float(self.dset.std[k])
        return s if np.isfinite(s) and s > 0 else 1.0

    def _describe(self) -> None:
        d = self.dset
        if d is None:
            self.source_label.setText('No directions yet: compute a set or load one.')
            self.source_label.setToolTip('')
            return
        method = {'sefa': 'SeFa', 'pca': 'PCA', 'labels': 'from labels', 'named': 'named'}.get(d.method, d.method)
        plural = 's' if len(d) != 1 else ''
        self.source_label.setText(f'{self.source or "computed"}: {len(d)} {method} direction{plural}')
        made = f'checkpoint sha256 {d.checkpoint_sha256[:12]}…' if d.checkpoint_sha256 else 'an unknown checkpoint'
        self.source_label.setToolTip(f'layers {format_layer_spec(d.layers, self._groups)}; made on {made}')

    def _enable(self) -> None:
        has_model = self.info is not None
        busy = self.busy
        for w in (self.method, self.compute_layers, self.count, self.compute_btn, self.load_btn, self.labels_btn):
            w.setEnabled(has_model and not busy)
        self.samples.setEnabled(has_model and not busy and self.method.currentData() == 'pca')
        self.save_btn.setEnabled(self.dset is not None and not busy)
        measured = self.dset is not None and self.dset.std is not None
        for row in self.rows:
            row.value.setEnabled(measured)

    def show_message(self, text: str, kind: str = 'info') -> None:
        self.message.setText(text)
        self.message.setStyleSheet(COLOURS[kind])
        self.message.setVisible(bool(text))

    def _method_changed(self, *_):
        self.samples.setVisible(self.method.currentData() == 'pca')
        self._enable()

    # ================================================================== rows
    def _fill_layer_items(self, k: int) -> None:
        combo = self.rows[k].layers
        with QSignalBlocker(combo):
            combo.clear()
            own = tuple(self.dset.layers_of(k))
            own_text = format_layer_spec(own, self._groups) if own else ''
            if own and own_text not in GROUP_ORDER:
                combo.addItem(SET_PREFIX + own_text)
            for name in GROUP_ORDER:
                if self._groups.get(name):
                    combo.addItem(name)

    def layers_text(self, k: int) -> str:
        layers = self.row_layers[k]
        text = format_layer_spec(layers, self._groups)
        own = tuple(self.dset.layers_of(k)) if self.dset is not None else ()
        return SET_PREFIX + text if layers == own and text not in GROUP_ORDER else text

    def _show_layers(self, k: int) -> None:
        combo = self.rows[k].layers
        with QSignalBlocker(combo), QSignalBlocker(combo.lineEdit()):
            text = self.layers_text(k)
            i = combo.findText(text)
            if i >= 0:
                combo.setCurrentIndex(i)
            combo.setEditText(text)
        combo.setToolTip(self._layer_tooltip(self.row_layers[k]))

    def _layer_tooltip(self, layers) -> str:
        labels = list(getattr(self.info, 'layer_labels', ()) or ())
        names = [f'{i} ({labels[i]})' if i < len(labels) else str(i) for i in layers]
        return 'Acts on ws ' + ', '.join(names) + '.\nChoose coarse, middle, fine, all, or type indices such as 0-3,8.'

    def edit_of(self, k: int, sigma: float | None = None) -> Edit:
        """Direction k as an edit on its row's layers at ``sigma`` (default: the slider's value)."""
        sigma = self.rows[k].value.value() if sigma is None else float(sigma)
        return Edit.make(self.dset.names[k], self.dset.vector(k), sigma * self.unit(k), self.row_layers[k])

    def _amount_changed(self, k: int, sigma: float) -> None:
        self.select(k)
        self._emit_edits(set_edit(self.recipe.edits, self.edit_of(k, sigma)))

    def _emit_edits(self, edits) -> None:
        edits = tuple(edits)
        if edits != tuple(self.recipe.edits):
            self.changed.emit({'edits': edits})

    def reset(self, k: int) -> None:
        """Direction k back to 0 (its edit leaves the recipe)."""
        self._emit_edits(set_edit(self.recipe.edits, self.edit_of(k, 0.0)))
        self.rows[k].value.set_silently(0.0)

    def reset_all_edits(self) -> None:
        """Remove every direction edit from the recipe (those of other sets too)."""
        self._emit_edits(())

    def rename(self, k: int, name: str) -> None:
        name = str(name).strip()[:200]
        if self.dset is None or not name or name == self.dset.names[k]:
            self.rows[k].name.setText(self.dset.names[k] if self.dset is not None else '')
            return
        names = list(self.dset.names)
        names[k] = name
        self.dset = self.dset.replace(names=tuple(names))
        if k == self.selected:
            self._sweep_title()
        i = find_edit(self.recipe.edits, self._vectors[k])
        if i >= 0:      # the edit in the recipe carries the name too (PNG recipes, CLI --edit messages)
            e = self.recipe.edits[i]
            self._emit_edits(set_edit(self.recipe.edits, Edit.make(name, e.array(), e.amount, e.layers)))

    def choose_layers(self, k: int, text: str) -> bool:
        """Direction k acts on ``text``: a group name, 'set: ...' (the set's own layers) or ws
        indices ('0-3,8'). A bad spec is shown and the row keeps its layers."""
        if self.info is None or self.dset is None:
            return False
        text = str(text).strip()
        try:
            if text.startswith(SET_PREFIX.strip()):
                layers = tuple(self.dset.layers_of(k))
            else:
                layers = parse_layer_spec(text, self._groups, self.info.num_ws)
        except ExplorerError as e:
            self.show_message(f'{self.dset.names[k]}: {e}', 'error')
            self._show_layers(k)
            return False
        if self.message.styleSheet() == COLOURS['error']:
            self.show_message('')
        if layers == self.row_layers[k]:
            self._show_layers(k)
            return True
        self.row_layers[k] = layers
        self._show_layers(k)
        if find_edit(self.recipe.edits, self._vectors[k]) >= 0:
            self._emit_edits(set_edit(self.recipe.edits, self.edit_of(k)))
        if k == self.selected:
            self.selectionChanged.emit()
        return True

    # ================================================================== selection and sweep
    def select(self, k: int) -> None:
        if k == self.selected or not 0 <= k < len(self.rows):
            return
        if self.selected is not None and self.selected < len(self.rows):
            self.rows[self.selected].set_selected(False)
        self.selected = k
        self.rows[k].set_selected(True)
        self._sweep_title()
        self.selectionChanged.emit()

    def _sweep_title(self) -> None:
        k = self.selected
        if k is not None and self.dset is not None:
            on = format_layer_spec(self.row_layers[k], self._groups)
            self.sweep.setTitle(f'Sweep: {self.dset.names[k]}, −3σ … +3σ on {on}')

    def sweep_edit(self) -> Edit | None:
        """The selected direction as an edit at 1 sigma on its row's layers (None: nothing to sweep)."""
        k = self.selected
        if k is None or self.dset is None or self.dset.std is None or k >= len(self.rows):
            return None
        return self.edit_of(k, 1.0)

    def _sweep_clicked(self, sigma: float) -> None:
        if self.selected is not None and self.rows[self.selected].value.isEnabled():
            self.rows[self.selected].value.setValue(sigma)

    # ================================================================== compute
    def request_compute(self) -> None:
        if self.info is None:
            return
        group = self.compute_layers.currentData() or 'all'
        layers = None if group == 'all' else tuple(self._groups[group])
        self.computeRequested.emit(self.method.currentData(), layers, self.count.value(), self.samples.value())

    def set_busy(self, text: str = '') -> None:
        """Show the computation's progress (text '': done)."""
        busy = self.busy = bool(text)
        self.progress.setVisible(busy)
        self.cancel_btn.setVisible(busy)
        self.source_label.setVisible(not busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat(text)
            self.show_message('')
        self._enable()

    def show_progress(self, done: int, total: int, text: str = '') -> None:
        if not self.busy:
            return
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.progress.setFormat(f'{text} %p%' if text else '%p%')

    def computed(self, dset, error: str) -> None:
        """The worker's answer to compute (or to measure a loaded set)."""
        measuring = self.dset is not None and self.dset.std is None
        self.set_busy('')
        if error == 'cancelled':
            self.show_message('Cancelled.' if not measuring else 'Measuring cancelled: sliders stay off.', 'info')
            return
        if error or dset is None:
            self.show_message(f'Could not compute directions: {error}', 'error')
            return
        if measuring and dset.directions.shape == self.dset.directions.shape \
                and np.array_equal(dset.directions, self.dset.directions):
            self.dset = self.dset.replace(std=dset.std)    # keep the names edited meanwhile
            self.show_message('')
            self._describe()
            self._enable()
            self.set_recipe(self.recipe)
            self.selectionChanged.emit()
            return
        self.set_directions(dset, 'computed')

    def add_direction(self, name: str, vector, std: float) -> int:
        """Append ``vector`` (a unit direction in W, e.g. fitted to labels) to the set shown as one
        more row named ``name``, acting on all layers, ``std`` its slider unit; with no set shown,
        it starts a 'labels' set of its own. The rows' layer choices are kept (as the set's
        per-direction layers). -> its row index. ExplorerError while the set is being measured or
        when its rows are full."""
        if self.info is None:
            raise ExplorerError('open a model first')
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != int(self.info.w_dim) or not np.isfinite(vec).all():
            raise ExplorerError(f'the direction has {vec.shape[0]} values; this model\'s w_dim is {self.info.w_dim}')
        name = str(name).strip()[:200] or 'labels'
        everything = tuple(range(int(self.info.num_ws)))
        d = self.dset
        if d is None:
            new = DirectionSet(directions=vec[None], layers=everything, method='labels', names=(name,),
                               num_ws=int(self.info.num_ws), checkpoint_sha256=self.info.sha256 or '',
                               std=np.array([float(std)]))
            self.set_directions(new, 'from labels')
            return 0
        if d.std is None:
            raise ExplorerError('the set shown is still being measured; fit again when its sliders are on')
        if len(d) >= MAX_ROWS:
            raise ExplorerError(f'the set shown already has {len(d)} directions (the panel shows {MAX_ROWS}); '
                                'compute or load a smaller one')
        ranges = tuple(self.row_layers) + tuple(d.layers_of(k) for k in range(len(self.rows), len(d)))
        new = d.replace(directions=np.concatenate([d.directions, vec[None]]), names=d.names + (name,),
                        method=d.method if d.method == 'labels' else 'named', scores=None,
                        std=np.concatenate([np.asarray(d.std, dtype=np.float64), [float(std)]]),
                        layer_ranges=ranges + (everything,))
        source = self.source if self.source.endswith(' + labels') else f'{self.source or "computed"} + labels'
        self.set_directions(new, source)
        k = len(new) - 1
        self.select(k)
        return k

    # ================================================================== files
    def load_set(self, path) -> bool:
        """Load a direction set; one made for another architecture is refused (message; the old
        set stays), one made on another checkpoint of the same shape is shown with a warning."""
        path = Path(path)
        try:
            dset = DirectionSet.load(path)
            warning = dset.check_compatible(self.info, self.info.sha256) if self.info is not None else ''
        except ExplorerError as e:
            self.show_message(f'Not loaded: {e}. The directions shown are unchanged.', 'error')
            return False
        self.set_directions(dset, path.name, warning)
        return True

    def save_set(self, path) -> Path:
        """Write the set with the names and layer choices shown (DESIGN.md's .npz layout)."""
        if self.dset is None:
            raise ExplorerError('no direction set to save')
        dset = self.dset
        if self.rows:
            ranges = tuple(self.row_layers) + tuple(dset.layers_of(k) for k in range(len(self.rows), len(dset)))
            dset = dset.replace(layer_ranges=ranges)
        out = dset.save(path)
        self.source = Path(out).name
        self._describe()
        return out

    def _dialog_dir(self) -> str:
        return str(Path(self.info.path).parent) if self.info is not None and self.info.path else ''

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, 'Load direction set', self._dialog_dir(),
                                              'Direction sets (*.npz);;All files (*)')
        if path:
            self.load_set(path)

    def save_dialog(self) -> None:
        if self.dset is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, 'Save direction set', self._dialog_dir(),
                                              'Direction sets (*.npz)')
        if path:
            try:
                out = self.save_set(path)
                self.show_message(f'Saved {out}', 'info')
            except (ExplorerError, OSError) as e:
                self.show_message(f'Could not save {path}: {e}', 'error')
