"""Inspect: one synthesis layer of the current image (the layer list, how to show it, statistics).

Plain widgets: the list of layers (labelled ``b64.conv1 64x64 x256``), the view choices (mean
over channels, one channel, the top-3 principal components as RGB; per-image or fixed range;
linear or dB; the centred spectrum with a window), a zoomable view with a pixel readout and
the layer's statistics. ``explorer.ui.inspector_controller`` asks the render worker for
captures; this panel only says what is selected (``changed``) and shows what comes back.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QSignalBlocker, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.activation_view import InspectOptions
from explorer.ui.zoom_view import ZoomView, zoom_combo

MODE_TEXT = (('mean', 'Mean over channels'), ('channel', 'One channel'), ('pca', 'Top-3 PCA as RGB'))


class InspectorPanel(QWidget):
    changed = pyqtSignal()          # the layer or a view option changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers: list = []
        self.result = None              # the Inspection shown
        outer = QHBoxLayout(self)

        side = QVBoxLayout()
        outer.addLayout(side, 0)
        side.addWidget(QLabel('Synthesis layers'))
        self.layer_list = QListWidget()
        self.layer_list.setMinimumWidth(260)
        self.layer_list.currentRowChanged.connect(self._layer_changed)
        side.addWidget(self.layer_list, 1)

        box = QGroupBox('Show')
        form = QFormLayout(box)
        self.mode = QComboBox()
        for key, text in MODE_TEXT:
            self.mode.addItem(text, key)
        form.addRow('View', self.mode)
        self.channel = QSpinBox()
        self.channel.setToolTip('Channel index (type, arrows or the mouse wheel)')
        form.addRow('Channel', self.channel)
        self.normalize = QComboBox()
        self.normalize.addItem('Per image (min..max)', 'image')
        self.normalize.addItem('Fixed range', 'fixed')
        form.addRow('Range', self.normalize)
        rng = QHBoxLayout()
        self.lo, self.hi = QDoubleSpinBox(), QDoubleSpinBox()
        for w, v in ((self.lo, -1.0), (self.hi, 1.0)):
            w.setRange(-1000.0, 1000.0)
            w.setDecimals(2)
            w.setSingleStep(0.5)
            w.setValue(v)
            rng.addWidget(w)
        form.addRow('Fixed lo..hi', rng)
        self.scale = QComboBox()
        self.scale.addItem('Linear', 'linear')
        self.scale.addItem('dB (20 log10 |v|)', 'db')
        form.addRow('Scale', self.scale)
        self.fft = QCheckBox('Spectrum (centred |FFT|, dB)')
        form.addRow(self.fft)
        self.window = QComboBox()
        self.window.addItem('Hann window', 'hann')
        self.window.addItem('No window', 'none')
        form.addRow('Window', self.window)
        side.addWidget(box)
        self.stats_label = QLabel('')
        self.stats_label.setWordWrap(True)
        side.addWidget(self.stats_label)

        main = QVBoxLayout()
        outer.addLayout(main, 1)
        self.view = ZoomView()
        main.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addWidget(zoom_combo(self.view))
        self.readout = QLabel('')
        row.addWidget(self.readout, 1)
        main.addLayout(row)

        for w in (self.mode, self.normalize, self.scale, self.window):
            w.currentIndexChanged.connect(self._option_changed)
        for w in (self.channel, self.lo, self.hi):
            w.valueChanged.connect(self._option_changed)
        self.fft.toggled.connect(self._option_changed)
        self.view.hovered.connect(self._hover)
        self._sync_enabled()

    # ------------------------------------------------------------------ state
    def set_layers(self, layers) -> None:
        """The loaded model's layers (LayerInfo list); keeps the selection by name, else the
        first 64 px layer (or the middle one)."""
        old = self.layer()
        self.layers = list(layers or [])
        with QSignalBlocker(self.layer_list):
            self.layer_list.clear()
            for x in self.layers:
                self.layer_list.addItem(x.label)
            names = [x.name for x in self.layers]
            if old in names:
                row = names.index(old)
            else:
                row = next((i for i, x in enumerate(self.layers) if x.height == 64 and x.kind != 'torgb'),
                           len(self.layers) // 2)
            if self.layers:
                self.layer_list.setCurrentRow(row)
        self._sync_enabled()
        self.changed.emit()

    def select(self, name: str) -> None:
        self.layer_list.setCurrentRow([x.name for x in self.layers].index(name))

    def layer(self) -> str | None:
        row = self.layer_list.currentRow()
        return self.layers[row].name if 0 <= row < len(self.layers) else None

    def options(self) -> InspectOptions:
        lo, hi = self.lo.value(), self.hi.value()
        fixed = self.normalize.currentData() == 'fixed' and hi > lo
        return InspectOptions(mode=self.mode.currentData(), channel=self.channel.value(),
                              normalize='fixed' if fixed else 'image', lo=lo if fixed else -1.0,
                              hi=hi if fixed else 1.0, scale=self.scale.currentData(), fft=self.fft.isChecked(),
                              window=self.window.currentData())

    def _layer_changed(self, _row):
        self._sync_enabled()
        self.changed.emit()

    def _option_changed(self, *_):
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self):
        row = self.layer_list.currentRow()
        channels = self.layers[row].channels if 0 <= row < len(self.layers) else 1
        with QSignalBlocker(self.channel):
            self.channel.setRange(0, max(channels - 1, 0))
        self.channel.setSuffix(f'  of {channels}')
        self.channel.setEnabled(self.mode.currentData() == 'channel')
        fixed = self.normalize.currentData() == 'fixed'
        self.lo.setEnabled(fixed)
        self.hi.setEnabled(fixed)
        self.window.setEnabled(self.fft.isChecked())
        self.scale.setEnabled(not self.fft.isChecked())

    # ------------------------------------------------------------------ results
    def show_result(self, result) -> None:
        self.result = result
        self.view.set_image(result.image)
        s = result.stats
        t = result.timings
        self.stats_label.setStyleSheet('')
        self.stats_label.setText(
            f'<b>{result.layer.label}</b><br>mean {s["mean"]:.4g} · std {s["std"]:.4g}<br>'
            f'min {s["min"]:.4g} · max {s["max"]:.4g}<br>'
            f'clamped {100 * s["clamped"]:.2f}%'
            + (f' (at ±{result.layer.clamp:g})' if result.layer.clamp else ' (no clamp)')
            + f'<br><span style="color:#888">capture {t.get("capture_ms", 0):.1f} ms · '
              f'view {t.get("view_ms", 0):.1f} ms</span>')

    def show_error(self, text: str) -> None:
        self.stats_label.setStyleSheet('color: #d33;')
        self.stats_label.setText(text)

    def readout_text(self, x: int, y: int) -> str:
        """'x 3, y 5 · value 0.25' for the pixel (x, y) of the result shown ('' outside)."""
        r = self.result
        if r is None or x < 0 or y >= r.values.shape[0] or x >= r.values.shape[1]:
            return ''
        v = np.asarray(r.values[y, x])
        o = r.options
        if o.fft:
            h, w = r.values.shape[:2]
            return f'fx {x - w // 2:+d}, fy {y - h // 2:+d} cycles  ·  {float(v):.1f} dB'
        rgb = r.image[y, x]
        where = f'x {x}, y {y}  ·  RGB {int(rgb[0])},{int(rgb[1])},{int(rgb[2])}'
        if v.ndim:
            return where + '  ·  PC ' + ', '.join(f'{float(c):.3g}' for c in v)
        unit = ' dB' if o.scale == 'db' else ''
        return f'{where}  ·  value {float(v):.4g}{unit}'

    def _hover(self, x, y):
        self.readout.setText(self.readout_text(x, y))
