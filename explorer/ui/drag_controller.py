"""Drag to edit (issue #19): DragGAN-style point dragging on the main view.

- ``DragPoints`` (plain Python) holds the handle/target pairs and the mask: the first click
  adds a handle, the next its target; points can be hit, moved and removed; the mask is a
  bool [H, W] array at full resolution painted with a round brush (True = may move).
- ``DragController`` wires the Drag panel, the main view (its overlay and pointer events)
  and the render worker: Start hands the current recipe, the complete pairs and the mask
  to the worker (the engine optimises the recipe's final ws, explorer.engine.drag); every
  step the handles move to their tracked positions and, every few steps, the view shows
  the image. When the drag ends (done, out of steps or stopped) the dragged W+ becomes a
  stored latent and the recipe's base with no mixing and no edits (the same image), one
  undo step through ``window.restore_recipe``: it can be mixed, edited, animated, exported.

Coordinates are the model's full-resolution image pixels (the view maps widget points to
them whatever size the view or a preview frame has).
"""

from __future__ import annotations

import math
import time

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal

from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import StoredLatent, source_label
from explorer.ui.image_view import MASK_RGBA
from explorer.ui.latents_controller import kept_recipe
from explorer.ui.panels.drag import DragPanel

HIT_SCREEN_PX = 9           # a press this close to a point (on screen) grabs it
IMAGE_EVERY = 2             # the worker sends the image every this many steps


class DragPoints:
    """Handle/target pairs and the mask for an image of ``size`` x ``size`` pixels."""

    def __init__(self, size: int):
        self.size = int(size)
        self.pairs: list[list] = []         # [[handle (x, y), target (x, y) | None]]
        self.mask = np.zeros((self.size, self.size), dtype=bool)

    # -- points ----------------------------------------------------------------------
    def pixel(self, x: float, y: float) -> tuple[int, int]:
        """The pixel that holds continuous point (x, y), clamped to the image."""
        clamp = lambda v: min(max(int(math.floor(v)), 0), self.size - 1)     # noqa: E731
        return clamp(x), clamp(y)

    def inside(self, x: float, y: float) -> bool:
        return 0 <= x < self.size and 0 <= y < self.size

    def add(self, x: float, y: float) -> tuple[int, str]:
        """A click at (x, y): the target of a handle that has none, else a new handle."""
        p = self.pixel(x, y)
        if self.pairs and self.pairs[-1][1] is None:
            self.pairs[-1][1] = p
            return len(self.pairs) - 1, 'target'
        self.pairs.append([p, None])
        return len(self.pairs) - 1, 'handle'

    def hit(self, x: float, y: float, radius: float):
        """(index, 'handle' | 'target') of the point nearest (x, y) within ``radius`` pixels (of
        its pixel centre), or None."""
        best, best_d = None, float(radius)
        for i, (h, t) in enumerate(self.pairs):
            for which, p in (('handle', h), ('target', t)):
                if p is None:
                    continue
                d = math.hypot(p[0] + 0.5 - x, p[1] + 0.5 - y)
                if d <= best_d:
                    best, best_d = (i, which), d
        return best

    def move(self, i: int, which: str, x: float, y: float) -> None:
        self.pairs[i][0 if which == 'handle' else 1] = self.pixel(x, y)

    def remove(self, i: int) -> None:
        del self.pairs[i]

    def reset(self) -> None:
        self.pairs = []

    def complete(self) -> tuple[list, list]:
        """(handles, targets) of the pairs that have a target."""
        done = [(h, t) for h, t in self.pairs if t is not None]
        return [h for h, _ in done], [t for _, t in done]

    def set_handles(self, points) -> None:
        """The tracked handle positions (in the order of ``complete()``), rounded to pixels."""
        it = iter(points)
        for pair in self.pairs:
            if pair[1] is not None:
                x, y = next(it)
                pair[0] = self.pixel(x + 0.5, y + 0.5)

    def dangling(self) -> bool:
        return bool(self.pairs) and self.pairs[-1][1] is None

    # -- the mask --------------------------------------------------------------------
    def paint(self, x: float, y: float, radius: float, value: bool = True) -> None:
        """Set the pixels whose centres lie within ``radius`` of (x, y) to ``value``."""
        r = float(radius)
        x0, x1 = max(int(math.floor(x - r)), 0), min(int(math.ceil(x + r)) + 1, self.size)
        y0, y1 = max(int(math.floor(y - r)), 0), min(int(math.ceil(y + r)) + 1, self.size)
        if x0 >= x1 or y0 >= y1:
            return
        ys, xs = np.mgrid[y0:y1, x0:x1]
        disk = (xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= r * r
        self.mask[y0:y1, x0:x1][disk] = value

    def stroke(self, a, b, radius: float, value: bool = True) -> None:
        """Paint along the segment a -> b (brush stamps at most half a radius apart)."""
        n = max(1, int(math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / max(radius / 2, 0.5))))
        for k in range(1, n + 1):
            t = k / n
            self.paint(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, radius, value)

    def mask_rgba(self) -> np.ndarray | None:
        if not self.mask.any():
            return None
        out = np.zeros(self.mask.shape + (4,), np.uint8)
        out[self.mask] = MASK_RGBA
        return out


