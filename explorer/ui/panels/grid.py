"""The Figure-3 mixing grid tab: rows = destination seeds, columns = source seeds.

Cell (r, c) is row face r with the chosen layer group's styles taken from column
face c. Seeds are edited inline in the headers; a row or column may be a stored latent
(Latents list: "Add to grid as row/column"), shown by its name with a remove button; tiles arrive one by one from the
render worker ("tile k/N", Cancel stops the grid between tiles); clicking a cell opens
that mix in the main view.

Tiles are square and sized to fit the whole grid in the tab (``fit_tile``), times the
zoom (slider, or Ctrl+wheel over the grid; Fit resets it). The grid has its own psi: it
follows Explore's until edited here ("= Explore" follows again); the noise settings come
from Explore and are shown beside it.
"""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.grid_spec import GridSpec
from explorer.engine.seeds import parse_int_list
from explorer.engine.stored_latents import StoredLatent, is_ref, ref_key, source_label
from explorer.errors import UserError
from explorer.ui.qimage import to_pixmap
from explorer.ui.widgets import SeedBox

GROUPS = ('coarse', 'middle', 'fine', 'all', 'custom')
MIN_TILE, MAX_TILE = 40, 2048   # tile side in pixels, whatever the window and zoom
ROW_SPIN_W = 100                # the row seed boxes' column
MIN_COL_SPIN_W = 84             # a column seed box is as wide as its tile, at least this
ZOOM_MIN, ZOOM_MAX = 25, 400    # percent of the fitted size
ZOOM_STEP = 1.25                # one Ctrl+wheel notch


class Tile(QLabel):
    clicked = pyqtSignal()

    def __init__(self, size, clickable=False):
        super().__init__()
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QFrame.Shape.Box)
        self.setStyleSheet('background:#2b2d30; color:#888;')
        self.setText('…')
        if clickable:
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            self.setToolTip('Open this mix in the main view')
        self._clickable = clickable

    def mousePressEvent(self, e):
        if self._clickable and e.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


class LatentHeader(QFrame):
    """A row or column that is a stored latent: its name, and a button that takes it out."""
    removePressed = pyqtSignal()

    def __init__(self, lat: StoredLatent):
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.setSpacing(2)
        self.name = QLabel(source_label(lat.ref, (lat,)))
        self.name.setToolTip(f'Stored latent {lat.name}\n{lat.space.upper()}, key {lat.key}')
        self.name.setMinimumWidth(20)
        lay.addWidget(self.name, 1)
        self.remove = QPushButton('×')
        self.remove.setFixedWidth(24)
        self.remove.setToolTip('Take this latent out of the grid')
        lay.addWidget(self.remove)
        self.remove.clicked.connect(self.removePressed)


class GridScroll(QScrollArea):
    """The grid's scroll area: says when it is resized, and turns Ctrl+wheel into zoom steps."""
    resized = pyqtSignal()
    zoomStep = pyqtSignal(int)      # +1 in, -1 out

    def resizeEvent(self, e):
        super().resizeEvent(e)
        self.resized.emit()

    def wheelEvent(self, e):
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            dy = e.angleDelta().y()
            if dy:
                self.zoomStep.emit(1 if dy > 0 else -1)
            e.accept()
            return
        super().wheelEvent(e)


