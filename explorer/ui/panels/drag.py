"""Drag: DragGAN-style point dragging on the main view (issue #19).

The panel only asks; ``explorer.ui.drag_controller`` does the work. "Drag mode" turns the
main view into a point editor: a click adds a handle (red), the next click its target
(blue); dragging a point moves it, a right-click removes its pair. "Paint mask" turns the
mouse into a brush over the region that may move (right button erases); with no mask the
whole image may move. Start runs the optimisation in the worker; Stop ends it within a step.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

DEFAULT_STEPS = 200
MAX_STEPS = 5000


class DragPanel(QWidget):
    modeToggled = pyqtSignal(bool)      # Drag mode on/off
    brushToggled = pyqtSignal(bool)     # Paint mask on/off
    resetPoints = pyqtSignal()
    clearMask = pyqtSignal()
    startRequested = pyqtSignal()
    stopRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        box = QGroupBox('Drag to edit')
        g = QGridLayout(box)
        self.mode = QPushButton('Drag mode')
        self.mode.setCheckable(True)
        self.mode.setStyleSheet('QPushButton:checked { background: #2f6fd6; color: white; font-weight: bold; }')
        self.mode.setToolTip('Click the image to add a handle (red), click again for its target (blue). '
                             'Drag a point to move it, right-click a point to remove its pair.')
        self.brush = QCheckBox('Paint mask (region that may move)')
        self.brush.setToolTip('Paint over the image with the left button, erase with the right. '
                              'Without a mask the whole image may move.')
        self.radius = QSpinBox()
        self.radius.setRange(1, 256)
        self.radius.setValue(6)
        self.radius.setSuffix(' px')
        self.radius.setToolTip('Brush radius in image pixels')
        self.reset_btn = QPushButton('Reset points')
        self.clear_mask_btn = QPushButton('Clear mask')
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip('At most this many optimisation steps; the drag ends earlier when every '
                              'handle reaches its target')
        self.start_btn = QPushButton('Start')
        self.stop_btn = QPushButton('Stop')
        self.stop_btn.setEnabled(False)
        self.points_label = QLabel('No points')
        self.status = QLabel('Turn on Drag mode and click the image.')
        self.status.setWordWrap(True)
        g.addWidget(self.mode, 0, 0, 1, 2)
        g.addWidget(self.brush, 1, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel('Radius'))
        row.addWidget(self.radius)
        g.addLayout(row, 1, 1)
        g.addWidget(self.reset_btn, 2, 0)
        g.addWidget(self.clear_mask_btn, 2, 1)
        g.addWidget(QLabel('Steps'), 3, 0)
        g.addWidget(self.steps, 3, 1)
        g.addWidget(self.start_btn, 4, 0)
        g.addWidget(self.stop_btn, 4, 1)
        g.addWidget(self.points_label, 5, 0, 1, 2)
        g.addWidget(self.status, 6, 0, 1, 2)
        lay.addWidget(box)
        lay.addStretch(1)
        self.mode.toggled.connect(self.modeToggled)
        self.brush.toggled.connect(self.brushToggled)
        self.reset_btn.clicked.connect(self.resetPoints)
        self.clear_mask_btn.clicked.connect(self.clearMask)
        self.start_btn.clicked.connect(self.startRequested)
        self.stop_btn.clicked.connect(self.stopRequested)

    def set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)
        for w in (self.reset_btn, self.clear_mask_btn, self.brush, self.radius, self.steps):
            w.setEnabled(not running)

    def set_counts(self, pairs: int, dangling: bool, masked: bool) -> None:
        text = f'{pairs} point pair{"s" if pairs != 1 else ""}' if pairs else 'No points'
        if dangling:
            text += ' + a handle without a target'
        text += ' · mask painted' if masked else ' · no mask (everything may move)'
        self.points_label.setText(text)