def drag_name(recipe: Recipe, now: float | None = None) -> str:
    """'drag 12:03 (seed 42)'."""
    what = source_label(recipe.seeds[0], recipe.latents) if len(recipe.seeds) == 1 else \
        f'blend of {len(recipe.seeds)}'
    return f'drag {time.strftime("%H:%M", time.localtime(now))} ({what})'


def status_text(step: int, rate: float | None, distances) -> str:
    """'step 42 · 18.3 steps/s · distances 3.2, 1.0 px'."""
    parts = [f'step {step}']
    if rate is not None:
        parts.append(f'{rate:.1f} steps/s')
    if distances:
        parts.append('distance' + ('s ' if len(distances) > 1 else ' ') +
                     ', '.join(f'{d:.1f}' for d in distances) + ' px')
    return ' · '.join(parts)


class DragController(QObject):
    """The Drag panel, the view's overlay and pointer, and drag jobs in ``window.worker``."""

    stepShown = pyqtSignal(int)             # a drag step reached the UI (its step count)
    finished = pyqtSignal(object, str)      # DragResult (None on error), error: the recipe is updated

    def __init__(self, window, panel: DragPanel | None = None):
        super().__init__(window)
        self.window = window
        self.view = window.view
        self.worker = window.worker
        self.panel = panel or DragPanel()
        self.points = DragPoints(1)
        self.running = False
        self._grab = None                   # (index, which) being moved
        self._paint = None                  # (last point, value) while painting
        self._recipe: Recipe | None = None  # the recipe the running drag started from
        self._t0 = self._t_first = 0.0
        self._first_step = 0
        self.rate: float | None = None
        self.last_step = 0
        p = self.panel
        p.modeToggled.connect(self.set_mode)
        p.resetPoints.connect(self.reset_points)
        p.clearMask.connect(self.clear_mask)
        p.startRequested.connect(self.start)
        p.stopRequested.connect(self.stop)
        self.view.imagePressed.connect(self._pressed)
        self.view.imageMoved.connect(self._moved)
        self.view.imageReleased.connect(self._released)
        self.worker.dragStep.connect(self._on_step)
        self.worker.dragFinished.connect(self._on_finished)
        window.modelLoaded.connect(self.model_loaded)

    # ------------------------------------------------------------------ model and mode
    def model_loaded(self, info) -> None:
        if self.running:
            return      # the drag's result still comes; the new model's size applies after
        self.points = DragPoints(info.resolution)
        self.view.set_full_size(info.resolution, info.resolution)
        self._refresh()

    @property
    def mode(self) -> bool:
        return self.panel.mode.isChecked()

    def set_mode(self, on: bool) -> None:
        if self.panel.mode.isChecked() != bool(on):
            self.panel.mode.setChecked(bool(on))       # emits modeToggled -> here again
            return
        self.view.set_pointer_mode(bool(on))
        self._grab = self._paint = None
        self._refresh()

    def reset_points(self) -> None:
        if self.running:
            return
        self.points.reset()
        self._refresh()

    def clear_mask(self) -> None:
        if self.running:
            return
        self.points.mask[:] = False
        self._refresh()

    def _refresh(self) -> None:
        pts = self.points
        if self.mode or self.running:
            self.view.set_overlay([h for h, _ in pts.pairs], [t for _, t in pts.pairs], pts.mask_rgba())
        else:
            self.view.set_overlay([], [], None)
        self.panel.set_counts(len(pts.complete()[0]), pts.dangling(), bool(pts.mask.any()))

    # ------------------------------------------------------------------ the pointer
    def _hit_radius(self) -> float:
        return max(HIT_SCREEN_PX / self.view.screen_pixels_per_image_pixel(), 0.75)

    def _pressed(self, x, y, button) -> None:
        if self.running or self.window.info is None:
            return
        left = button == Qt.MouseButton.LeftButton
        if self.panel.brush.isChecked():
            self._paint = ((x, y), left)
            self.points.paint(x, y, self.panel.radius.value(), left)
            self._refresh()
            return
        hit = self.points.hit(x, y, self._hit_radius())
        if not left:
            if hit is not None:
                self.points.remove(hit[0])
                self._refresh()
            return
        if hit is not None:
            self._grab = hit
        elif self.points.inside(x, y):
            self._grab = self.points.add(x, y)      # keep the button down to place it exactly
        self._refresh()

    def _moved(self, x, y) -> None:
        if self._paint is not None:
            last, value = self._paint
            self.points.stroke(last, (x, y), self.panel.radius.value(), value)
            self._paint = ((x, y), value)
            self._refresh()
        elif self._grab is not None:
            self.points.move(*self._grab, x, y)
            self._refresh()

    def _released(self, x, y) -> None:
        self._moved(x, y)
        self._grab = self._paint = None

    # ------------------------------------------------------------------ the drag
    def start(self) -> bool:
        w = self.window
        if self.running or w.info is None:
            return False
        handles, targets = self.points.complete()
        if not handles:
            self._say('Add a handle (click) and its target (click again) first.', error=True)
            return False
        mask = self.points.mask.copy() if self.points.mask.any() else None
        self._recipe = w.recipe
        self.running = True
        self.rate = None
        self.last_step = 0
        self._t0 = time.perf_counter()
        self._first_step = 0
        self.panel.set_running(True)
        self._say(f'Dragging {len(handles)} point{"s" if len(handles) > 1 else ""}…')
        self.worker.drag(w.recipe, handles, targets, mask=mask, steps=self.panel.steps.value(),
                         image_every=IMAGE_EVERY)
        self._refresh()
        return True

    def stop(self) -> None:
        if self.running:
            self.worker.cancel_drag()
            self._say('Stopping…')

    def _on_step(self, step, points, distances, image) -> None:
        if not self.running:
            return
        now = time.perf_counter()
        if self._first_step == 0:           # the first step also builds the start features
            self._first_step, self._t_first = step, now
            self.rate = step / max(now - self._t0, 1e-9)
        elif step > self._first_step:
            self.rate = (step - self._first_step) / max(now - self._t_first, 1e-9)
        self.last_step = step
        self.points.set_handles(points)
        if image is not None:
            self.view.set_frame(image)
        self._refresh()
        self._say(status_text(step, self.rate, distances))
        self.stepShown.emit(int(step))

    def _on_finished(self, result, error) -> None:
        if not self.running:
            return
        self.running = False
        self.panel.set_running(False)
        recipe, self._recipe = self._recipe, None
        w = self.window
        if error:
            self._say(f'Drag failed: {error}', error=True)
            w.set_recipe(w.recipe, exact=True)      # the view showed the drag's images: show the recipe again
            self._refresh()
            self.finished.emit(None, error)
            return
        self.points.set_handles(result.points)
        how = 'stopped' if result.cancelled else ('reached the targets' if result.reached else 'out of steps')
        text = status_text(result.steps, self.rate, result.distances) + f' · {how}'
        if result.steps > 0:
            lat = StoredLatent.from_array(result.ws, name=drag_name(recipe))
            latents_panel = getattr(w, 'latents_panel', None)
            if latents_panel is not None:
                latents_panel.add(lat, select=True)
            w.restore_recipe(kept_recipe(recipe, lat))
            text += f' · "{lat.name}" is the base latent now (Saved tab)'
        else:
            w.set_recipe(w.recipe, exact=True)
        self._refresh()
        self._say(text)
        self.finished.emit(result, '')

    def _say(self, text, error=False) -> None:
        self.panel.status.setText(text)
        self.panel.status.setStyleSheet('color: #d33;' if error else '')
        if error:
            self.window._status_error(text)
        else:
            self.window._status(text)

    def shutdown(self) -> None:
        self.stop()
