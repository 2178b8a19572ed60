"""An image view with zoom, pan and a pixel readout (the inspector's and the Compare tab's view).

- Zoom: ``set_zoom(None)`` fits the widget (the default; the largest whole zoom that fits,
  so a small feature map shows crisp pixels), ``set_zoom(k)`` shows k screen
  pixels per image pixel (1:1, 2:1 ... 8:1); the wheel zooms by steps of 1.25x about the
  pointer. Integer zooms are drawn nearest-neighbour (every pixel a crisp square), others
  smoothly.
- Pan: drag with the left button (middle or right button while the left one does something
  else, see ``left_drag``); ``fit`` re-centres.
- Readout: ``hovered(x, y)`` with the image pixel under the pointer ((-1, -1) outside); the
  owner formats the text (it knows what the values mean).

Plain QPainter on a QWidget: no scene graph, one drawImage per paint. The zoom arithmetic
(``clamp_zoom``, ``wheel_zoom``, ``anchored_origin``, ``is_whole``) and the Fit / k:1 choices
(``zoom_combo``, ``add_zoom_actions``) are shared with the main view (``image_view.ImageView``).
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from explorer.ui.qimage import to_qimage

ZOOM_LEVELS = (1, 2, 3, 4, 6, 8)
MIN_ZOOM, MAX_ZOOM = 1 / 16, 64.0
WHEEL_STEP = 1.25


def clamp_zoom(zoom: float) -> float:
    return min(max(float(zoom), MIN_ZOOM), MAX_ZOOM)


def wheel_zoom(scale: float, delta_y: float) -> float | None:
    """The zoom after a wheel turn of ``delta_y`` (1/8 degrees, 120 a notch) from ``scale``; None
    for no turn."""
    steps = delta_y / 120.0
    return clamp_zoom(scale * WHEEL_STEP ** steps) if steps else None


def anchored_origin(anchor: QPointF, origin: QPointF, scale: float, zoom: float) -> QPointF:
    """Where the image's top-left corner goes (widget coordinates) when the zoom changes from
    ``scale`` to ``zoom`` so that the image point under ``anchor`` stays under it."""
    ix, iy = (anchor.x() - origin.x()) / scale, (anchor.y() - origin.y()) / scale
    return QPointF(anchor.x() - ix * zoom, anchor.y() - iy * zoom)


def is_whole(scale: float) -> bool:
    """A whole zoom (1:1, 2:1 ...): drawn nearest-neighbour, every pixel a crisp square."""
    return scale >= 1 and abs(scale - round(scale)) < 1e-6


class ZoomView(QWidget):
    hovered = pyqtSignal(int, int)          # image x, y under the pointer; -1, -1 outside
    leftDragged = pyqtSignal(float, float)  # image coordinates (float) while the left button drags,
                                            # when ``left_drag`` is 'signal'
    zoomChanged = pyqtSignal(object)        # None (fit) or the zoom factor

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self._qimage = None
        self.zoom: float | None = None      # None: fit
        self.offset = QPointF(0, 0)         # widget position of the image's top-left corner
        self.left_drag = 'pan'              # 'pan' | 'signal' (then middle/right button pans)
        self.split: float | None = None     # draw a vertical line at this fraction of the width
        self._drag = None                   # (button, start pos, start offset)
        self.setMouseTracking(True)
        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    # ------------------------------------------------------------------ content
    def set_image(self, image: np.ndarray | None) -> None:
        """uint8 [H, W] or [H, W, C]; the zoom and pan stay while the size does."""
        if image is not None and image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        resized = image is None or self.image is None or image.shape[:2] != self.image.shape[:2]
        self.image = image
        self._qimage = None if image is None else to_qimage(image)
        if resized and self.zoom is not None:
            self._centre()
        self.update()

    def scale(self) -> float:
        """Screen pixels per image pixel now."""
        if self.image is None:
            return 1.0
        if self.zoom is not None:
            return self.zoom
        h, w = self.image.shape[:2]
        s = min(self.width() / w, self.height() / h)
        return float(math.floor(s)) if s >= 1 else max(s, 1e-6)     # fit: the largest whole zoom

    def _placement(self) -> tuple[QPointF, float]:
        s = self.scale()
        if self.zoom is None and self.image is not None:
            h, w = self.image.shape[:2]
            return QPointF((self.width() - w * s) / 2, (self.height() - h * s) / 2), s
        return QPointF(self.offset), s

    def set_zoom(self, zoom: float | None, anchor: QPointF | None = None) -> None:
        """None: fit; else screen pixels per image pixel, keeping the image point under
        ``anchor`` (widget coordinates; default the centre) where it is."""
        if zoom is None:
            self.zoom = None
        else:
            zoom = clamp_zoom(zoom)
            anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
            pos, s = self._placement()
            self.zoom = zoom
            self.offset = anchored_origin(anchor, pos, s, zoom)
        self.zoomChanged.emit(self.zoom)
        self.update()

    def fit(self) -> None:
        self.set_zoom(None)

    def _centre(self):
        h, w = self.image.shape[:2]
        self.offset = QPointF((self.width() - w * self.zoom) / 2, (self.height() - h * self.zoom) / 2)

    def image_pos(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> image coordinates (float, pixel (x, y) covers [x, x+1))."""
        origin, s = self._placement()
        return (pos.x() - origin.x()) / s, (pos.y() - origin.y()) / s

    def pixel_at(self, pos: QPointF) -> tuple[int, int]:
        """The image pixel under widget position ``pos``, (-1, -1) outside the image."""
        if self.image is None:
            return -1, -1
        fx, fy = self.image_pos(pos)
        x, y = math.floor(fx), math.floor(fy)
        h, w = self.image.shape[:2]
        return (x, y) if 0 <= x < w and 0 <= y < h else (-1, -1)

    def nearest(self) -> bool:
        """Drawn nearest-neighbour (an integer zoom)?"""
        return is_whole(self.scale())

    # ------------------------------------------------------------------ painting
    def paintEvent(self, e):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor('#202124'))
        if self._qimage is None:
            return
        origin, s = self._placement()
        h, w = self.image.shape[:2]
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self.nearest())
        p.drawImage(QRectF(origin.x(), origin.y(), w * s, h * s), self._qimage)
        if self.split is not None:
            x = origin.x() + self.split * w * s
            p.setPen(QPen(QColor(255, 255, 255, 200), 2))
            p.drawLine(QPointF(x, origin.y()), QPointF(x, origin.y() + h * s))

    # ------------------------------------------------------------------ input
    def wheelEvent(self, e):
        zoom = wheel_zoom(self.scale(), e.angleDelta().y())
        if zoom is not None and self.image is not None:
            self.set_zoom(zoom, anchor=e.position())
        e.accept()

    def mousePressEvent(self, e):
        button = e.button()
        if button == Qt.MouseButton.LeftButton and self.left_drag == 'signal':
            self._drag = (button, None, None)
            self.leftDragged.emit(*self.image_pos(e.position()))
            return
        if self.zoom is None:           # start panning from where fit put the image
            origin, s = self._placement()
            self.zoom, self.offset = s, origin
        self._drag = (button, e.position(), QPointF(self.offset))

    def mouseMoveEvent(self, e):
        x, y = self.pixel_at(e.position())
        self.hovered.emit(x, y)
        if self._drag is None:
            return
        button, start, start_offset = self._drag
        if start is None:
            self.leftDragged.emit(*self.image_pos(e.position()))
        else:
            self.offset = start_offset + (e.position() - start)
            self.update()

    def mouseReleaseEvent(self, e):
        self._drag = None

    def mouseDoubleClickEvent(self, e):
        self.fit()

    def leaveEvent(self, e):
        self.hovered.emit(-1, -1)


