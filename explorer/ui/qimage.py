"""numpy uint8 HWC <-> QImage / QPixmap (copies, so the array may be freed)."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage, QPixmap


def to_qimage(frame: np.ndarray) -> QImage:
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = np.ascontiguousarray(frame[:, :, 0])
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        img = QImage(frame.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        img = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return img.copy()


def to_pixmap(frame: np.ndarray, size: int | None = None) -> QPixmap:
    pm = QPixmap.fromImage(to_qimage(frame))
    if size:
        pm = pm.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pm
