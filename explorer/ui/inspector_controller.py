"""Look inside (issue #20): the Inspect, Compare and Performance tabs and their wiring.

- ``InspectorController``: asks the render worker for the model's layer list when a model
  loads, and for a capture of the selected layer (``RenderWorker.inspect``, latest wins)
  whenever the frame shown, the layer or a view option changes, but only while the Inspect
  tab is visible: with the tab closed nothing is requested, so rendering costs what it did
  (the capture's forward hook lives only inside the worker's inspect job). Opening the tab
  catches up with the frame on screen.
- ``CompareController``: pin the frame on screen as A; B follows the full-resolution frames.
- ``PerformanceController``: feeds every shown frame's timings to the Performance tab and
  sets the worker's FPS cap.

The window creates them with ``attach_look_inside(window)``; nothing else in the window
knows about them.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QEvent, QObject

from explorer.ui.compare_view import CompareWidget
from explorer.ui.panels.inspector import InspectorPanel
from explorer.ui.performance_panel import PerformancePanel


def describe(recipe, timings=None) -> str:
    """A short text for a frame: 'seed 3 · psi 0.7 · fast fp32'."""
    if recipe is None:
        return ''
    parts = []
    seeds = getattr(recipe, 'seeds', ())
    if seeds:
        parts.append('seed ' + ','.join(str(s) for s in seeds))
    psi = getattr(recipe, 'psi', None)
    if psi is not None:
        parts.append(f'psi {psi:g}')
    if getattr(recipe, 'edits', ()):
        parts.append(f'{len(recipe.edits)} edit(s)')
    if timings and timings.get('path'):
        parts.append(timings['path'])
    return '  ·  '.join(parts)


class InspectorController:
    def __init__(self, window, worker, panel: InspectorPanel | None = None):
        self.window = window
        self.worker = worker
        self.panel = panel or InspectorPanel()
        self._next_id = 0
        self._shown_id = 0
        self.requested: list = []           # (id, recipe, layer, options), for tests
        worker.layersReady.connect(self._on_layers)
        worker.inspectReady.connect(self._on_result)
        window.modelLoaded.connect(self.model_loaded)
        window.frameShown.connect(lambda _rid: self.request())
        self.panel.changed.connect(self.request)
        self.panel.installEventFilter(_ShowFilter(self.panel, self.request))

    def model_loaded(self, _info=None) -> None:
        self.panel.set_layers([])
        self.panel.result = None
        self.panel.view.set_image(None)
        self.worker.inspect_layers()

    def active(self) -> bool:
        return self.panel.isVisible()

    def request(self) -> int | None:
        """Ask for the selected layer of the recipe on screen (only while the tab is visible)."""
        layer = self.panel.layer()
        recipe = self.window.frame_recipe or getattr(self.window.last_request, 'recipe', None)
        if not self.active() or layer is None or recipe is None:
            return None
        self._next_id += 1
        opts = self.panel.options()
        self.requested.append((self._next_id, recipe, layer, opts))
        self.worker.inspect(self._next_id, recipe, layer, opts)
        return self._next_id

    def _on_layers(self, layers, error):
        if error:
            self.panel.show_error(f'Layers: {error}')
            return
        self.panel.set_layers(layers)

    def _on_result(self, inspect_id, result, error):
        if inspect_id < self._shown_id:
            return      # stale
        self._shown_id = inspect_id
        if error:
            self.panel.show_error(error)
            return
        self.panel.show_result(result)


class _ShowFilter(QObject):
    """Calls ``on_show`` when the watched widget is shown (its tab is opened)."""

    def __init__(self, parent, on_show):
        super().__init__(parent)
        self._on_show = on_show

    def eventFilter(self, obj, e):
        if e.type() == QEvent.Type.Show:
            self._on_show()
        return False


class CompareController:
    def __init__(self, window, widget: CompareWidget | None = None):
        self.window = window
        self.widget = widget or CompareWidget()
        self._timings = {}
        window.worker.resultReady.connect(self._on_result)
        window.frameShown.connect(self._frame_shown)
        self.widget.pinRequested.connect(self.pin)
        self.widget.installEventFilter(_ShowFilter(self.widget, self.widget.refresh))

    def _on_result(self, res):
        self._timings = {res.request_id: res.timings}

    def _frame_shown(self, rid):
        w = self.window
        if w.frame is not None and not w.shown_preview:
            self.widget.set_live(w.frame, describe(w.frame_recipe, self._timings.get(rid)))

    def pin(self) -> None:
        w = self.window
        if w.frame is None:
            return
        self.widget.pin(w.frame, self.widget.b_text or describe(w.frame_recipe))
        if self.widget.b is None:
            self.widget.set_live(w.frame, describe(w.frame_recipe))


class PerformanceController:
    def __init__(self, window, panel: PerformancePanel | None = None):
        self.window = window
        self.panel = panel or PerformancePanel()
        self._results = {}
        window.worker.resultReady.connect(self._on_result)
        window.frameShown.connect(self._frame_shown)
        window.modelLoaded.connect(lambda info: self.panel.set_device(info.device))
        window.modelLoaded.connect(lambda _info: self.show_exports())
        self.panel.capChanged.connect(self.set_cap)

    def show_exports(self) -> None:
        """The Exports line: what exports of the current recipe render with (the window's exporter
        asks File > Reference synthesis for exports and the model; it calls this when that changes)."""
        exporter = getattr(self.window, 'exporter', None)
        if exporter is not None and self.window.info is not None:
            self.panel.set_exports(exporter.synthesis_label(self.window.recipe))

    def set_cap(self, fps: float) -> None:
        self.window.worker.min_frame_s = 1.0 / fps if fps > 0 else 0.0

    def _on_result(self, res):
        self._results = {res.request_id: res.timings}

    def _frame_shown(self, rid):
        timings = self._results.get(rid, {})
        lat = self.window.latencies_ms[-1] if self.window.latencies_ms else None
        self.show_exports()
        self.panel.add_frame(timings, lat, time.perf_counter())


class LookInside:
    """The three controllers, for the window to hold."""

    def __init__(self, window):
        self.inspector = InspectorController(window, window.worker)
        self.compare = CompareController(window)
        self.performance = PerformanceController(window)
        window.add_tab(self.inspector.panel, 'Inspect')
        window.add_tab(self.compare.widget, 'Compare')
        window.add_tab(self.performance.panel, 'Performance')


def attach_look_inside(window) -> LookInside:
    return LookInside(window)
