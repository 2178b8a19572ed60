"""The Qt side of the refine scheduler: two QTimers and which drags are held down.

``explorer.ui.refine`` decides; this module feeds it: a slider's press and release and the
latent pad's release, and the timers that fire after a pause.
"""

from __future__ import annotations

from typing import Callable

from PyQt6 import sip
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QSlider

from explorer.ui import refine
from explorer.ui.refine import RefineScheduler, ViewState


class HeldInputs:
    """Is a drag in progress: a slider or the latent pad held down? Sliders are tracked by
    sliderPressed (``hook``), so a change costs nothing here when none is held (searching the
    controls took ~1 ms per change)."""

    def __init__(self, pad):
        self.pad = pad                  # the latent pad (``held``, ``released``)
        self._pressed: set = set()      # sliders held down now

    def hook(self, controls, released: Callable[[], None]) -> None:
        """Track the sliders under ``controls`` (rebuilt per model: new ones are hooked) and
        call ``released`` when one is let go."""
        for s in controls.findChildren(QSlider):
            if not s.property('refine_hooked'):
                s.setProperty('refine_hooked', True)
                s.sliderPressed.connect(lambda s=s: self._pressed.add(s))
                s.sliderReleased.connect(released)

    def slider_down(self) -> bool:
        if self._pressed:
            self._pressed = {s for s in self._pressed if not sip.isdeleted(s) and s.isSliderDown()}
        return bool(self._pressed)

    def __call__(self) -> bool:
        return self.slider_down() or self.pad.held


class QtRefineScheduler(RefineScheduler):
    """A RefineScheduler on two single-shot QTimers (children of ``parent``) that follows the
    latent ``pad`` and the sliders given to ``hook_sliders``."""

    def __init__(self, parent, pad, view: Callable[[], ViewState], refine_now: Callable[[], None]):
        idle, held = QTimer(parent), QTimer(parent)
        for timer, ms in ((idle, refine.REFINE_IDLE_MS), (held, refine.HELD_REFINE_MS)):
            timer.setSingleShot(True)
            timer.setInterval(ms)
        self.inputs = HeldInputs(pad)
        super().__init__(held=self.inputs, view=view, refine=refine_now, idle_timer=idle, held_timer=held)
        idle.timeout.connect(self.idle_elapsed)
        held.timeout.connect(self.held_elapsed)
        pad.released.connect(self.released)

    def hook_sliders(self, controls) -> None:
        """Refine as soon as a slider under ``controls`` is released (sliders are rebuilt per model)."""
        self.inputs.hook(controls, self.released)
