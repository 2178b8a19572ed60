"""Performance: rolling graphs of the render, mapping and frame-to-screen times, FPS, the path
running (export pixels: fast fp32 or reference synthesis; view: fast fp32 / fast bf16; device,
threads), what exports render with (File > Reference synthesis for exports), peak device memory
and an FPS cap.

Fed from what every shown frame already carries (``RenderResult.timings``: 'synthesis_ms' or
'total_ms', 'mapping_ms', 'path', 'peak_mem_mb') and the window's submit -> shown latency.
The cap is the render worker's minimum time between frames (``RenderWorker.min_frame_s``).
"""

from __future__ import annotations

import time
from collections import deque

import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

HISTORY = 300           # frames kept in the graphs
SERIES = (('render_ms', 'render (synthesis)', '#4e9af1'), ('mapping_ms', 'mapping', '#f5a623'),
          ('screen_ms', 'submit → on screen', '#7ed321'))


def path_text(timings: dict, exports: str | None = None) -> str:
    """The path a frame took, for people: 'fast fp32' / 'fast bf16' (the view), or for the
    frame an export would write 'export pixels (fast fp32)' / 'export pixels (reference)'.
    ``exports``: what exports of this recipe render with ('fast fp32' | 'reference', see
    ``Exporter.synthesis_label``); an exact frame on another path is not an export's pixels."""
    path = timings.get('path', 'exact')
    synthesis = timings.get('synthesis')
    if path == 'exact' and synthesis:
        return f'export pixels ({synthesis})' if exports in (None, synthesis) else synthesis
    return path


class PerformancePanel(QWidget):
    capChanged = pyqtSignal(float)      # frames per second, 0 = no cap

    def __init__(self, parent=None):
        super().__init__(parent)
        self.samples = {key: deque(maxlen=HISTORY) for key, _, _ in SERIES}
        self.times: deque = deque(maxlen=HISTORY)          # perf_counter of each frame shown
        lay = QHBoxLayout(self)
        self.plot = pg.PlotWidget(background='#202124')
        self.plot.setLabel('left', 'ms')
        self.plot.setLabel('bottom', 'frame')
        self.plot.addLegend(offset=(10, 10))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curves = {key: self.plot.plot([], [], pen=pg.mkPen(colour, width=2), name=name)
                       for key, name, colour in SERIES}
        lay.addWidget(self.plot, 1)
        side = QVBoxLayout()
        form = QFormLayout()
        self.fps_label = QLabel('–')
        self.render_label = QLabel('–')
        self.path_label = QLabel('–')
        self.path_label.setMinimumWidth(self.path_label.fontMetrics().horizontalAdvance('export pixels (reference)'))
        self.exports_label = QLabel('–')
        self.exports_label.setToolTip('What Save image, Copy image, batch, grid and video exports render with '
                                      '(File > Reference synthesis for exports)')
        self.exports = None             # 'fast fp32' | 'reference' (None: not known yet)
        self.device_label = QLabel('–')
        self.mem_label = QLabel('–')
        for text, w in (('FPS', self.fps_label), ('Render (median)', self.render_label), ('Path', self.path_label),
                        ('Exports', self.exports_label), ('Device', self.device_label),
                        ('Peak memory', self.mem_label)):
            form.addRow(text, w)
        self.cap = QSpinBox()
        self.cap.setRange(0, 240)
        self.cap.setSpecialValueText('no cap')
        self.cap.setSuffix(' fps')
        self.cap.setToolTip('Render at most this many frames per second (saves power; 0: as fast as possible)')
        self.cap.valueChanged.connect(lambda v: self.capChanged.emit(float(v)))
        form.addRow('FPS cap', self.cap)
        side.addLayout(form)
        side.addStretch(1)
        lay.addLayout(side, 0)

    def set_device(self, text: str) -> None:
        self.device_label.setText(text)

    def set_exports(self, text: str) -> None:
        """What exports render with now: 'fast fp32' | 'reference'."""
        self.exports = text
        self.exports_label.setText(text)

    def add_frame(self, timings: dict, screen_ms: float | None, now: float | None = None) -> None:
        """One shown frame: its timings (RenderResult.timings) and submit -> shown ms."""
        now = time.perf_counter() if now is None else now
        render = timings.get('synthesis_ms', timings.get('total_ms'))
        for key, v in (('render_ms', render), ('mapping_ms', timings.get('mapping_ms')), ('screen_ms', screen_ms)):
            self.samples[key].append(float('nan') if v is None else float(v))
        self.times.append(now)
        path = path_text(timings, self.exports)
        if timings.get('preview'):
            path += f'  ·  preview {timings.get("resolution")} px'
        self.path_label.setText(path)
        mem = timings.get('peak_mem_mb')
        if mem is not None:
            self.mem_label.setText(f'{mem:,.0f} MiB')
        if self.isVisible():
            self.redraw()

    def fps(self) -> float:
        """Frames shown per second over the last 2 s."""
        if not self.times:
            return 0.0
        recent = [t for t in self.times if self.times[-1] - t < 2.0]
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0

    def redraw(self) -> None:
        for key, curve in self.curves.items():
            data = list(self.samples[key])
            curve.setData(data)
            curve.setSymbol('o' if len(data) == 1 else None)     # one frame so far: a dot, not nothing
        n = max((len(v) for v in self.samples.values()), default=0)
        self.plot.setXRange(0, max(n - 1, 10), padding=0.02)
        fps = self.fps()
        self.fps_label.setText(f'{fps:.1f}' if fps else '– (idle)')
        r = sorted(v for v in self.samples['render_ms'] if v == v)
        self.render_label.setText(f'{r[len(r) // 2]:.1f} ms' if r else '–')

    def showEvent(self, e):
        self.redraw()
        super().showEvent(e)
