"""Compare: a pinned frame "A" against the live frame "B" (split, side by side, difference + PSNR).

Pin A, then change anything (an edit, another checkpoint of the same resolution, the bf16 or
exact path): B follows the view. The split line is dragged with the left button (the right
or middle button pans); the difference view shows |A - B| amplified so that the largest
difference is white, with the gain and the PSNR. The maths is ``explorer.engine.compare``.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from explorer.engine import compare
from explorer.ui.zoom_view import ZoomView, zoom_combo

MODES = (('split', 'Split (drag the line)'), ('side', 'A | B side by side'), ('diff', 'Difference |A - B|'),
         ('a', 'A only'), ('b', 'B only'))


class CompareWidget(QWidget):
    pinRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.a = self.b = None              # uint8 [H, W, C]
        self.a_text = self.b_text = ''
        self.split_frac = 0.5
        self.psnr: float | None = None
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.pin_btn = QPushButton('Pin current frame as A')
        self.pin_btn.setToolTip('Keep the frame on screen as A; B is the live frame')
        self.pin_btn.clicked.connect(self.pinRequested)
        top.addWidget(self.pin_btn)
        self.mode = QComboBox()
        for key, text in MODES:
            self.mode.addItem(text, key)
        self.mode.currentIndexChanged.connect(lambda _i: self.refresh())
        top.addWidget(self.mode)
        self.view = ZoomView()
        top.addWidget(zoom_combo(self.view))
        top.addStretch(1)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self.info = QLabel('Pin a frame as A to compare it with the live frame.')
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.readout = QLabel('')
        lay.addWidget(self.readout)
        self.view.leftDragged.connect(self._drag_split)
        self.view.hovered.connect(self._hover)

    def pin(self, frame, text: str = '') -> None:
        self.a = None if frame is None else np.array(frame, copy=True)
        self.a_text = text
        self.refresh()

    def set_live(self, frame, text: str = '') -> None:
        self.b = frame
        self.b_text = text
        if self.isVisible():
            self.refresh()

    def composite(self) -> np.ndarray | None:
        """What the view shows for the current mode (None: nothing to show)."""
        mode = self.mode.currentData()
        a, b = self.a, self.b
        if mode == 'a' or (b is None and a is not None):
            return a
        if mode == 'b' or a is None:
            return b
        if a.shape != b.shape:
            return compare.side_by_side(*_pad_pair(a, b)) if mode == 'side' else b
        if mode == 'split':
            return compare.split(a, b, self.split_frac)
        if mode == 'side':
            return compare.side_by_side(a, b)
        return compare.difference(a, b)[0]

    def refresh(self) -> None:
        mode = self.mode.currentData()
        img = self.composite()
        self.view.left_drag = 'signal' if mode == 'split' else 'pan'
        same = self.a is not None and self.b is not None and self.a.shape == self.b.shape
        self.view.split = self.split_frac if (mode == 'split' and same) else None
        self.view.set_image(img)
        self.psnr = compare.psnr(self.a, self.b) if same else None
        lines = [f'A: {self.a_text}' if self.a is not None else 'A: (pin a frame)',
                 f'B: {self.b_text}' if self.b is not None else 'B: (no frame yet)']
        if same:
            _, gain = compare.difference(self.a, self.b)
            p = 'identical (∞ dB)' if self.psnr == float('inf') else f'{self.psnr:.2f} dB'
            lines.append(f'PSNR {p}' + (f'  ·  difference shown x{gain:.3g}' if mode == 'diff' else ''))
        elif self.a is not None and self.b is not None:
            lines.append(f'Different sizes ({self.a.shape[1]}x{self.a.shape[0]} vs {self.b.shape[1]}x'
                         f'{self.b.shape[0]}): no split, difference or PSNR')
        self.info.setText('    '.join(lines))

    def _drag_split(self, x, _y):
        if self.a is None or self.b is None:
            return
        self.split_frac = min(max(x / self.a.shape[1], 0.0), 1.0)
        self.refresh()

    def _hover(self, x, y):
        if x < 0 or self.view.image is None:
            self.readout.setText('')
            return
        parts = [f'x {x}, y {y}']
        mode = self.mode.currentData()
        if mode == 'side' and self.a is not None and x >= self.a.shape[1]:
            x -= self.a.shape[1] + 4        # the gap
        for name, img in (('A', self.a), ('B', self.b)):
            if img is not None and 0 <= x < img.shape[1] and 0 <= y < img.shape[0]:
                parts.append(f'{name} ' + ','.join(str(int(v)) for v in np.atleast_1d(img[y, x])))
        self.readout.setText('  ·  '.join(parts))


def _pad_pair(a, b):
    """Two frames of different sizes on canvases of the larger size (top-left aligned)."""
    h, w = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    out = []
    for img in (a, b):
        canvas = np.full((h, w) + img.shape[2:], 32, np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img
        out.append(canvas)
    return out
