"""When the view renders a preview and when it refines it (plain Python, no Qt).

A control change is *interactive* while a slider or the latent pad is held down or when it
follows the previous change within ``BURST_S`` (a drag, key repeat, the wheel).
Interactive requests may come back as a progressive preview (reduced resolution, upscaled)
when the model's full frame takes longer than the worker's ``preview_ms``. A preview on
screen is refined (the same recipe at full resolution) when input pauses: at once when the
slider or pad is released, ``REFINE_IDLE_MS`` after the last change when nothing is held
(spin boxes, keys, the wheel), and ``HELD_REFINE_MS`` after the last change while a drag is
held still. The worker interrupts a refine between layers as soon as a newer request waits,
so grabbing the slider again during a slow refine (seconds at 1024 on a CPU) previews after
at most one layer; the longer pause while held keeps a slow drag from paying that layer on
every movement.

``RefineScheduler`` holds these decisions; its clock, its two timers and what it asks of
the window are injected, so it runs without Qt (``explorer.ui.refine_qt`` gives it QTimers
and tracks the held sliders).
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Protocol

BURST_S = 0.15          # a change this soon after the previous one is part of a drag/burst
REFINE_IDLE_MS = 150    # input pause after which a preview is refined to full resolution
HELD_REFINE_MS = 400    # the same while a slider or the pad is still held down


class Timer(Protocol):
    """A single-shot timer (QTimer): ``start`` (re)starts it, ``stop`` cancels it; the owner
    calls the scheduler's ``idle_elapsed`` or ``held_elapsed`` when it fires."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ViewState(NamedTuple):
    """What the window has asked for and shows (requests: ``RenderRequest``-like objects with
    ``request_id``, ``key()`` and ``option(name)``)."""
    last_request: object        # the newest request submitted (None: none yet)
    shown_request: object       # the request whose frame is on screen (None: none yet)
    shown_id: int               # the newest request id answered (a frame or an error)
    shown_preview: bool         # is the frame on screen a reduced-resolution preview?


class RefineScheduler:
    """Burst detection and the refine-when-input-pauses rule for one view."""

    def __init__(self,
                 held: Callable[[], bool],              # is a slider or the pad held down now?
                 view: Callable[[], ViewState],         # the window's requests and frame on screen
                 refine: Callable[[], None],            # render the newest recipe at full resolution
                 idle_timer: Timer,                     # REFINE_IDLE_MS -> idle_elapsed
                 held_timer: Timer,                     # HELD_REFINE_MS -> held_elapsed
                 clock: Callable[[], float] = time.monotonic):
        self._held = held
        self._view = view
        self._refine = refine
        self.idle_timer = idle_timer
        self.held_timer = held_timer
        self._clock = clock
        self._last_change_t = float('-inf')
        self._pending = False           # refine once the newest request is on screen
        self._pending_held = False      # ... even while a drag is held (the held pause asked)

    def change_is_interactive(self) -> bool:
        """A control changed: is it part of a drag or burst (a drag is held, or it follows the
        previous change within BURST_S)?"""
        now = self._clock()
        burst = now - self._last_change_t < BURST_S
        self._last_change_t = now
        return burst or self._held()

    def submitted(self, interactive: bool) -> None:
        """A request went to the worker: an interactive one (re)starts both pause timers, any
        other (a refine, a typed value) makes a pending refine moot."""
        for timer in (self.idle_timer, self.held_timer):
            if interactive:
                timer.start()           # (re)start: refine once input pauses
            else:
                timer.stop()
        self._pending = self._pending_held = False      # the input moved on: not paused now

    def idle_elapsed(self) -> None:
        """No change for REFINE_IDLE_MS: refine a preview, unless a drag is still held (then
        HELD_REFINE_MS decides, or the release)."""
        if not self._held():
            self._request(held=False)

    def held_elapsed(self) -> None:
        """No change for HELD_REFINE_MS while a drag is held still: refine now (the worker
        interrupts it if the drag moves on)."""
        if self._held():
            self._request(held=True)

    def released(self) -> None:
        """A slider or the latent pad let go: refine a preview at once."""
        self.stop()
        self._request(held=False)

    def stop(self) -> None:
        self.idle_timer.stop()
        self.held_timer.stop()

    def _request(self, held: bool) -> None:
        last = self._view().last_request
        if last is not None and last.option('interactive'):
            self._pending = True
            self._pending_held = held
            self.refine_if_due()

    def refine_if_due(self) -> None:
        """Called when a pause asked for a refine and whenever a frame arrives: once the newest
        interactive request is on screen, if it came back as a preview, refine it."""
        req, shown, shown_id, shown_preview = self._view()
        if not self._pending or req is None or shown is None:
            return
        if self._held() and not self._pending_held:
            self._pending = False       # grabbed again before the preview arrived: release refines
            return
        if shown_id < req.request_id and shown.key() != req.key():
            return      # still rendering; the window calls again with the result
        self._pending = False
        if shown_preview and req.option('interactive'):
            self._refine()
