"""Glue between the Directions panel, the window and the render worker (issue 16).

- Compute: the panel's request runs in the worker (``compute_directions``), with its
  progress in the panel and Cancel; a loaded set without ``std`` is measured there too.
- Sweep: the selected direction at SWEEP_SIGMAS standard deviations around the current
  recipe (its own edit replaced, other edits kept), rendered in the worker one thumbnail at
  a time on the exact path. Requested ``SWEEP_DELAY_MS`` after the last change and only while
  the panel is visible, so a slider drag pays nothing for it; a newer sweep replaces an
  older one in the worker (latest wins) and thumbnails of an older sweep are dropped here.
- From labels: ``panel.labelsRequested`` opens ``ui/label_gallery.LabelGallery`` (made on first use),
  whose faces and fits run in the worker (``label_job``); a fitted direction joins the panel's set.
- A model change: edits that cannot apply to the new model (another w_dim, layers past its
  num_ws) leave the recipe, so renders keep working.

The window adds ``panel`` as a tab and to its panels, connects ``panel.changed`` to
``apply_changes`` and ``modelLoaded`` to ``model_loaded``; nothing else.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, QTimer

from explorer.engine.direction_set import SWEEP_SIGMAS, sweep_recipes
from explorer.ui.label_gallery import LabelGallery
from explorer.ui.panels.directions import DirectionsPanel

SWEEP_DELAY_MS = 200


class DirectionsController(QObject):
    def __init__(self, window, worker, panel: DirectionsPanel | None = None):
        super().__init__(window)
        self.win = window
        self.worker = worker
        self.panel = panel if panel is not None else DirectionsPanel()
        self.sweep_id = 0
        self._sweep_recipes = None      # the recipes of the newest sweep asked for
        self._sweep_edit_vector = None  # which direction the strip shows now
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SWEEP_DELAY_MS)
        self.timer.timeout.connect(self.refresh_sweep)
        self.gallery: LabelGallery | None = None     # the "From labels…" dialog, made on first use

        p = self.panel
        p.computeRequested.connect(self.compute)
        p.cancelRequested.connect(worker.cancel_directions)
        p.measureRequested.connect(self.measure)
        p.selectionChanged.connect(self.schedule_sweep)
        p.recipeShown.connect(self.schedule_sweep)
        p.setChanged.connect(self._set_changed)
        p.labelsRequested.connect(self.open_gallery)
        p.installEventFilter(self)          # shown again (its tab chosen): refresh the sweep
        worker.directionsReady.connect(p.computed)
        worker.progress.connect(self._on_progress)
        worker.sweepThumb.connect(self._on_sweep_thumb)
        worker.sweepFinished.connect(self._on_sweep_finished)

    # ------------------------------------------------------------------ model
    def model_loaded(self, info) -> None:
        """Drop edits the new model cannot take (another w_dim or layers it lacks)."""
        recipe = self.win.recipe
        fit = tuple(e for e in recipe.edits
                    if e.w_dim == info.w_dim and (not e.layers or max(e.layers) < info.num_ws))
        if fit != tuple(recipe.edits):
            dropped = len(recipe.edits) - len(fit)
            self.win.set_recipe(recipe.replace(edits=fit))
            self.panel.show_message(f'{dropped} direction edit{"s" if dropped != 1 else ""} made for another '
                                    f'model shape left the image.', 'warn')
        if self.gallery is not None:
            self.gallery.model_changed()

    # ------------------------------------------------------------------ from labels
    def open_gallery(self) -> LabelGallery | None:
        if self.win.info is None:
            return None
        if self.gallery is None:
            self.gallery = LabelGallery(self.worker, self.panel, lambda: self.win.recipe.psi, parent=self.win)
        self.gallery.show_gallery()
        return self.gallery

    # ------------------------------------------------------------------ compute
    def compute(self, method, layers, num, samples) -> None:
        what = 'SeFa' if method == 'sefa' else 'PCA'
        self.panel.set_busy(f'Computing {what}…')
        self.worker.compute_directions(method, layers, num, samples)

    def measure(self, dset) -> None:
        self.panel.set_busy('Measuring the spread of w…')
        self.worker.measure_directions(dset)

    def _on_progress(self, kind, done, total, text) -> None:
        if kind == 'directions':
            self.panel.show_progress(done, total, text)

    def _set_changed(self) -> None:
        self._sweep_recipes = None
        self._hook_sliders()

    def _hook_sliders(self) -> None:
        # The window tracks held sliders (interactive previews, refine on release) of the controls
        # it finds; rows built after a model load need hooking too.
        self.win.refiner.hook_sliders(self.win.controls)

    # ------------------------------------------------------------------ sweep
    def eventFilter(self, obj, e):
        if obj is self.panel and e.type() == QEvent.Type.Show:
            self.schedule_sweep()
        return False

    def schedule_sweep(self) -> None:
        if self.panel.isVisible() and self.panel.sweep_edit() is not None:
            self.timer.start()

    def sweep_request(self):
        """The recipes of the selected direction's sweep now (None: nothing to sweep)."""
        edit = self.panel.sweep_edit()
        if edit is None or self.win.info is None:
            return None
        return edit, sweep_recipes(self.panel.recipe, edit, [s * edit.amount for s in SWEEP_SIGMAS])

    def refresh_sweep(self, force: bool = False) -> bool:
        """Ask the worker for the sweep unless the same one was asked for already. -> asked?"""
        req = self.sweep_request()
        if req is None:
            return False
        edit, recipes = req
        if recipes == self._sweep_recipes and not force:
            return False
        if edit.vector != self._sweep_edit_vector:
            self.panel.sweep.clear(self.panel.sweep.title())     # another direction: no stale thumbnails
        self.panel.sweep.images = [None] * len(SWEEP_SIGMAS)
        self._sweep_recipes, self._sweep_edit_vector = recipes, edit.vector
        self.sweep_id += 1
        self.worker.render_sweep(self.sweep_id, recipes)
        return True

    def _on_sweep_thumb(self, sweep_id, i, image) -> None:
        if sweep_id == self.sweep_id:
            self.panel.sweep.set_thumb(i, image)

    def _on_sweep_finished(self, sweep_id, error) -> None:
        if sweep_id == self.sweep_id and error:
            self.panel.sweep.setTitle(f'Sweep failed: {error}')
            self._sweep_recipes = None
