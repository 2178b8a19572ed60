"""The main image view: a pyqtgraph ImageItem scaled to fit, aspect kept, no auto-levels.

The view's coordinates are the model's full-resolution image pixels (``set_full_size``):
a reduced-resolution preview is stretched over the same square, so points drawn on the
view (the drag overlay: handles, targets, the mask) stay where they are whatever the
frame's own size. With ``set_pointer_mode(True)`` the view reports mouse presses, moves
and releases in those pixel coordinates (``imagePressed`` ...) instead of using them itself.

Zoom and pan (issue #20), the arithmetic shared with the inspector's ``ZoomView``: fit to the
view (the default, smooth; back on a new size), ``set_zoom(k)`` for k screen pixels per
full-resolution pixel (the wheel zooms about the pointer; Fit, 1:1 ... 8:1 from
``zoom_combo`` or the context menu), drawn nearest-neighbour at a whole zoom unless the frame
is a preview. The middle button pans, and the left one outside pointer mode. ``hovered(x, y)``
gives the full-resolution pixel under the pointer ((-1, -1) outside); ``readout_text`` says
what it holds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QMenu

from explorer.ui.zoom_view import add_zoom_actions, anchored_origin, clamp_zoom, is_whole, wheel_zoom

HANDLE_COLOUR = (230, 40, 40)
TARGET_COLOUR = (40, 110, 255)
MASK_RGBA = (255, 255, 255, 70)     # the painted (movable) region, drawn over the image


class ImageView(pg.GraphicsLayoutWidget):
    imagePressed = pyqtSignal(float, float, object)     # x, y (full-resolution pixels), Qt.MouseButton
    imageMoved = pyqtSignal(float, float)
    imageReleased = pyqtSignal(float, float)
    hovered = pyqtSignal(int, int)          # full-resolution pixel under the pointer; -1, -1 outside
    zoomChanged = pyqtSignal(object)        # None (fit) or screen pixels per image pixel

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
        self.zoom: float | None = None      # None: fit
        self.origin = QPointF(0, 0)         # scene position of the image's top-left corner when zoomed
        self._pan = None                    # (start scene position, start origin) while panning
        self._hover = (-1, -1)              # the pixel under the pointer, for a readout of a new frame
        self.viewbox.sigResized.connect(lambda *_: self._apply_zoom())
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
        self.setMouseTracking(True)

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
        self._update_smoothing()
        if self._hover != (-1, -1):
            self.hovered.emit(*self._hover)     # the readout follows a new frame under a still pointer

    def _place(self, fw, fh) -> None:
        """Stretch the frame over the full-resolution square; fit the view to it when that changes."""
        w, h = self.full_size or (fw, fh)
        self.item.setRect(QRectF(0, 0, w, h))
        if self._shown_size != (w, h):
            self._shown_size = (w, h)
            self.fit()

    # ------------------------------------------------------------------ zoom and pan
    def _image_size(self) -> tuple | None:
        if self._shown_size is not None:
            return self._shown_size
        return self.full_size

    def scale(self) -> float:
        """Screen pixels per full-resolution image pixel now (float: a fitted view's is not whole)."""
        a = self.viewbox.mapViewToScene(QPointF(0, 0))
        b = self.viewbox.mapViewToScene(QPointF(1, 0))
        return max(abs(b.x() - a.x()), 1e-6)

    def fit(self) -> None:
        """Fit the image to the view (aspect kept, smooth): the default, and after a new size."""
        self.zoom = None
        size = self._image_size()
        if size is not None:
            self.viewbox.setRange(xRange=(0, size[0]), yRange=(0, size[1]), padding=0.0)
        self._update_smoothing()
        self.zoomChanged.emit(None)

    def set_zoom(self, zoom: float | None, anchor: QPointF | None = None) -> None:
        """None: fit; else ``zoom`` screen pixels per image pixel, keeping the image point under
        ``anchor`` (a widget point; default the view's centre) where it is."""
        if zoom is None or self._image_size() is None:
            self.fit()
            return
        zoom = clamp_zoom(zoom)
        at = self._box().center() if anchor is None else self._scene(anchor)
        self.origin = anchored_origin(at, self.viewbox.mapViewToScene(QPointF(0, 0)), self.scale(), zoom)
        self.zoom = zoom
        self._apply_zoom()
        self.zoomChanged.emit(zoom)

    def _apply_zoom(self) -> None:
        """Show the image at ``self.zoom`` with its corner at ``self.origin`` (also after a resize)."""
        if self.zoom is None:
            return
        box, s, o = self._box(), self.zoom, self.origin
        self.viewbox.setRange(xRange=((box.left() - o.x()) / s, (box.right() - o.x()) / s),
                              yRange=((box.top() - o.y()) / s, (box.bottom() - o.y()) / s), padding=0.0)
        self._update_smoothing()

    def _box(self) -> QRectF:
        """The view box's area in scene coordinates (its view range maps onto it; not
        ``sceneBoundingRect``, which pyqtgraph pads by half a pixel)."""
        return self.viewbox.mapRectToScene(self.viewbox.rect())

    def nearest(self) -> bool:
        """Drawn nearest-neighbour: a whole zoom (not fit) of a full-resolution frame."""
        size = self._image_size()
        full = self.frame is None or size is None or (self.frame.shape[1], self.frame.shape[0]) == tuple(size)
        return self.zoom is not None and is_whole(self.zoom) and full

    def _update_smoothing(self) -> None:
        smooth = not self.nearest()
        if bool(self.renderHints() & QPainter.RenderHint.SmoothPixmapTransform) != smooth:
            self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            self.viewport().update()

    def _scene(self, pos) -> QPointF:
        return QPointF(self.mapToScene(pos.toPoint() if isinstance(pos, QPointF) else pos))

    def _start_pan(self, pos) -> None:
        if self.zoom is None:               # start from where fit put the image
            self.zoom = self.scale()
            self.origin = self.viewbox.mapViewToScene(QPointF(0, 0))
            self.zoomChanged.emit(self.zoom)
        self._pan = (self._scene(pos), QPointF(self.origin))

    def _move_pan(self, pos) -> None:
        start, origin = self._pan
        self.origin = origin + (self._scene(pos) - start)
        self._apply_zoom()

    def wheelEvent(self, ev):
        zoom = wheel_zoom(self.scale(), ev.angleDelta().y())
        if zoom is not None and self._image_size() is not None:
            self.set_zoom(zoom, anchor=ev.position())
        ev.accept()

    def contextMenuEvent(self, ev):
        if self.pointer_mode:       # the right button removes points there
            ev.accept()
            return
        menu = QMenu(self)
        add_zoom_actions(menu, self)
        menu.exec(ev.globalPos())

    def mouseDoubleClickEvent(self, ev):
        if self.pointer_mode:
            return super().mouseDoubleClickEvent(ev)
        self.fit()
        ev.accept()

    # ------------------------------------------------------------------ the readout
    def pixel_at(self, pos) -> tuple[int, int]:
        """The full-resolution pixel under widget point ``pos``; (-1, -1) outside the image."""
        size = self._image_size()
        if size is None or self.frame is None:
            return -1, -1
        fx, fy = self.image_pos(pos)
        x, y = int(np.floor(fx)), int(np.floor(fy))
        return (x, y) if 0 <= x < size[0] and 0 <= y < size[1] else (-1, -1)

    def value_at(self, x: int, y: int):
        """The frame's value at full-resolution pixel (x, y) (a preview's pixel covering it):
        a tuple of channel values, or None outside."""
        size = self._image_size()
        if self.frame is None or size is None or not (0 <= x < size[0] and 0 <= y < size[1]):
            return None
        fh, fw = self.frame.shape[:2]
        v = self.frame[y * fh // size[1], x * fw // size[0]]
        return tuple(int(c) for c in np.atleast_1d(v))

    def readout_text(self, x: int, y: int) -> str:
        """'x 31, y 12 · RGB 182 140 121' for full-resolution pixel (x, y); '' outside."""
        v = self.value_at(x, y)
        if v is None:
            return ''
        what = {1: 'value', 3: 'RGB', 4: 'RGBA'}.get(len(v), 'value')
        return f'x {x}, y {y} · {what} ' + ' '.join(str(c) for c in v)

    def leaveEvent(self, ev):
        self._hover = (-1, -1)
        self.hovered.emit(-1, -1)
        super().leaveEvent(ev)

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
        return self.scale()

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
        button = ev.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and not self.pointer_mode):
            self._start_pan(ev.position())
            ev.accept()
            return
        if not self.pointer_mode:
            return super().mousePressEvent(ev)
        self._pressed = True
        x, y = self.image_pos(ev.position())
        self.imagePressed.emit(x, y, ev.button())
        ev.accept()

    def mouseMoveEvent(self, ev):
        self._hover = self.pixel_at(ev.position())
        self.hovered.emit(*self._hover)
        if self._pan is not None:
            self._move_pan(ev.position())
            ev.accept()
            return
        if not self.pointer_mode:
            return super().mouseMoveEvent(ev)
        if self._pressed:
            self.imageMoved.emit(*self.image_pos(ev.position()))
        ev.accept()

    def mouseReleaseEvent(self, ev):
        if self._pan is not None:
            self._move_pan(ev.position())
            self._pan = None
            ev.accept()
            return
        if not self.pointer_mode:
            return super().mouseReleaseEvent(ev)
        if self._pressed:
            self._pressed = False
            self.imageReleased.emit(*self.image_pos(ev.position()))
        ev.accept()
