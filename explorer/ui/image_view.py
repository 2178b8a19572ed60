"""The main image view: a pyqtgraph ImageItem scaled to fit, aspect kept, no auto-levels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QPainter


class ImageView(pg.GraphicsLayoutWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground('#202124')
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.viewbox = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.viewbox.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder='row-major')
        self.viewbox.addItem(self.item)
        self.frame: np.ndarray | None = None
        self.setMinimumSize(256, 256)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)   # click the image, then use the arrow keys

    def keyPressEvent(self, e):
        e.ignore()      # let the window handle keys (arrows change the seed)

    def set_frame(self, frame: np.ndarray) -> None:
        """frame: uint8 [H, W, C] (C = 1 or 3). Any size fills the same area, scaled smoothly
        (bilinear: SmoothPixmapTransform), so a reduced-resolution preview (8x8, 16x16 ...)
        shows as a soft image, not as blocks."""
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        first = self.frame is None or self.frame.shape[:2] != frame.shape[:2]
        self.frame = frame
        self.item.setImage(frame, autoLevels=False, levels=(0, 255))
        if first:
            h, w = frame.shape[:2]
            self.viewbox.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)

    def clear_frame(self) -> None:
        """Show nothing (e.g. a new training run has no preview yet). Not ``clear``: pyqtgraph
        binds that name on the instance to the layout's clear, which removes the view box."""
        self.frame = None
        self.item.clear()
