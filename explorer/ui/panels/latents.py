"""Stored latents known this session: imported files, kept latents, latents of opened recipes.

One row per latent: a thumbnail (its image as a base, taken from the view when it is shown
there: no extra render), its name, W or W+ and its shape. The buttons act on the selected
row: use it as the base latent, add it as a style (mix) source, add it to the Mixing grid as
a row or a column, export it, or take it off the list. Import and "Keep this latent" act on
the file system and the current recipe
(``explorer.ui.latents_controller`` does the work; this panel only lists and asks).
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.stored_latents import StoredLatent
from explorer.ui.qimage import to_pixmap

THUMB = 64


def describe(lat: StoredLatent) -> str:
    """'W+ [18 x 512]' or 'W [512]'."""
    return f'{lat.space.upper()} [{" × ".join(str(s) for s in lat.shape)}]'


def _blank() -> QPixmap:
    pm = QPixmap(THUMB, THUMB)
    pm.fill(Qt.GlobalColor.darkGray)
    return pm


class LatentsPanel(QWidget):
    importRequested = pyqtSignal()
    keepRequested = pyqtSignal()
    useAsBase = pyqtSignal(object)          # StoredLatent
    addAsMix = pyqtSignal(object)           # StoredLatent
    addToGrid = pyqtSignal(object, str)     # StoredLatent, 'row' | 'col'
    exportRequested = pyqtSignal(object)    # StoredLatent
    removed = pyqtSignal(str)               # key of a latent taken off the list

    def __init__(self, parent=None):
        super().__init__(parent)
        self.latents: list[StoredLatent] = []
        self.thumbed: set = set()           # keys that have a real thumbnail
        self.in_use: set = set()            # keys the current recipe uses (not removable)
        lay = QVBoxLayout(self)
        top = QGridLayout()
        self.import_btn = QPushButton('Import latent…')
        self.import_btn.setToolTip('Read a W or W+ latent: .npz (NVIDIA projected_w, key "w"), .npy, .pt/.pth. '
                                   'Dropping such a file on the window does the same.')
        self.keep_btn = QPushButton('Keep this latent (Ctrl+K)')
        self.keep_btn.setToolTip('Turn the current blend, mixing and edits into one stored W+ latent '
                                 'and make it the base (same image)')
        top.addWidget(self.import_btn, 0, 0)
        top.addWidget(self.keep_btn, 0, 1)
        lay.addLayout(top)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.ListMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        lay.addWidget(self.list, 1)
        self.empty_label = QLabel('No stored latents yet: import one, keep the current one, or open a '
                                  'PNG that uses one.')
        self.empty_label.setWordWrap(True)
        lay.addWidget(self.empty_label)
        btns = QGridLayout()
        self.base_btn = QPushButton('Use as base')
        self.mix_btn = QPushButton('Add as mix source')
        self.export_btn = QPushButton('Export…')
        self.remove_btn = QPushButton('Remove from list')
        self.grid_row_btn = QPushButton('Add to grid as row')
        self.grid_col_btn = QPushButton('Add to grid as column')
        self.grid_row_btn.setToolTip('A destination face of the Mixing grid (its styles are replaced per column)')
        self.grid_col_btn.setToolTip('A source face of the Mixing grid (its styles go into every row)')
        self.base_btn.setToolTip('Make the selected latent the base latent (double-click does the same)')
        self.mix_btn.setToolTip('Add it as a style source; choose its layers in Per-layer styles')
        self.export_btn.setToolTip('Write it as .npz in NVIDIA\'s projected_w layout')
        for i, b in enumerate((self.base_btn, self.mix_btn, self.grid_row_btn, self.grid_col_btn,
                               self.export_btn, self.remove_btn)):
            btns.addWidget(b, i // 2, i % 2)
        lay.addLayout(btns)
        self.import_btn.clicked.connect(self.importRequested)
        self.keep_btn.clicked.connect(self.keepRequested)
        self.base_btn.clicked.connect(lambda: self._emit_selected(self.useAsBase))
        self.mix_btn.clicked.connect(lambda: self._emit_selected(self.addAsMix))
        self.export_btn.clicked.connect(lambda: self._emit_selected(self.exportRequested))
        self.grid_row_btn.clicked.connect(lambda: self._emit_to_grid('row'))
        self.grid_col_btn.clicked.connect(lambda: self._emit_to_grid('col'))
        self.remove_btn.clicked.connect(self.remove_selected)
        self.list.itemDoubleClicked.connect(lambda _: self._emit_selected(self.useAsBase))
        self.list.currentRowChanged.connect(lambda _: self._update_buttons())
        self._update_buttons()

    # ------------------------------------------------------------------ list
    def add(self, lat: StoredLatent, select: bool = False) -> bool:
        """List ``lat`` (False when it is listed already: same key)."""
        row = self.row_of(lat.key)
        new = row < 0
        if new:
            self.latents.append(lat)
            item = QListWidgetItem(QIcon(_blank()), f'{lat.name or "latent " + lat.key[:8]}\n{describe(lat)}')
            item.setToolTip(f'{lat.name}\n{describe(lat)}\nkey {lat.key}')
            item.setData(Qt.ItemDataRole.UserRole, lat.key)
            self.list.addItem(item)
            row = self.list.count() - 1
        if select:
            self.list.setCurrentRow(row)
        self._update_buttons()
        return new

    def row_of(self, key: str) -> int:
        return next((i for i, x in enumerate(self.latents) if x.key == key), -1)

    def get(self, key: str) -> StoredLatent | None:
        i = self.row_of(key)
        return self.latents[i] if i >= 0 else None

    def set_thumbnail(self, key: str, frame) -> None:
        """``frame``: uint8 HWC, the latent's image as a base."""
        i = self.row_of(key)
        if i >= 0:
            self.list.item(i).setIcon(QIcon(to_pixmap(frame, THUMB)))
            self.thumbed.add(key)

    def selected(self) -> StoredLatent | None:
        i = self.list.currentRow()
        return self.latents[i] if 0 <= i < len(self.latents) else None

    def remove_selected(self) -> None:
        lat = self.selected()
        if lat is None or lat.key in self.in_use:
            return
        i = self.row_of(lat.key)
        del self.latents[i]
        self.list.takeItem(i)
        self.thumbed.discard(lat.key)
        self._update_buttons()
        self.removed.emit(lat.key)

    def set_in_use(self, keys) -> None:
        self.in_use = set(keys)
        self._update_buttons()

    def _emit_selected(self, signal) -> None:
        lat = self.selected()
        if lat is not None:
            signal.emit(lat)

    def _emit_to_grid(self, which: str) -> None:
        lat = self.selected()
        if lat is not None:
            self.addToGrid.emit(lat, which)

    def _update_buttons(self) -> None:
        lat = self.selected()
        for b in (self.base_btn, self.mix_btn, self.grid_row_btn, self.grid_col_btn, self.export_btn):
            b.setEnabled(lat is not None)
        self.remove_btn.setEnabled(lat is not None and lat.key not in self.in_use)
        self.remove_btn.setToolTip('The current image uses this latent' if lat is not None and lat.key in self.in_use
                                   else 'Take the selected latent off this list')
        self.empty_label.setVisible(not self.latents)
