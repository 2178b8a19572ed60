"""File > Project a photo… (issue #17): the projection window. Qt only; the work is in
``explorer.ui.projection_controller`` and the workers.

- ``CropView`` shows the photo with a square crop: drag inside the square to move it, drag
  its corner handle (bottom right) to resize it, click outside to centre it there, the
  wheel resizes it about its centre. The crop is in the photo's own pixels (x, y, size).
- ``ProjectionDialog`` (non-modal): the photo and its crop, the options (W / W+ / W+ and
  noise maps, steps, seed), Start / Cancel, target | reconstruction side by side updating
  live, a PSNR plot, steps/s and ETA, and at the end PSNR/SSIM and "Use in Explore".
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.ui.qimage import to_pixmap, to_qimage

SPACES = (('W+ (recommended)', 'w+', False), ('W', 'w', False), ('W+ and noise maps', 'w+', True))
DEFAULT_STEPS = 300
MAX_STEPS = 10000
HANDLE_PX = 12          # the corner handle, in screen pixels
MIN_CROP = 16           # image_prep.MIN_SIDE
SIDE = 240              # target / reconstruction images on screen


def clamp_crop(crop, w: int, h: int, min_size: int = MIN_CROP) -> tuple[int, int, int]:
    """(x, y, size) moved and shrunk to lie inside a w x h image (size at least ``min_size``
    where the image allows it)."""
    x, y, s = (int(round(v)) for v in crop)
    s = max(min(s, w, h), min(min_size, w, h))
    return min(max(x, 0), w - s), min(max(y, 0), h - s), s


def centred_crop(w: int, h: int) -> tuple[int, int, int]:
    """The largest centred square (what the CLI takes without --crop)."""
    s = min(w, h)
    return (w - s) // 2, (h - s) // 2, s


class CropView(QWidget):
    """The photo with a square crop the user moves and resizes."""

    cropChanged = pyqtSignal(object)        # (x, y, size) in the photo's pixels

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(320, 320)
        self.setMouseTracking(True)
        self._image = None                  # QImage of the display copy
        self._scale = 1.0                   # display copy pixels per photo pixel
        self.photo_size = (0, 0)            # (w, h) of the photo
        self.crop = (0, 0, 0)
        self._drag = None                   # ('move' | 'resize', press point (photo px), crop at press)

    def set_photo(self, display: np.ndarray, photo_size) -> None:
        """``display``: uint8 HWC copy of the photo (maybe smaller); ``photo_size``: its (w, h)."""
        self._image = to_qimage(display)
        self.photo_size = (int(photo_size[0]), int(photo_size[1]))
        self._scale = display.shape[1] / self.photo_size[0]
        self.set_crop(centred_crop(*self.photo_size))

    def set_crop(self, crop) -> None:
        crop = clamp_crop(crop, *self.photo_size)
        if crop != self.crop:
            self.crop = crop
            self.update()
            self.cropChanged.emit(crop)

    # -- geometry: photo pixels <-> widget points
    def _frame(self) -> tuple[float, float, float]:
        """(left, top, widget points per photo pixel) of the photo drawn centred, aspect kept."""
        w, h = self.photo_size
        if not w or not h:
            return 0.0, 0.0, 1.0
        k = min(self.width() / w, self.height() / h)
        return (self.width() - w * k) / 2, (self.height() - h * k) / 2, k

    def to_photo(self, p: QPointF) -> tuple[float, float]:
        left, top, k = self._frame()
        return (p.x() - left) / k, (p.y() - top) / k

    def to_widget(self, x: float, y: float) -> QPointF:
        left, top, k = self._frame()
        return QPointF(left + x * k, top + y * k)

    def crop_rect(self) -> QRectF:
        x, y, s = self.crop
        return QRectF(self.to_widget(x, y), self.to_widget(x + s, y + s))

    # -- painting
    def paintEvent(self, ev):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        if self._image is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, 'Open a photo (or drop one on the window)')
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        w, h = self.photo_size
        p.drawImage(QRectF(self.to_widget(0, 0), self.to_widget(w, h)), self._image)
        r = self.crop_rect()
        shade = QColor(0, 0, 0, 140)        # darken what the crop leaves out
        whole = QRectF(self.to_widget(0, 0), self.to_widget(w, h))
        p.fillRect(QRectF(whole.left(), whole.top(), whole.width(), r.top() - whole.top()), shade)
        p.fillRect(QRectF(whole.left(), r.bottom(), whole.width(), whole.bottom() - r.bottom()), shade)
        p.fillRect(QRectF(whole.left(), r.top(), r.left() - whole.left(), r.height()), shade)
        p.fillRect(QRectF(r.right(), r.top(), whole.right() - r.right(), r.height()), shade)
        p.setPen(QPen(QColor(255, 210, 0), 2))
        p.drawRect(r)
        p.fillRect(QRectF(r.right() - HANDLE_PX, r.bottom() - HANDLE_PX, HANDLE_PX, HANDLE_PX), QColor(255, 210, 0))

    # -- the pointer
    def _on_handle(self, pos: QPointF) -> bool:
        r = self.crop_rect()
        return r.right() - 2 * HANDLE_PX <= pos.x() <= r.right() + HANDLE_PX and \
            r.bottom() - 2 * HANDLE_PX <= pos.y() <= r.bottom() + HANDLE_PX

    def mousePressEvent(self, ev):
        if self._image is None or ev.button() != Qt.MouseButton.LeftButton:
            return
        pos = ev.position()
        px, py = self.to_photo(pos)
        if self._on_handle(pos):
            self._drag = ('resize', (px, py), self.crop)
        else:
            if not self.crop_rect().contains(pos):      # jump: centre the crop on the click
                x, y, s = self.crop
                self.set_crop((px - s / 2, py - s / 2, s))
            self._drag = ('move', (px, py), self.crop)

    def mouseMoveEvent(self, ev):
        pos = ev.position()
        if self._drag is None:
            over = self._image is not None and self._on_handle(pos)
            self.setCursor(Qt.CursorShape.SizeFDiagCursor if over else Qt.CursorShape.OpenHandCursor)
            return
        kind, (x0, y0), (cx, cy, cs) = self._drag
        px, py = self.to_photo(pos)
        if kind == 'move':
            self.set_crop((cx + px - x0, cy + py - y0, cs))
        else:   # the top-left corner stays; the side follows the larger of the two moves
            w, h = self.photo_size
            s = cs + max(px - x0, py - y0)
            s = min(s, w - cx, h - cy)
            self.set_crop((cx, cy, s))

    def mouseReleaseEvent(self, ev):
        self._drag = None

    def wheelEvent(self, ev):
        if self._image is None:
            return
        x, y, s = self.crop
        f = 0.9 if ev.angleDelta().y() > 0 else 1 / 0.9
        n = s * f
        self.set_crop((x + (s - n) / 2, y + (s - n) / 2, n))


class ProjectionDialog(QDialog):
    """The projection window; the controller connects its signals and feeds it."""

    openRequested = pyqtSignal()
    startRequested = pyqtSignal()
    cancelRequested = pyqtSignal()
    useRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle('Project a photo')
        self.setModal(False)
        self.resize(1180, 720)
        lay = QHBoxLayout(self)

        left = QVBoxLayout()
        self.crop_view = CropView()
        left.addWidget(self.crop_view, 1)
        self.crop_label = QLabel('')
        self.crop_label.setToolTip('Drag the square to move it, its corner to resize it (or use the wheel); '
                                   'click elsewhere to centre it there')
        left.addWidget(self.crop_label)
        opts = QGroupBox('Projection')
        form = QFormLayout(opts)
        self.space = QComboBox()
        for text, _, _ in SPACES:
            self.space.addItem(text)
        self.space.setToolTip('W: one latent for every layer (edits well, reconstructs less); W+: one per '
                              'layer, found after a W phase; noise maps: also fit the per-pixel noise (closer '
                              'reconstruction; the stored latent renders with the model\'s own noise)')
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setValue(DEFAULT_STEPS)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setToolTip('Seeds the latent noise of the search (same seed, same result)')
        form.addRow('Space', self.space)
        form.addRow('Steps', self.steps)
        form.addRow('Seed', self.seed)
        left.addWidget(opts)
        btns = QHBoxLayout()
        self.open_btn = QPushButton('Open photo…')
        self.start_btn = QPushButton('Start')
        self.cancel_btn = QPushButton('Cancel')
        self.use_btn = QPushButton('Use in Explore')
        self.use_btn.setToolTip('Make the projected latent the base in Explore (it is in Saved > stored latents)')
        for b in (self.open_btn, self.start_btn, self.cancel_btn, self.use_btn):
            btns.addWidget(b)
        left.addLayout(btns)
        lay.addLayout(left, 5)

        right = QVBoxLayout()
        pair = QHBoxLayout()
        self.target_label, self.recon_label = QLabel(), QLabel()
        for title, label in (('Target', self.target_label), ('Reconstruction', self.recon_label)):
            col = QVBoxLayout()
            head = QLabel(title)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setFixedSize(SIDE, SIDE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet('background: #1e1e1e;')
            col.addWidget(head)
            col.addWidget(label)
            pair.addLayout(col)
        right.addLayout(pair)
        self.plot = pg.PlotWidget()
        self.plot.setBackground('#1e1e1e')
        self.plot.setLabel('left', 'PSNR', units='dB')
        self.plot.setLabel('bottom', 'step')
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.curve = self.plot.plot([], [], pen=pg.mkPen('#ffd200', width=2))
        right.addWidget(self.plot, 1)
        self.status = QLabel('Open a photo to begin.')
        self.status.setWordWrap(True)
        right.addWidget(self.status)
        self.result_label = QLabel('')
        self.result_label.setWordWrap(True)
        right.addWidget(self.result_label)
        lay.addLayout(right, 6)

        self.open_btn.clicked.connect(self.openRequested)
        self.start_btn.clicked.connect(self.startRequested)
        self.cancel_btn.clicked.connect(self.cancelRequested)
        self.use_btn.clicked.connect(self.useRequested)
        self.crop_view.cropChanged.connect(self._show_crop)
        self.set_running(False)
        self.use_btn.setEnabled(False)

    # -- what the controller reads
    def options(self) -> dict:
        """ProjectionConfig fields chosen here."""
        _, space, noise = SPACES[self.space.currentIndex()]
        return dict(space=space, optimize_noise=noise, steps=int(self.steps.value()), seed=int(self.seed.value()))

    def crop(self) -> tuple[int, int, int]:
        return self.crop_view.crop

    # -- what the controller shows
    def set_photo(self, display: np.ndarray, photo_size, name: str) -> None:
        self.setWindowTitle(f'Project a photo — {name}')
        self.crop_view.set_photo(display, photo_size)
        self._show_crop(self.crop_view.crop)
        self.recon_label.clear()
        self.result_label.setText('')
        self.curve.setData([], [])
        self.use_btn.setEnabled(False)

    def _show_crop(self, crop) -> None:
        x, y, s = crop
        w, h = self.crop_view.photo_size
        self.crop_label.setText(f'Crop x={x}, y={y}, size={s} of {w}×{h} (the CLI\'s --crop {x},{y},{s})')

    def set_target(self, image: np.ndarray) -> None:
        self.target_label.setPixmap(_big(image))

    def set_reconstruction(self, image: np.ndarray) -> None:
        self.recon_label.setPixmap(_big(image))

    def set_curve(self, steps, psnr) -> None:
        self.curve.setData(np.asarray(steps, np.float64), np.asarray(psnr, np.float64))

    def set_running(self, running: bool, has_photo: bool = True) -> None:
        self.start_btn.setEnabled(not running and has_photo)
        self.cancel_btn.setEnabled(running)
        self.open_btn.setEnabled(not running)
        for w in (self.space, self.steps, self.seed, self.crop_view):
            w.setEnabled(not running)

    def say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet('color: #d33;' if error else '')


def _big(image: np.ndarray):
    """``image`` scaled to SIDE x SIDE: whole multiples with nearest pixels for small models
    (their pixels stay visible), smooth otherwise."""
    h = image.shape[0]
    if h < SIDE:
        k = max(SIDE // h, 1)
        image = np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    return to_pixmap(image, SIDE)
