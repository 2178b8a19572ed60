"""The Figure-3 mixing grid tab: rows = destination seeds, columns = source seeds.

Cell (r, c) is row face r with the chosen layer group's styles taken from column
face c. Seeds are edited inline in the headers; tiles arrive one by one from the
render worker; clicking a cell opens that mix in the main view.
"""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                             QScrollArea, QVBoxLayout, QWidget)

from explorer.engine.latents import parse_int_list
from explorer.engine.mixing import GridSpec
from explorer.errors import UserError
from explorer.ui.qimage import to_pixmap
from explorer.ui.widgets import SeedBox

GROUPS = ('coarse', 'middle', 'fine', 'all', 'custom')


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


class GridPanel(QWidget):
    specChanged = pyqtSignal()
    cellClicked = pyqtSignal(int, int)      # row index, column index
    savePressed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = [1, 2, 3]
        self.cols = [4, 5, 6, 7]
        self.tile_size = 120
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
        self.save_btn = QPushButton('Save grid PNG…')
        bar.addWidget(self.save_btn)
        lay.addLayout(bar)
        self.status = QLabel('Rows are destination faces, columns are source faces (StyleGAN paper, Figure 3).')
        lay.addWidget(self.status)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.canvas = QWidget()
        self.grid = QGridLayout(self.canvas)
        self.grid.setSpacing(4)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.scroll.setWidget(self.canvas)
        lay.addWidget(self.scroll, 1)

        self.add_row.clicked.connect(lambda: self._edit(rows=self.rows + [max(self.rows + self.cols + [0]) + 1]))
        self.del_row.clicked.connect(lambda: self._edit(rows=self.rows[:-1]) if len(self.rows) > 1 else None)
        self.add_col.clicked.connect(lambda: self._edit(cols=self.cols + [max(self.rows + self.cols + [0]) + 1]))
        self.del_col.clicked.connect(lambda: self._edit(cols=self.cols[:-1]) if len(self.cols) > 1 else None)
        self.group.currentIndexChanged.connect(self._group_changed)
        self.custom.editingFinished.connect(lambda: (self._update_layers_label(), self.specChanged.emit()))
        self.save_btn.clicked.connect(self.savePressed)
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
        """The GridSpec for the current rows, columns and layers with the recipe's settings."""
        return GridSpec(rows=tuple(self.rows), cols=tuple(self.cols), layers=self.layers(), psi=recipe.psi,
                        cutoff=recipe.cutoff, class_idx=recipe.class_idx, noise_mode=recipe.noise_mode,
                        noise_strength=recipe.noise_strength)

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
        total = len(self.rows) + len(self.cols) + len(self.rows) * len(self.cols)
        self.show_status(f'Rendering… {len(self.tiles)}/{total} tiles' if len(self.tiles) < total
                         else f'{len(self.rows)} × {len(self.cols)} grid done. Click a cell to open that mix.')

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
            self.rows = [int(s) for s in rows]
        if cols is not None:
            self.cols = [int(s) for s in cols]
        self.tiles.clear()
        self._rebuild()
        self.specChanged.emit()

    def _seed_spin(self, value, on_change):
        s = SeedBox(int(value))         # 0..2^32-1 (a QSpinBox stops at 2^31-1)
        s.setFixedWidth(self.tile_size)
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
            spin = self._seed_spin(seed, lambda v, c=c: self._set_seed('col', c, v))
            self.col_spins.append(spin)
            self.grid.addWidget(spin, 0, c + 2)
            t = Tile(self.tile_size)
            self.tile_widgets[('col', -1, c)] = t
            self.grid.addWidget(t, 1, c + 2)
        for r, seed in enumerate(self.rows):
            spin = self._seed_spin(seed, lambda v, r=r: self._set_seed('row', r, v))
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
