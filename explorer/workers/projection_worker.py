"""A projection (issue #17) on its own thread, so the view keeps rendering meanwhile.

Why not a job in the render worker: a projection takes 10-60 s (minutes on a CPU), and jobs
there block every render until they end. The render worker only takes the copy of the
generator (``RenderWorker.prepare_projection`` -> ``Session.projection``: the copy is made
on the render thread, so a training-weight swap or a model load never changes the network
being optimised); this thread then runs the optimisation on that private copy.

``step(ProjectionStep)`` after every step (its ``image`` every ``preview_every`` steps),
then ``done(ProjectionResult | None, error)``: error '' on success, 'cancelled' after
``cancel()`` (within a step: the progress callback raises ``Cancelled``), else one line.
"""

from __future__ import annotations

import logging
import threading

from PyQt6.QtCore import QThread, pyqtSignal

from explorer.engine.progress import Cancelled
from explorer.errors import error_text
from explorer.workers.live import track

log = logging.getLogger(__name__)


class ProjectionWorker(QThread):
    step = pyqtSignal(object)           # ProjectionStep
    done = pyqtSignal(object, str)      # ProjectionResult (None unless ok), error ('' ok, 'cancelled')

    def __init__(self, run, parent=None):
        """run: ``run(progress) -> ProjectionResult`` (from ``Session.projection``)."""
        super().__init__(parent)
        self._run = run
        self._cancel = threading.Event()
        track(self)

    def cancel(self) -> None:
        self._cancel.set()

    def stop(self) -> None:
        """Cancel and wait for the thread (within one step)."""
        self._cancel.set()
        self.wait()

    def run(self) -> None:
        def progress(info):
            if self._cancel.is_set():
                raise Cancelled()
            self.step.emit(info)
            if self._cancel.is_set():
                raise Cancelled()
        run, self._run = self._run, None
        try:
            result = run(progress)
        except Cancelled:
            self.done.emit(None, 'cancelled')
            return
        except Exception as e:      # a failed projection never takes the app down
            log.exception('projection failed')
            self.done.emit(None, error_text(e))
            return
        self.done.emit(result, '')
