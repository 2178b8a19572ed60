"""Directions from your own labels (issue 16; InterFaceGAN, Shen et al., CVPR 2020).

A gallery of generated faces of the loaded model (seeds from a start seed, at the psi of the
image when the gallery started), rendered in the render worker one page at a time (``label_job
('gallery')``: the seeds, their w and thumbnails). A click on a face cycles its label:
unlabelled -> + (green border) -> − (red border) -> unlabelled. "More faces" adds a page.

Fit (at least ``MIN_PER_SIDE`` faces on each side) runs in the worker (``label_job('fit')``: a
linear SVM's normal on the labelled w, with the directions ticked under "Hold fixed" projected
out, so an edit along it leaves them unchanged; then the std of w along it) and adds the
direction to the Directions panel's set under the typed name, where it is a slider like the
others. Errors show as a line in the dialog.

Plain Qt and numpy: the torch work happens in the worker.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import ExplorerError
from explorer.ui.qimage import to_pixmap

PAGE = 48               # faces per page
COLUMNS = 8
THUMB = 80              # px shown per face
MIN_PER_SIDE = 2        # Fit needs at least this many + and this many − faces
BORDERS = {0: 'border: 3px solid transparent;', 1: 'border: 3px solid #2a2;', -1: 'border: 3px solid #d33;'}
NEXT = {0: 1, 1: -1, -1: 0}


class Face(QLabel):
    """One face of the gallery; a left click cycles its label."""

    clicked = pyqtSignal()

    def __init__(self, seed: int, image: np.ndarray, parent=None):
        super().__init__(parent)
        self.seed = int(seed)
        self.image = image
        self.label = 0
        self.setFixedSize(THUMB + 6, THUMB + 6)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setPixmap(to_pixmap(image, THUMB))
        self.show_label()

    def show_label(self) -> None:
        self.setStyleSheet(f'QLabel {{ {BORDERS[self.label]} }}')
        sign = {0: 'unlabelled', 1: '+', -1: '−'}[self.label]
        self.setToolTip(f'seed {self.seed}: {sign} (click: unlabelled → + → − → unlabelled)')

    def mousePressEvent(self, e):
        if e.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(e)


class LabelGallery(QDialog):
    """The "From labels…" dialog. ``worker``: the render worker (label_job, labelsReady, progress,
    cancel_labels); ``panel``: the DirectionsPanel (its set, ``add_direction``); ``psi``: a
    callable giving the current image's psi."""

    fitted = pyqtSignal(int)        # row index of the direction added to the panel

    def __init__(self, worker, panel, psi, parent=None):
        super().__init__(parent)
        self.setWindowTitle('Directions from your own labels')
        self.worker, self.panel, self._psi = worker, panel, psi
        self.faces: list[Face] = []
        self.w: np.ndarray | None = None    # [N, w_dim], one row per face
        self.psi = 1.0                      # the psi of this gallery's faces
        self.next_seed = 0
        self.tag = 0                        # the newest job asked for; older answers are dropped
        self.busy = ''                      # '' | 'gallery' | 'fit'
        lay = QVBoxLayout(self)

        top = QHBoxLayout()
        self.start_seed = QSpinBox()
        self.start_seed.setRange(0, 2**31 - 1 - PAGE)
        self.start_seed.setPrefix('start seed ')
        self.new_btn = QPushButton('New gallery')
        self.new_btn.setToolTip('Faces from the start seed at the current psi (labels are cleared)')
        self.more_btn = QPushButton('More faces')
        self.more_btn.setToolTip(f'{PAGE} more faces (the next seeds)')
        self.counts = QLabel('')
        top.addWidget(self.start_seed)
        top.addWidget(self.new_btn)
        top.addWidget(self.more_btn)
        top.addWidget(self.counts, 1)
        lay.addLayout(top)

        self.grid_widget = QWidget()
        self.grid = QGridLayout(self.grid_widget)
        self.grid.setSpacing(2)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_widget)
        scroll.setMinimumSize(COLUMNS * (THUMB + 8) + 24, 3 * (THUMB + 8))
        lay.addWidget(scroll, 1)

        bottom = QHBoxLayout()
        left = QVBoxLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText('name of the direction, e.g. smile')
        left.addWidget(QLabel('Name'))
        left.addWidget(self.name)
        left.addStretch(1)
        bottom.addLayout(left, 1)
        right = QVBoxLayout()
        right.addWidget(QLabel('Hold fixed (conditional: the edit leaves these unchanged)'))
        self.hold = QListWidget()
        self.hold.setMaximumHeight(110)
        right.addWidget(self.hold)
        bottom.addLayout(right, 1)
        lay.addLayout(bottom)

        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel('')
        self.message.setWordWrap(True)
        self.fit_btn = QPushButton('Fit')
        self.fit_btn.setToolTip(f'Fit a direction to the labels (at least {MIN_PER_SIDE} faces + and '
                                f'{MIN_PER_SIDE} −) and add it to the Directions set')
        self.close_btn = QPushButton('Close')
        row.addWidget(self.progress, 1)
        row.addWidget(self.message, 1)
        row.addWidget(self.fit_btn)
        row.addWidget(self.close_btn)
        lay.addLayout(row)

        self.new_btn.clicked.connect(self.new_gallery)
        self.more_btn.clicked.connect(self.more)
        self.fit_btn.clicked.connect(self.fit)
        self.close_btn.clicked.connect(self.close)
        worker.labelsReady.connect(self._on_ready)
        worker.progress.connect(self._on_progress)
        panel.setChanged.connect(self.refresh_hold)
        self.refresh_hold()
        self._enable()

    # ------------------------------------------------------------------ gallery
    def show_gallery(self) -> None:
        """Show the dialog (the first page is asked for when there are no faces yet)."""
        self.refresh_hold()
        self.show()
        self.raise_()
        self.activateWindow()
        if not self.faces and not self.busy:
            self.new_gallery()

    def new_gallery(self) -> None:
        """Clear the faces and labels; ask for the first page from the start seed at the current psi."""
        for f in self.faces:
            f.setParent(None)
            f.deleteLater()
        self.faces, self.w = [], None
        self.psi = float(self._psi())
        self.next_seed = self.start_seed.value()
        self.more()

    def more(self) -> None:
        if self.busy:
            return
        seeds = tuple(range(self.next_seed, self.next_seed + PAGE))
        self._ask('gallery', seeds, self.psi)
        self.show_error('')

    def _ask(self, kind, *args) -> None:
        self.tag += 1
        self.busy = kind
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self._enable()
        self.worker.label_job(self.tag, kind, *args)

    def _add_page(self, seeds, w, thumbs) -> None:
        w = np.asarray(w, dtype=np.float32)
        self.w = w if self.w is None else np.concatenate([self.w, w])
        for seed, image in zip(seeds, thumbs):
            face = Face(seed, image)
            i = len(self.faces)
            face.clicked.connect(lambda i=i: self.cycle(i))
            self.grid.addWidget(face, i // COLUMNS, i % COLUMNS)
            self.faces.append(face)
        if seeds:
            self.next_seed = int(seeds[-1]) + 1

    def cycle(self, i: int) -> None:
        """Face i: unlabelled -> + -> − -> unlabelled."""
        face = self.faces[i]
        face.label = NEXT[face.label]
        face.show_label()
        self._enable()

    def labels(self) -> np.ndarray:
        return np.array([f.label for f in self.faces], dtype=np.int64)

    # ------------------------------------------------------------------ fit
    def refresh_hold(self) -> None:
        """The panel's directions, to tick those the new one must hold fixed (ticks kept by name)."""
        ticked = {self.hold.item(i).text() for i in range(self.hold.count())
                  if self.hold.item(i).checkState() == Qt.CheckState.Checked}
        self.hold.clear()
        d = self.panel.dset
        for k in range(len(self.panel.rows) if d is not None else 0):
            item = QListWidgetItem(d.names[k])
            item.setData(Qt.ItemDataRole.UserRole, k)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if d.names[k] in ticked else Qt.CheckState.Unchecked)
            self.hold.addItem(item)

    def held(self) -> list[int]:
        return [self.hold.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.hold.count())
                if self.hold.item(i).checkState() == Qt.CheckState.Checked]

    def fit(self) -> None:
        if not self._can_fit():
            return
        labels = self.labels()
        chosen = labels != 0
        held = [self.panel.dset.vector(k) for k in self.held()]
        self._fit_name = self.name.text().strip() or f'labels {len(self.panel.dset or ()) + 1}'
        self.show_error('')
        self._ask('fit', self.w[chosen], labels[chosen], held)

    def _can_fit(self) -> bool:
        labels = self.labels()
        return (not self.busy and self.w is not None and len(self.faces) == self.w.shape[0]
                and int((labels > 0).sum()) >= MIN_PER_SIDE and int((labels < 0).sum()) >= MIN_PER_SIDE)

    # ------------------------------------------------------------------ worker answers
    def _on_progress(self, kind, done, total, text) -> None:
        if kind == 'labels' and self.busy:
            self.progress.setRange(0, max(int(total), 0))
            self.progress.setValue(int(done))
            self.progress.setFormat(f'{text} %p%' if text else '%p%')

    def _on_ready(self, tag, kind, result, error) -> None:
        if tag != self.tag:
            return
        self.busy = ''
        self.progress.setVisible(False)
        if error == 'cancelled':
            self.show_error('Cancelled.')
        elif error or result is None:
            what = 'render the faces' if kind == 'gallery' else 'fit a direction'
            self.show_error(f'Could not {what}: {error}')
        elif kind == 'gallery':
            self._add_page(*result)
        else:
            vector, std = result
            try:
                k = self.panel.add_direction(self._fit_name, vector, std)
            except ExplorerError as e:
                self.show_error(f'Not added: {e}')
            else:
                self.message.setStyleSheet('')
                self.message.setText(f'Added "{self.panel.dset.names[k]}" to the Directions set.')
                self.fitted.emit(k)
        self._enable()

    def show_error(self, text: str) -> None:
        self.message.setStyleSheet('color: #d33;' if text else '')
        self.message.setText(text)

    def _enable(self) -> None:
        labels = self.labels()
        pos, neg = int((labels > 0).sum()), int((labels < 0).sum())
        self.counts.setText(f'{len(self.faces)} faces (psi {self.psi:g}): {pos} +, {neg} −, '
                            f'{len(self.faces) - pos - neg} unlabelled')
        self.fit_btn.setEnabled(self._can_fit())
        self.more_btn.setEnabled(not self.busy and bool(self.faces))
        self.new_btn.setEnabled(not self.busy)

    # ------------------------------------------------------------------ model / closing
    def model_changed(self) -> None:
        """Another model: its faces and w differ; start over if the dialog is open."""
        self.worker.cancel_labels()
        self.tag += 1           # answers for the old model are dropped
        self.busy = ''
        self.progress.setVisible(False)
        if self.isVisible():
            self.new_gallery()
        else:
            for f in self.faces:
                f.setParent(None)
                f.deleteLater()
            self.faces, self.w = [], None
            self._enable()

    def closeEvent(self, e):
        if self.busy:
            self.worker.cancel_labels()
        super().closeEvent(e)