class GridPanel(QWidget):
    specChanged = pyqtSignal()
    cellClicked = pyqtSignal(int, int)      # row index, column index
    savePressed = pyqtSignal()
    cancelPressed = pyqtSignal()            # stop the grid being rendered
    renderPressed = pyqtSignal()            # render a cancelled grid after all

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = [1, 2, 3]               # seeds, or stored-latent refs ('latent:<key>')
        self.cols = [4, 5, 6, 7]
        self.latents: dict = {}             # key -> StoredLatent of the refs in rows/cols
        self.tile_size = 120                # the side of every tile now (fit x zoom)
        self.psi_own = False                # psi set here (else it follows Explore's)
        self._explore_psi = 1.0
        self.tiles: dict = {}           # (kind, r, c) -> native uint8 image
        self.tile_widgets: dict = {}    # (kind, r, c) -> Tile
        self.num_ws = 0
        self._groups = {}
        lay = QVBoxLayout(self)

        bar = QHBoxLayout()
        self.add_row = QPushButton('+ Row')
        self.del_row = QPushButton('− Row')
        self.add_col = QPushButton('+ Column')
        self.del_col = QPushButton('− Column')
        for b in (self.add_row, self.del_row, self.add_col, self.del_col):
            bar.addWidget(b)
        bar.addSpacing(16)
        bar.addWidget(QLabel('Styles from the column face:'))
        self.group = QComboBox()
        for g in GROUPS:
            self.group.addItem(g.capitalize(), g)
        bar.addWidget(self.group)
        self.custom = QLineEdit()
        self.custom.setPlaceholderText('layers, e.g. 0-3,8')
        self.custom.setMaximumWidth(140)
        self.custom.setEnabled(False)
        bar.addWidget(self.custom)
        self.layers_label = QLabel()
        bar.addWidget(self.layers_label)
        bar.addStretch(1)
        lay.addLayout(bar)

        bar2 = QHBoxLayout()
        bar2.addWidget(QLabel('ψ'))
        self.psi = QDoubleSpinBox()
        self.psi.setRange(-1.0, 2.0)
        self.psi.setSingleStep(0.05)
        self.psi.setDecimals(2)
        self.psi.setValue(1.0)
        self.psi.setKeyboardTracking(False)
        self.psi.setToolTip("The grid's truncation psi (starts at Explore's; recorded in the saved grid)")
        bar2.addWidget(self.psi)
        self.psi_follow = QPushButton('= Explore')
        self.psi_follow.setToolTip("Use Explore's psi again (and follow it)")
        self.psi_follow.setEnabled(False)
        bar2.addWidget(self.psi_follow)
        self.noise_label = QLabel()
        self.noise_label.setToolTip('Noise settings come from the Explore tab')
        bar2.addWidget(self.noise_label)
        bar2.addSpacing(12)
        bar2.addWidget(QLabel('Zoom'))
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setRange(ZOOM_MIN, ZOOM_MAX)
        self.zoom.setValue(100)
        self.zoom.setMaximumWidth(140)
        self.zoom.setToolTip('Tile size (100% = the grid fits the tab); Ctrl+wheel over the grid zooms too')
        bar2.addWidget(self.zoom)
        self.fit_btn = QPushButton('Fit')
        self.fit_btn.setToolTip('Fit the whole grid in the tab')
        bar2.addWidget(self.fit_btn)
        bar2.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(120)
        self.progress.setFormat('%v/%m tiles')
        self.progress.setVisible(False)
        bar2.addWidget(self.progress)
        self.cancel_btn = QPushButton('Cancel')
        self.cancel_btn.setToolTip('Stop rendering this grid')
        self.cancel_btn.setVisible(False)
        bar2.addWidget(self.cancel_btn)
        self.render_btn = QPushButton('Render grid')
        self.render_btn.setVisible(False)
        bar2.addWidget(self.render_btn)
        self.labels = QCheckBox('Labels')
        self.labels.setToolTip('Save with the seed numbers (stored latents: their names) above the columns '
                               'and left of the rows')
        bar2.addWidget(self.labels)
        self.save_btn = QPushButton('Save grid PNG…')
        bar2.addWidget(self.save_btn)
        lay.addLayout(bar2)
        self.status = QLabel('Rows are destination faces, columns are source faces (StyleGAN paper, Figure 3).')
        lay.addWidget(self.status)

        self.scroll = GridScroll()
        self.scroll.setWidgetResizable(True)
        self.canvas = QWidget()
        self.grid = QGridLayout(self.canvas)
        self.grid.setSpacing(4)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.scroll.setWidget(self.canvas)
        lay.addWidget(self.scroll, 1)

        self.add_row.clicked.connect(lambda: self._edit(rows=self.rows + [self._next_seed()]))
        self.del_row.clicked.connect(lambda: self._edit(rows=self.rows[:-1]) if len(self.rows) > 1 else None)
        self.add_col.clicked.connect(lambda: self._edit(cols=self.cols + [self._next_seed()]))
        self.del_col.clicked.connect(lambda: self._edit(cols=self.cols[:-1]) if len(self.cols) > 1 else None)
        self.group.currentIndexChanged.connect(self._group_changed)
        self.custom.editingFinished.connect(lambda: (self._update_layers_label(), self.specChanged.emit()))
        self.save_btn.clicked.connect(self.savePressed)
        self.cancel_btn.clicked.connect(self.cancelPressed)
        self.render_btn.clicked.connect(self.renderPressed)
        self.psi.valueChanged.connect(self._psi_edited)
        self.psi_follow.clicked.connect(self.follow_explore_psi)
        self.zoom.valueChanged.connect(lambda _: self.update_tile_size())
        self.fit_btn.clicked.connect(lambda: self.zoom.setValue(100))
        self.scroll.resized.connect(self.update_tile_size)
        self.scroll.zoomStep.connect(self.zoom_step)
        self._rebuild()

    # ------------------------------------------------------------------ model
    def set_model(self, info):
        self.num_ws = info.num_ws
        self._groups = dict(info.groups)
        self.tiles.clear()
        self._rebuild()

    def layers(self) -> tuple:
        g = self.group.currentData()
        if g == 'custom':
            idx = parse_int_list(self.custom.text(), 'layers')
            bad = [i for i in idx if i >= self.num_ws]
            if bad:
                raise UserError(f'layer {bad[0]} out of range 0..{self.num_ws - 1}')
            return tuple(sorted(set(idx)))
        return tuple(self._groups.get(g, ()))

    def spec(self, recipe) -> GridSpec:
        """The GridSpec for the current rows, columns and layers: the grid's psi (Explore's
        unless set here) and the recipe's other settings (shown beside the psi box; its synthesis
        path too, e.g. 'ref' for a recipe from an older file)."""
        self._explore_psi = float(recipe.psi)
        if not self.psi_own:
            with QSignalBlocker(self.psi):
                self.psi.setValue(recipe.psi)
        psi = float(self.psi.value()) if self.psi_own else float(recipe.psi)
        self.noise_label.setText(f'noise {recipe.noise_mode}, strength {recipe.noise_strength:.2f} (Explore)')
        used = {ref_key(s) for s in self.rows + self.cols if is_ref(s)}
        latents = tuple(sorted((lat for k, lat in self.latents.items() if k in used), key=lambda x: x.key))
        return GridSpec(rows=tuple(self.rows), cols=tuple(self.cols), layers=self.layers(), psi=psi,
                        cutoff=recipe.cutoff, class_idx=recipe.class_idx, noise_mode=recipe.noise_mode,
                        noise_strength=recipe.noise_strength, edits=tuple(recipe.edits), latents=latents,
                        synthesis=recipe.synthesis)

    def add_latent(self, lat: StoredLatent, which: str = 'row') -> None:
        """Add ``lat`` as the last row (``which`` 'row') or column ('col'); a latent already there
        is not added twice. Emits specChanged."""
        self.latents[lat.key] = lat
        lst = self.rows if which == 'row' else self.cols
        if lat.ref in lst:
            return
        self._edit(**{'rows' if which == 'row' else 'cols': lst + [lat.ref]})

    def remove_entry(self, which: str, i: int) -> None:
        """Take row/column ``i`` out; the last one left becomes a seed instead."""
        lst = list(self.rows if which == 'row' else self.cols)
        if len(lst) > 1:
            del lst[i]
        else:
            lst[i] = self._next_seed()
        self._edit(**{'rows' if which == 'row' else 'cols': lst})

    def styles_text(self) -> str:
        """How the layers are chosen, as ``main.py mix --styles`` takes it ('coarse', '0-3,8')."""
        g = self.group.currentData()
        return self.custom.text().strip() if g == 'custom' else g

    def set_spec(self, spec: GridSpec, styles: str = '') -> None:
        """Show a saved grid: its rows, columns, layers (the named group when ``styles`` or the
        layers match one, else custom) and its own psi. Emits specChanged once."""
        groups = {g: tuple(idx) for g, idx in self._groups.items()}
        layers = tuple(spec.layers)
        name = styles if styles in groups and groups[styles] == layers else \
            next((g for g in GROUPS[:-1] if groups.get(g) == layers), 'custom')
        with QSignalBlocker(self.group), QSignalBlocker(self.custom), QSignalBlocker(self.psi):
            self.group.setCurrentIndex(GROUPS.index(name))
            self.custom.setEnabled(name == 'custom')
            self.custom.setText(','.join(map(str, layers)) if name == 'custom' else '')
            self.psi.setValue(spec.psi)
        self.psi_own = True
        self.psi_follow.setEnabled(True)
        self.latents.update({lat.key: lat for lat in spec.latents})
        self.rows, self.cols = [_entry(s) for s in spec.rows], [_entry(s) for s in spec.cols]
        self.tiles.clear()
        self._rebuild()
        self.specChanged.emit()

    def follow_explore_psi(self):
        self.psi_own = False
        self.psi_follow.setEnabled(False)
        with QSignalBlocker(self.psi):
            self.psi.setValue(self._explore_psi)
        self.specChanged.emit()

    def _psi_edited(self, _):
        self.psi_own = True
        self.psi_follow.setEnabled(True)
        self.specChanged.emit()

    # ------------------------------------------------------------------ size and zoom
    def fit_tile(self) -> int:
        """The tile side that shows the whole grid (seed boxes included) in the scroll area."""
        vp = self.scroll.maximumViewportSize()      # without scroll bars
        m = self.grid.contentsMargins()
        gap = self.grid.spacing()
        nr, nc = len(self.rows), len(self.cols)
        spin_h = self.col_spins[0].sizeHint().height() if self.col_spins else 24
        w = (vp.width() - m.left() - m.right() - ROW_SPIN_W - gap * (nc + 2)) // (nc + 1)
        h = (vp.height() - m.top() - m.bottom() - spin_h - gap * (nr + 2)) // (nr + 1)
        return max(MIN_TILE, min(w, h))

    def zoom_step(self, steps: int):
        z = self.zoom.value() * (ZOOM_STEP ** steps)
        self.zoom.setValue(int(round(min(max(z, ZOOM_MIN), ZOOM_MAX))))

    def update_tile_size(self):
        """Size the tiles for the scroll area and the zoom (after a resize, a zoom, a rebuild)."""
        size = int(min(max(self.fit_tile() * self.zoom.value() / 100.0, MIN_TILE), MAX_TILE))
        if size == self.tile_size and all(t.width() == size for t in self.tile_widgets.values()):
            return
        self.tile_size = size
        for t in self.tile_widgets.values():
            t.setFixedSize(size, size)
        for s in self.col_spins:
            s.setFixedWidth(max(size, MIN_COL_SPIN_W))
        for key, img in self.tiles.items():
            if key in self.tile_widgets:
                self.tile_widgets[key].setPixmap(to_pixmap(img, size - 4))

    # ------------------------------------------------------------------ progress
    def total_tiles(self) -> int:
        return len(self.rows) + len(self.cols) + len(self.rows) * len(self.cols)

    def start_rendering(self):
        """A grid was submitted: progress and Cancel show until its last tile."""
        total = self.total_tiles()
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.render_btn.setVisible(False)
        self.show_status(f'Rendering tile 1/{total}…')

    def show_cancelled(self):
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)
        self.render_btn.setVisible(True)
        self.show_status(f'Cancelled after {len(self.tiles)}/{self.total_tiles()} tiles. '
                         f'Press Render grid (or change a setting) to render it.')

    def _stop_progress(self):
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)

    def set_rows_cols(self, rows, cols):
        self._edit(rows=list(rows), cols=list(cols))

    def set_group(self, name, custom_text=''):
        with QSignalBlocker(self.custom):
            self.custom.setText(custom_text)
        self.group.setCurrentIndex(GROUPS.index(name))

    # ------------------------------------------------------------------ tiles
    def clear_tiles(self, placeholder='…'):
        """Forget every tile; the boxes show ``placeholder`` ('…' = rendering, '' = no grid)."""
        self.tiles.clear()
        for t in self.tile_widgets.values():
            t.clear()
            t.setText(placeholder)

    def show_error(self, text):
        """An invalid grid spec: the error in red, and no tiles left over from the last grid."""
        self._stop_progress()
        self.render_btn.setVisible(False)
        self.clear_tiles('')
        self.status.setStyleSheet('color: #d33;')
        self.status.setText(text)

    def show_status(self, text):
        self.status.setStyleSheet('')
        self.status.setText(text)

    def set_tile(self, kind, r, c, img):
        self.tiles[(kind, r, c)] = img
        w = self.tile_widgets.get((kind, r, c))
        if w is not None:
            w.setPixmap(to_pixmap(img, self.tile_size - 4))
        total = self.total_tiles()
        done = len(self.tiles)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if done < total:
            self.show_status(f'Rendering tile {done + 1}/{total}…')
        else:
            self._stop_progress()
            self.show_status(f'{len(self.rows)} × {len(self.cols)} grid done. Click a cell to open that mix.')

    # ------------------------------------------------------------------ internals
    def _group_changed(self, _):
        self.custom.setEnabled(self.group.currentData() == 'custom')
        self._update_layers_label()
        self.specChanged.emit()

    def _update_layers_label(self):
        try:
            idx = self.layers() if self.num_ws else ()
            self.layers_label.setText(f'(layers {", ".join(map(str, idx))})' if idx else '')
        except UserError:
            self.layers_label.setText('')

    def _edit(self, rows=None, cols=None):
        if rows is not None:
            self.rows = [_entry(s) for s in rows]
        if cols is not None:
            self.cols = [_entry(s) for s in cols]
        self.tiles.clear()
        self._rebuild()
        self.specChanged.emit()

    def _next_seed(self) -> int:
        return max([s for s in self.rows + self.cols if not is_ref(s)] + [0]) + 1

    def _header(self, which, i, value):
        """The seed box of row/column ``i``, or the name of its stored latent."""
        if is_ref(value) and ref_key(value) in self.latents:
            h = LatentHeader(self.latents[ref_key(value)])
            h.setFixedWidth(max(self.tile_size, MIN_COL_SPIN_W))
            h.removePressed.connect(lambda: self.remove_entry(which, i))
            return h
        return self._seed_spin(0 if is_ref(value) else value, lambda v: self._set_seed(which, i, v))

    def _seed_spin(self, value, on_change):
        s = SeedBox(int(value))         # 0..2^32-1 (a QSpinBox stops at 2^31-1)
        s.setFixedWidth(max(self.tile_size, MIN_COL_SPIN_W))
        s.valueChanged.connect(on_change)
        return s

    def _rebuild(self):
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().hide()        # gone now, not only once the deferred delete runs
                item.widget().deleteLater()
        self.tile_widgets = {}
        self.row_spins, self.col_spins = [], []
        corner = QLabel('dest ↓  /  source →')
        corner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid.addWidget(corner, 0, 0)
        for c, seed in enumerate(self.cols):
            spin = self._header('col', c, seed)
            self.col_spins.append(spin)
            self.grid.addWidget(spin, 0, c + 2)
            t = Tile(self.tile_size)
            self.tile_widgets[('col', -1, c)] = t
            self.grid.addWidget(t, 1, c + 2)
        for r, seed in enumerate(self.rows):
            spin = self._header('row', r, seed)
            spin.setFixedWidth(ROW_SPIN_W)
            self.row_spins.append(spin)
            self.grid.addWidget(spin, r + 2, 0)
            t = Tile(self.tile_size)
            self.tile_widgets[('row', r, -1)] = t
            self.grid.addWidget(t, r + 2, 1)
            for c in range(len(self.cols)):
                cell = Tile(self.tile_size, clickable=True)
                cell.clicked.connect(lambda r=r, c=c: self.cellClicked.emit(r, c))
                self.tile_widgets[('cell', r, c)] = cell
                self.grid.addWidget(cell, r + 2, c + 2)
        for key, img in self.tiles.items():
            if key in self.tile_widgets:
                self.tile_widgets[key].setPixmap(to_pixmap(img, self.tile_size - 4))
        self._update_layers_label()
        self.update_tile_size()

    def _set_seed(self, which, i, v):
        if which == 'row':
            rows = list(self.rows)
            rows[i] = int(v)
            self.rows = rows
        else:
            cols = list(self.cols)
            cols[i] = int(v)
            self.cols = cols
        self.tiles.clear()
        for t in self.tile_widgets.values():
            t.clear()
            t.setText('…')
        self.specChanged.emit()


def _entry(s):
    """A row or column as the panel keeps it: a seed (int) or a stored-latent ref (str)."""
    return str(s) if is_ref(s) else int(s)
