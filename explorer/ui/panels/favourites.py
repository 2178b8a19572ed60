"""Favourites: starred states shown as thumbnails; click one to restore it.

Thumbnails come from the exact render of the starred recipe (the pixels a PNG export
writes). A favourite knows its checkpoint: the recipe carries the file's name and SHA-256 and
the entry its path, so the window can reopen that checkpoint before restoring it.
``entries``/``load_entries`` turn the list into plain JSON-able data (recipe dict plus a base64
PNG thumbnail) so the window can keep it in its settings across sessions.
"""

from __future__ import annotations

from PyQt6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import is_ref, source_label
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
    restore = pyqtSignal(object, str)   # Recipe (with checkpoint name and SHA-256), checkpoint path ('' = unknown)
    starRequested = pyqtSignal()
    listChanged = pyqtSignal()          # a favourite was added or removed (the window saves the list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recipes: list = []
        self.thumbs: list = []          # QPixmap per recipe (THUMB px)
        self.paths: list = []           # checkpoint path per recipe ('' = not recorded)
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
        self.list.itemClicked.connect(self._clicked)

    def _clicked(self, item):
        recipe = item.data(Qt.ItemDataRole.UserRole)
        self.restore.emit(recipe, self.paths[self.recipes.index(recipe)])

    def add(self, recipe, frame, checkpoint_path: str = '') -> bool:
        """Star ``recipe`` (its ``checkpoint``/``checkpoint_sha256`` filled in) made with the
        checkpoint at ``checkpoint_path``, with ``frame`` (uint8 HWC, full resolution) as its thumbnail."""
        if not self._append(recipe, to_pixmap(frame, THUMB), checkpoint_path):
            return False
        self.listChanged.emit()
        return True

    def _append(self, recipe, thumb: QPixmap, checkpoint_path: str = '') -> bool:
        if recipe in self.recipes:
            return False
        self.recipes.append(recipe)
        self.thumbs.append(thumb)
        self.paths.append(str(checkpoint_path or ''))
        if any(is_ref(s) for s in recipe.seeds):       # a stored latent as (part of) the base
            title = source_label(recipe.seeds[0], recipe.latents) + ('…' if len(recipe.seeds) > 1 else '')
        else:
            seeds = ','.join(str(s) for s in recipe.seeds[:2]) + ('…' if len(recipe.seeds) > 2 else '')
            title = f'seed {seeds}'
        item = QListWidgetItem(QIcon(thumb), f'{title}  ψ {recipe.psi:g}')
        item.setData(Qt.ItemDataRole.UserRole, recipe)
        where = checkpoint_path or recipe.checkpoint or 'checkpoint not recorded: restores onto the open model'
        item.setToolTip(f'{where}\n{recipe.to_json()}')
        self.list.addItem(item)
        return True

    def _remove(self):
        removed = False
        for it in self.list.selectedItems():
            i = self.recipes.index(it.data(Qt.ItemDataRole.UserRole))
            del self.recipes[i], self.thumbs[i], self.paths[i]
            self.list.takeItem(self.list.row(it))
            removed = True
        if removed:
            self.listChanged.emit()

    # ------------------------------------------------------------------ persistence
    def entries(self) -> list:
        """[{'recipe': dict, 'thumb': base64 PNG, 'checkpoint_path': str}], in list order."""
        return [{'recipe': r.to_dict(), 'thumb': _png_base64(t), 'checkpoint_path': p}
                for r, t, p in zip(self.recipes, self.thumbs, self.paths)]

    def load_entries(self, entries) -> int:
        """Add saved favourites (entries() of an earlier session); skips unreadable ones."""
        n = 0
        for e in entries if isinstance(entries, list) else []:
            try:
                recipe = Recipe.from_dict(e['recipe'])
                thumb = _pixmap_from_base64(str(e.get('thumb', '')))
                path = str(e.get('checkpoint_path') or '')
            except Exception:       # a damaged or newer-format entry: leave it out
                continue
            if thumb.isNull():
                thumb = QPixmap(THUMB, THUMB)
                thumb.fill(Qt.GlobalColor.darkGray)
            n += self._append(recipe, thumb, path)
        return n