def zoom_choices() -> list[tuple[str, float | None]]:
    return [('Fit', None)] + [(f'{k}:1', float(k)) for k in ZOOM_LEVELS]


def add_zoom_actions(menu, view) -> None:
    """Fit, 1:1 ... 8:1 as actions of ``menu`` (a QMenu) that set ``view``'s zoom."""
    for text, z in zoom_choices():
        menu.addAction(text, lambda z=z: view.set_zoom(z))


def zoom_combo(view):
    """A combo box (Fit, 1:1 ... 8:1) bound to ``view`` (a ZoomView or the main ImageView: anything
    with ``set_zoom`` and ``zoomChanged``); wheel zooms show as a percentage."""
    from PyQt6.QtCore import QSignalBlocker
    from PyQt6.QtWidgets import QComboBox
    box = QComboBox()
    for text, z in zoom_choices():
        box.addItem(text, z)
    box.addItem('', 'custom')       # shown for a wheel zoom between the levels

    def picked(i):
        z = box.itemData(i)
        if z != 'custom':
            view.set_zoom(z)
    box.activated.connect(picked)

    def follow(z):
        with QSignalBlocker(box):
            match = next((i for i, (_, v) in enumerate(zoom_choices()) if v == z), None)
            if match is None:
                box.setItemText(box.count() - 1, f'{100 * z:.0f}%')
                match = box.count() - 1
            box.setCurrentIndex(match)
    view.zoomChanged.connect(follow)
    box.setToolTip('Zoom (or the mouse wheel over the image; double-click fits). Whole zooms show '
                   'each pixel as a sharp square.')
    return box
