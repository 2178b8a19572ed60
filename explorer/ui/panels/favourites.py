"""Favourites: starred states shown as thumbnails; click one to restore it.

Thumbnails come from the exact render of the starred recipe (the pixels a PNG export
writes). ``entries``/``load_entries`` turn the list into plain JSON-able data (recipe dict
plus a base64 PNG thumbnail) so the window can keep it in its settings across sessions.
"""

from __future__ import annotations

from PyQt6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from explorer.engine.recipe import Recipe
from explorer.ui.qimage import to_pixmap

THUMB = 96


def _png_base64(pm: QPixmap) -> str:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    pm.save(buf, 'PNG')
    buf.close()
    return bytes(data.toBase64()).decode('ascii')


def _pixmap_from_base64(text: str) -> QPixmap:
    pm = QPixmap()
    pm.loadFromData(QByteArray.fromBase64(text.encode('ascii')), 'PNG')
    return pm


class FavouritesPanel(QWidget):
    restore = pyqtSignal(object)        # Recipe
    starRequested = pyqtSignal()
    listChanged = pyqtSignal()          # a favourite was added or removed (the window saves the list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recipes: list = []
        self.thumbs: list = []          # QPixmap per recipe (THUMB px)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.star_btn = QPushButton('★ Star current state')
        self.remove_btn = QPushButton('Remove selected')
        top.addWidget(self.star_btn)
        top.addWidget(self.remove_btn)
        top.addStretch(1)
        lay.addLayout(top)
        lay.addWidget(QLabel('Click a thumbnail to restore every setting that made it.'))
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSpacing(6)
        lay.addWidget(self.list, 1)
        self.star_btn.clicked.connect(self.starRequested)
        self.remove_btn.clicked.connect(self._remove)
        self.list.itemClicked.connect(lambda it: self.restore.emit(it.data(Qt.ItemDataRole.UserRole)))

    def add(self, recipe, frame) -> bool:
        """Star ``recipe`` with ``frame`` (uint8 HWC, full resolution) as its thumbnail."""
        if not self._append(recipe, to_pixmap(frame, THUMB)):
            return False
        self.listChanged.emit()
        return True

    def _append(self, recipe, thumb: QPixmap) -> bool:
        if recipe in self.recipes:
            return False
        self.recipes.append(recipe)
        self.thumbs.append(thumb)
        seeds = ','.join(str(s) for s in recipe.seeds[:2]) + ('…' if len(recipe.seeds) > 2 else '')
        item = QListWidgetItem(QIcon(thumb), f'seed {seeds}  ψ {recipe.psi:g}')
        item.setData(Qt.ItemDataRole.UserRole, recipe)
        item.setToolTip(recipe.to_json())
        self.list.addItem(item)
        return True

    def _remove(self):
        removed = False
        for it in self.list.selectedItems():
            i = self.recipes.index(it.data(Qt.ItemDataRole.UserRole))
            del self.recipes[i], self.thumbs[i]
            self.list.takeItem(self.list.row(it))
            removed = True
        if removed:
            self.listChanged.emit()

    # ------------------------------------------------------------------ persistence
    def entries(self) -> list:
        """[{'recipe': dict, 'thumb': base64 PNG}], in list order."""
        return [{'recipe': r.to_dict(), 'thumb': _png_base64(t)} for r, t in zip(self.recipes, self.thumbs)]

    def load_entries(self, entries) -> int:
        """Add saved favourites (entries() of an earlier session); skips unreadable ones."""
        n = 0
        for e in entries if isinstance(entries, list) else []:
            try:
                recipe = Recipe.from_dict(e['recipe'])
                thumb = _pixmap_from_base64(str(e.get('thumb', '')))
            except Exception:       # a damaged or newer-format entry: leave it out
                continue
            if thumb.isNull():
                thumb = QPixmap(THUMB, THUMB)
                thumb.fill(Qt.GlobalColor.darkGray)
            n += self._append(recipe, thumb)
        return n
