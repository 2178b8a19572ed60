"""Favourites: starred states shown as thumbnails; click one to restore it."""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from explorer.ui.qimage import to_pixmap

THUMB = 96


class FavouritesPanel(QWidget):
    restore = pyqtSignal(object)        # Recipe
    starRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recipes: list = []
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

    def add(self, recipe, frame):
        if recipe in self.recipes:
            return
        self.recipes.append(recipe)
        seeds = ','.join(str(s) for s in recipe.seeds[:2]) + ('…' if len(recipe.seeds) > 2 else '')
        item = QListWidgetItem(QIcon(to_pixmap(frame, THUMB)), f'seed {seeds}  ψ {recipe.psi:g}')
        item.setData(Qt.ItemDataRole.UserRole, recipe)
        item.setToolTip(recipe.to_json())
        self.list.addItem(item)

    def _remove(self):
        for it in self.list.selectedItems():
            self.recipes.remove(it.data(Qt.ItemDataRole.UserRole))
            self.list.takeItem(self.list.row(it))
