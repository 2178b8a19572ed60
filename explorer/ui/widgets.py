"""Small reusable widgets: a float slider with a value box, a seed box for 32-bit seeds, a path
box that elides in the middle."""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QPainter, QValidator
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QSlider, QStyle, QStyleOptionFrame, QWidget

from explorer.engine.seeds import MAX_SEED


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


class PathEdit(QLineEdit):
    """A line edit for a file or folder path. While it is not being edited and the path is
    wider than the box, it shows the path elided in the middle (``/home/me/…/run-0412``: the
    start and the name both stay readable); the tooltip always holds the full path. ``text()``
    is the full path."""

    def __init__(self, text='', parent=None):
        super().__init__(text, parent)
        self.textChanged.connect(self.setToolTip)
        self.setToolTip(text)

    def display_text(self) -> str:
        """What the box shows now: the path, or the path elided in the middle."""
        if self.hasFocus():
            return self.text()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self._text_rect().width())

    def _text_rect(self):
        opt = QStyleOptionFrame()
        self.initStyleOption(opt)
        rect = self.style().subElementRect(QStyle.SubElement.SE_LineEditContents, opt, self)
        return rect.adjusted(2, 0, -2, 0)     # QLineEdit's own horizontal margin

    def paintEvent(self, event):
        shown = self.display_text()
        if shown == self.text():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        opt = QStyleOptionFrame()
        self.initStyleOption(opt)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, opt, painter, self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self._text_rect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), shown)
        painter.end()
class SeedBox(QDoubleSpinBox):
    """A spin box for one seed, 0..2^32-1 (a QSpinBox stops at 2^31-1).

    A QDoubleSpinBox with no decimals (a double holds every integer up to 2^53 exactly) that
    reads and writes plain digits only (no exponent, sign or group separators, in any locale)
    and talks in Python ints: ``value()`` is an int and ``seedChanged`` carries an int
    (``valueChanged`` still carries the float). The arrows, the wheel and Page Up/Down step it
    and wrap around at either end (seeds are taken modulo 2^32, as on the latent pad).
    Typed text is committed on Enter or when the box loses focus."""

    seedChanged = pyqtSignal(object)    # int (a pyqtSignal(int) is a C++ int: it overflows)

    def __init__(self, value=0, parent=None):
        super().__init__(parent)
        self.setDecimals(0)
        self.setRange(0, MAX_SEED)
        self.setSingleStep(1)
        self.setWrapping(True)
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.setCorrectionMode(QDoubleSpinBox.CorrectionMode.CorrectToNearestValue)
        self.setToolTip('Seed, 0 to 4294967295 (wraps around at either end)')
        self.setValue(value)
        self.valueChanged.connect(lambda v: self.seedChanged.emit(int(round(v))))

    def value(self) -> int:
        return int(round(super().value()))

    def setValue(self, v) -> None:
        """Set the seed (clamped to 0..2^32-1); emits valueChanged/seedChanged when it changes."""
        super().setValue(float(min(max(int(v), 0), MAX_SEED)))

    def textFromValue(self, v) -> str:
        return str(int(round(v)))

    def valueFromText(self, text) -> float:
        text = text.strip()
        return float(int(text)) if text.isdigit() else float(self.value())

    def validate(self, text, pos):
        t = text.strip()
        if not t:
            return QValidator.State.Intermediate, text, pos
        if not (t.isascii() and t.isdigit()):
            return QValidator.State.Invalid, text, pos
        if int(t) > MAX_SEED:
            return QValidator.State.Invalid, text, pos
        return QValidator.State.Acceptable, text, pos

    def fixup(self, text):
        return self.textFromValue(super().value())
