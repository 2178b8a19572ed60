"""The training worker: a QThread that drives ``Trainer.run()`` for the GUI.

Qt glue only: setting a run up (config, resume, finetune, dataset, the preview grid) is
``explorer.training.jobs``, shared with ``main.py train``. Shape of a superqt generator
worker: the trainer yields a progress dict per tick and checks pause / stop before every
minibatch; the worker turns those into signals.

- ``progress(dict)`` at most ``max_rate_hz`` times a second (the newest tick wins; the
  final tick of a run always goes out). Nothing is emitted while paused.
- ``state(str)``: 'starting', 'running', 'paused', 'stopping', 'finished', 'stopped', 'error'.
- ``weights_ready(dict)`` every ``weights_every`` ticks: a network record of G_ema
  ({'class', 'init_kwargs', 'state_dict', 'kimg', 'run'}) whose tensors are a CPU copy taken
  under the trainer's lock. The render worker loads that copy; nobody shares the
  module being trained.
- ``preview_ready(ndarray, float)``: a uint8 HWC grid of fixed seeds rendered from
  G_ema in this thread (between minibatches), with the kimg it shows.
- ``snapshot_ready(str)`` for every snapshot written; ``stop()`` writes a final one.
- ``errored(str)``: any exception (a bad dataset folder, an incompatible checkpoint);
  ``warned(str)``: warnings raised while the run is set up.
- ``QThread.finished`` when the thread is done, whatever the outcome.

The job names the Training tab uses (``TrainingJob``, ``inspect_run``, the presets) are
re-exported here: the UI reaches training code only through the workers it starts.
"""

from __future__ import annotations

import threading
import time
import warnings

from PyQt6.QtCore import QThread, pyqtSignal

from explorer.errors import error_text
from explorer.training.jobs import (
    CUSTOM_NETWORK,
    DEFAULT_KIMG,
    NETWORK_PRESETS,
    ResumableRun,
    TrainingJob,
    inspect_run,
    preview_grid,
    trainer_for_job,
)
from explorer.workers.live import track

__all__ = ['CUSTOM_NETWORK', 'DEFAULT_KIMG', 'NETWORK_PRESETS', 'ResumableRun', 'TrainingJob', 'TrainingWorker',
           'inspect_run']


class TrainingWorker(QThread):
    progress = pyqtSignal(object)           # dict (see Trainer.run)
    state = pyqtSignal(str)
    weights_ready = pyqtSignal(object)      # network record with CPU tensors
    preview_ready = pyqtSignal(object, float)  # uint8 HWC grid, kimg
    snapshot_ready = pyqtSignal(str)
    errored = pyqtSignal(str)
    warned = pyqtSignal(str)                # warnings while setting up (e.g. finetuning without a D)
    log = pyqtSignal(str)

    def __init__(self, job: TrainingJob, max_rate_hz: float = 5.0, trainer_factory=None, parent=None):
        super().__init__(parent)
        self.job = job
        self.min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        self._trainer_factory = trainer_factory or self._make_trainer
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()          # set while the loop sits paused between minibatches
        self._lock = threading.Lock()
        self.trainer = None                     # set in the thread once built
        self.last_progress: dict | None = None  # newest tick seen (emitted or not)
        self.last_snapshot: str | None = None
        self.final_state: str | None = None
        self.error: str | None = None
        self.num_emitted = 0
        track(self)  # explorer.workers.live: tests fail when one is left running

    # ------------------------------------------------------------------ UI-thread API
    def pause(self) -> None:
        if not self._paused.is_set() and self.isRunning():
            self._paused.set()
            self.state.emit('paused')

    def resume(self) -> None:
        if self._paused.is_set():
            self._idle.clear()
            self._paused.clear()
            if self.isRunning() and not self._stop.is_set():
                self.state.emit('running')

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def idle(self) -> bool:
        """Paused and the minibatch that was in flight has finished."""
        return self._paused.is_set() and self._idle.is_set()

    def stop(self, wait_ms: int | None = None) -> bool:
        """Ask the run to stop after the current minibatch (it writes a final snapshot).

        With ``wait_ms`` also block until the thread has finished; returns whether it has.
        """
        self._stop.set()
        self._paused.clear()
        if self.isRunning():
            self.state.emit('stopping')
        if wait_ms is not None and self.isRunning():
            return self.wait(wait_ms)
        return not self.isRunning()

    # ------------------------------------------------------------------ worker thread
    def _make_trainer(self, job: TrainingJob):
        return trainer_for_job(job, log=self.log.emit)

    def run(self) -> None:
        self.state.emit('starting')
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                trainer = self._trainer_factory(self.job)
            for w in caught:
                self.warned.emit(str(w.message))
            self.trainer = trainer
            if self._stop.is_set():  # stopped while the dataset / checkpoint was loading
                self.final_state = 'stopped'
                self.state.emit('stopped')
                return
            self.state.emit('paused' if self._paused.is_set() else 'running')
            self._hand_over_weights(trainer)
            last_emit = 0.0
            pending = None
            for info in trainer.run(should_stop=self._stop.is_set, is_paused=self._paused.is_set):
                if info.get('paused'):
                    self._idle.set()  # the loop idles between minibatches; nothing to report
                    continue
                self._idle.clear()
                self.last_progress = info
                final = info.get('done') or info.get('stopped')
                if info.get('snapshot'):
                    self.last_snapshot = info['snapshot']
                    self.snapshot_ready.emit(info['snapshot'])
                if not final and self.job.weights_every > 0 and info['tick'] % self.job.weights_every == 0:
                    self._hand_over_weights(trainer)
                now = time.monotonic()
                if final or now - last_emit >= self.min_interval:
                    self._emit_progress(info)
                    last_emit, pending = now, None
                else:
                    pending = info
                if final:
                    break
            if pending is not None:
                self._emit_progress(pending)
            self._hand_over_weights(trainer)
            done = self.last_progress is not None and self.last_progress.get('done')
            self.final_state = 'finished' if done else 'stopped'
            self.state.emit(self.final_state)
        except Exception as e:  # anything: shown in the panel, never kills the app
            self.error = error_text(e)
            self.final_state = 'error'
            self.errored.emit(self.error)
            self.state.emit('error')

    def _emit_progress(self, info):
        self.num_emitted += 1
        self.progress.emit(dict(info))

    def _hand_over_weights(self, trainer) -> None:
        """weights_ready with a CPU copy of G_ema, and a preview grid rendered from it."""
        record = {'class': getattr(trainer.G_ema, 'family', 'stylegan2'), 'init_kwargs': trainer.g_ema_init_kwargs(),
                  'state_dict': trainer.g_ema_state(), 'kimg': trainer.kimg, 'run': self.job.outdir}
        self.weights_ready.emit(record)
        if self.job.preview_seeds:
            try:
                self.preview_ready.emit(self.render_preview(trainer), float(trainer.kimg))
            except Exception as e:  # a preview failure is not worth stopping the run for
                self.log.emit(f'preview failed: {error_text(e)}')

    def render_preview(self, trainer):
        """The preview grid (``jobs.preview_grid``), rendered in this thread between minibatches,
        so G_ema is not being updated meanwhile."""
        return preview_grid(trainer, self.job.preview_seeds, self.job.preview_columns)
