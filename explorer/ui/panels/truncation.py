"""Truncation: psi (-1..2, default 1, preset 0.7) and cutoff (0..num_ws; num_ws = all layers)."""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from explorer.ui.widgets import FloatSlider


class TruncationPanel(QWidget):
    changed = pyqtSignal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.num_ws = 1
        lay = QVBoxLayout(self)
        box = QGroupBox('Truncation ψ (1 = off; lower = closer to the average face)')
        bl = QVBoxLayout(box)
        self.psi = FloatSlider(-1.0, 2.0, 1.0, step=0.01, label='ψ')
        bl.addWidget(self.psi)
        presets = QHBoxLayout()
        presets.addWidget(QLabel('Presets:'))
        self.preset_1 = QPushButton('ψ = 1.0 (off)')
        self.preset_07 = QPushButton('ψ = 0.7 (typical)')
        self.preset_05 = QPushButton('ψ = 0.5')
        for b in (self.preset_1, self.preset_07, self.preset_05):
            presets.addWidget(b)
        presets.addStretch(1)
        bl.addLayout(presets)
        lay.addWidget(box)

        cbox = QGroupBox('Truncation cutoff (truncate only the first N style layers)')
        cl = QHBoxLayout(cbox)
        self.cutoff = QSlider(Qt.Orientation.Horizontal)
        self.cutoff.setRange(0, 1)
        self.cutoff.setValue(1)
        self.cutoff.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.cutoff_label = QLabel('all layers')
        self.cutoff_label.setMinimumWidth(110)
        cl.addWidget(self.cutoff, 1)
        cl.addWidget(self.cutoff_label)
        lay.addWidget(cbox)
        lay.addStretch(1)

        self.psi.valueChanged.connect(lambda v: self.changed.emit({'psi': float(v)}))
        self.preset_1.clicked.connect(lambda: self.psi.setValue(1.0))
        self.preset_07.clicked.connect(lambda: self.psi.setValue(0.7))
        self.preset_05.clicked.connect(lambda: self.psi.setValue(0.5))
        self.cutoff.valueChanged.connect(self._cutoff_changed)

    def set_model(self, info):
        self.num_ws = info.num_ws
        with QSignalBlocker(self.cutoff):
            self.cutoff.setRange(0, info.num_ws)
            self.cutoff.setValue(info.num_ws)
        self._label(info.num_ws)

    def set_recipe(self, recipe):
        self.psi.set_silently(recipe.psi)
        n = self.num_ws if recipe.cutoff is None else recipe.cutoff
        with QSignalBlocker(self.cutoff):
            self.cutoff.setValue(n)
        self._label(n)

    def _label(self, n):
        self.cutoff_label.setText('all layers' if n >= self.num_ws else f'first {n} of {self.num_ws}')

    def _cutoff_changed(self, n):
        self._label(n)
        self.changed.emit({'cutoff': None if n >= self.num_ws else int(n)})
