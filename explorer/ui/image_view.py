"""The main image view: a pyqtgraph ImageItem scaled to fit, aspect kept, no auto-levels.

The view's coordinates are the model's full-resolution image pixels (``set_full_size``):
a reduced-resolution preview is stretched over the same square, so points drawn on the
view (the drag overlay: handles, targets, the mask) stay where they are whatever the
frame's own size. With ``set_pointer_mode(True)`` the view reports mouse presses, moves
and releases in those pixel coordinates (``imagePressed`` ...) instead of using them itself.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QPainter

HANDLE_COLOUR = (230, 40, 40)
TARGET_COLOUR = (40, 110, 255)
MASK_RGBA = (255, 255, 255, 70)     # the painted (movable) region, drawn over the image


class ImageView(pg.GraphicsLayoutWidget):
    imagePressed = pyqtSignal(float, float, object)     # x, y (full-resolution pixels), Qt.MouseButton
    imageMoved = pyqtSignal(float, float)
    imageReleased = pyqtSignal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground('#202124')
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.viewbox = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.viewbox.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder='row-major')
        self.viewbox.addItem(self.item)
        self.frame: np.ndarray | None = None
        self.full_size: tuple | None = None     # (w, h) the frame stands for; None: its own size
        self._shown_size: tuple | None = None
        self.pointer_mode = False
        self._pressed = False
        # The drag overlay: the mask, lines handle -> target, the points on top.
        self.mask_item = pg.ImageItem(axisOrder='row-major')
        self.mask_item.setZValue(10)
        self.lines_item = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 255, 200), width=2), connect='pairs')
        self.lines_item.setZValue(11)
        self.handles_item = pg.ScatterPlotItem(size=12, pen=pg.mkPen('w', width=1.5), brush=pg.mkBrush(*HANDLE_COLOUR))
        self.targets_item = pg.ScatterPlotItem(size=12, pen=pg.mkPen('w', width=1.5), brush=pg.mkBrush(*TARGET_COLOUR))
        for z, it in enumerate((self.handles_item, self.targets_item)):
            it.setZValue(12 + z)
        for it in (self.mask_item, self.lines_item, self.handles_item, self.targets_item):
            self.viewbox.addItem(it)
        self.setMinimumSize(256, 256)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)   # click the image, then use the arrow keys

    def keyPressEvent(self, e):
        e.ignore()      # let the window handle keys (arrows change the seed)

    def set_full_size(self, w: int, h: int) -> None:
        """The full resolution of the model's images: view coordinates are its pixels."""
        self.full_size = (int(w), int(h))
        if self.frame is not None:
            self._place(self.frame.shape[1], self.frame.shape[0])

    def set_frame(self, frame: np.ndarray) -> None:
        """frame: uint8 [H, W, C] (C = 1 or 3). Any size fills the same area, scaled smoothly
        (bilinear: SmoothPixmapTransform), so a reduced-resolution preview (8x8, 16x16 ...)
        shows as a soft image, not as blocks."""
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        self.frame = frame
        self.item.setImage(frame, autoLevels=False, levels=(0, 255))
        self._place(frame.shape[1], frame.shape[0])

    def _place(self, fw, fh) -> None:
        """Stretch the frame over the full-resolution square; fit the view to it when that changes."""
        w, h = self.full_size or (fw, fh)
        self.item.setRect(QRectF(0, 0, w, h))
        if self._shown_size != (w, h):
            self._shown_size = (w, h)
            self.viewbox.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)

    def clear_frame(self) -> None:
        """Show nothing (e.g. a new training run has no preview yet). Not ``clear``: pyqtgraph
        binds that name on the instance to the layout's clear, which removes the view box."""
        self.frame = None
        self.item.clear()

    # ------------------------------------------------------------------ coordinates
    def image_pos(self, pos) -> tuple[float, float]:
        """A point of the widget (QPointF/QPoint) -> (x, y) in full-resolution image pixels
        (continuous: pixel (i, j) spans [i, i + 1) x [j, j + 1))."""
        p = self.viewbox.mapSceneToView(self.mapToScene(pos.toPoint() if isinstance(pos, QPointF) else pos))
        return float(p.x()), float(p.y())

    def widget_pos(self, x: float, y: float) -> QPointF:
        """(x, y) image pixels -> the widget point that shows it."""
        return QPointF(self.mapFromScene(self.viewbox.mapViewToScene(QPointF(x, y))))

    def screen_pixels_per_image_pixel(self) -> float:
        a, b = self.widget_pos(0, 0), self.widget_pos(1, 0)
        return max(abs(b.x() - a.x()), 1e-6)

    # ------------------------------------------------------------------ the drag overlay
    def set_pointer_mode(self, on: bool) -> None:
        """On: mouse presses, moves and releases on the view become imagePressed/Moved/Released."""
        self.pointer_mode = bool(on)
        self._pressed = False
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def set_overlay(self, handles, targets, mask_rgba=None) -> None:
        """handles: [(x, y)] (red), targets: [(x, y) or None] (blue; a line from each handle to its
        target), in image pixels (drawn at pixel centres); mask_rgba: uint8 [H, W, 4] at full
        resolution, or None."""
        hs = [(x + 0.5, y + 0.5) for x, y in handles]
        ts = [(t[0] + 0.5, t[1] + 0.5) for t in targets if t is not None]
        self.handles_item.setData(pos=hs) if hs else self.handles_item.clear()
        self.targets_item.setData(pos=ts) if ts else self.targets_item.clear()
        seg = [p for h, t in zip(handles, targets) if t is not None for p in (h, t)]
        if seg:
            arr = np.asarray(seg, dtype=np.float64) + 0.5
            self.lines_item.setData(arr[:, 0], arr[:, 1])
        else:
            self.lines_item.setData([], [])
        if mask_rgba is None:
            self.mask_item.clear()
            self.mask_item.setVisible(False)
        else:
            self.mask_item.setImage(mask_rgba, autoLevels=False, levels=(0, 255))
            self.mask_item.setRect(QRectF(0, 0, mask_rgba.shape[1], mask_rgba.shape[0]))
            self.mask_item.setVisible(True)

    def mousePressEvent(self, ev):
        if not self.pointer_mode:
            return super().mousePressEvent(ev)
        self._pressed = True
        x, y = self.image_pos(ev.position())
        self.imagePressed.emit(x, y, ev.button())
        ev.accept()

    def mouseMoveEvent(self, ev):
        if not self.pointer_mode:
            return super().mouseMoveEvent(ev)
        if self._pressed:
            self.imageMoved.emit(*self.image_pos(ev.position()))
        ev.accept()

    def mouseReleaseEvent(self, ev):
        if not self.pointer_mode:
            return super().mouseReleaseEvent(ev)
        if self._pressed:
            self._pressed = False
            self.imageReleased.emit(*self.image_pos(ev.position()))
        ev.accept()
