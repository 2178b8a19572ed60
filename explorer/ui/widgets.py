"""Small reusable widgets: a float slider with a value box."""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget


class FloatSlider(QWidget):
    """A horizontal slider over [lo, hi] with a spin box showing the exact value."""

    valueChanged = pyqtSignal(float)

    def __init__(self, lo, hi, value, step=0.01, decimals=2, label='', label_width=0, parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.step = float(lo), float(hi), float(step)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(label)
        if label_width:
            self.label.setFixedWidth(label_width)
        if label:
            lay.addWidget(self.label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((self.hi - self.lo) / self.step))
        self.slider.setMinimumWidth(120)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(self.lo, self.hi)
        self.spin.setSingleStep(self.step)
        self.spin.setDecimals(decimals)
        self.spin.setFixedWidth(72)
        self.spin.setKeyboardTracking(False)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self._set_widgets(value)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return round(self.spin.value(), 6)

    def setValue(self, v: float) -> None:
        """Set the value and emit valueChanged (as a user edit would)."""
        self.spin.setValue(float(v))

    def set_silently(self, v: float) -> None:
        """Model -> widget update: no signal."""
        self._set_widgets(v)

    def _set_widgets(self, v):
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.spin.setValue(float(v))
            self.slider.setValue(round((float(v) - self.lo) / self.step))

    def _from_slider(self, i):
        v = round(self.lo + i * self.step, 6)
        with QSignalBlocker(self.spin):
            self.spin.setValue(v)
        self.valueChanged.emit(self.value())

    def _from_spin(self, v):
        with QSignalBlocker(self.slider):
            self.slider.setValue(round((v - self.lo) / self.step))
        self.valueChanged.emit(self.value())
