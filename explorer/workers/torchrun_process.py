"""A multi-GPU training run launched from the GUI: ``torchrun ... main.py train`` as a QProcess.

The run is a separate process tree (one Python process per GPU), so the GUI cannot hold
its trainer; it follows the run through files instead:

- ``RUN/stats.jsonl`` (one JSON line per tick, written by rank 0; see
  ``explorer.training.runlog``) is polled with a ``QTimer`` and every new line becomes a
  ``progress(dict)`` signal, and ``snapshot_ready(str)`` when the tick wrote a snapshot;
- the processes' stdout/stderr become ``log(str)`` lines.

The signals mirror ``TrainingWorker`` (``progress``, ``state``, ``snapshot_ready``,
``errored``, ``log``) so the training panel drives either one. ``stop()`` sends SIGTERM to
torchrun, which forwards it to every rank; the ranks finish their minibatch together and
rank 0 writes a final snapshot. Pausing is not offered (``can_pause`` is False).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, QTimer, pyqtSignal

from explorer.training.jobs import NETWORK_PRESETS
from explorer.training.runlog import StatsTail, stats_path
from explorer.workers.live import track

ROOT = Path(__file__).resolve().parents[2]
MAIN_PY = ROOT / 'main.py'


def cuda_device_count() -> int:
    """Number of CUDA devices (0 without CUDA); what decides whether multi-GPU is offered."""
    try:
        import torch
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install must not break the panel
        return 0


def build_torchrun_command(job, nproc: int, python: str | None = None) -> list[str]:
    """argv for ``python -m torch.distributed.run --standalone --nproc_per_node=N main.py train ...``."""
    cmd = [python or sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={int(nproc)}',
           str(MAIN_PY), 'train', '--outdir', str(job.outdir), '--kimg', f'{float(job.kimg):g}']
    if job.resume:
        cmd.append('--resume')
        return cmd
    cmd += ['--data', str(job.data), '--batch', str(int(job.batch))]
    if job.finetune_from:
        cmd += ['--finetune', str(job.finetune_from)]
    elif job.resolution:
        cmd += ['--resolution', str(int(job.resolution))]
    if job.augment:
        cmd += ['--augment', '--ada-target', f'{float(job.ada_target):g}', '--ada-kimg', f'{float(job.ada_kimg):g}']
    flags = {'z_dim': '--z-dim', 'w_dim': '--w-dim', 'mapping_layers': '--map', 'channel_base': '--channel-base',
             'channel_max': '--channel-max'}
    if not job.finetune_from:
        for key, value in NETWORK_PRESETS.get(job.network, {}).items():
            cmd += [flags[key], str(value)]
    cmd += ['--snapshot-kimg', f'{float(job.snapshot_kimg):g}']
    if job.snapshot_minutes:
        cmd += ['--snapshot-minutes', f'{float(job.snapshot_minutes):g}']
    if job.device not in (None, 'auto'):
        cmd += ['--device', job.device]
    return cmd


class TorchrunTrainingProcess(QObject):
    progress = pyqtSignal(object)           # dict: one stats.jsonl record (see Trainer.run)
    state = pyqtSignal(str)                 # 'starting', 'running', 'stopping', 'finished', 'stopped', 'error'
    snapshot_ready = pyqtSignal(str)
    errored = pyqtSignal(str)
    log = pyqtSignal(str)

    can_pause = False

    def __init__(self, job, nproc: int, command: list[str] | None = None, poll_ms: int = 500, parent=None):
        super().__init__(parent)
        self.job = job
        self.nproc = int(nproc)
        self.command = list(command) if command is not None else build_torchrun_command(job, nproc)
        self.tail = StatsTail(stats_path(job.outdir), from_start=False)  # a resumed run: only new lines
        self.last_progress: dict | None = None
        self.last_snapshot: str | None = None
        self.final_state: str | None = None
        self.error: str | None = None
        self._stop_requested = False
        self._log_tail: list[str] = []
        self._buffer = b''
        self.proc = QProcess(self)
        self.proc.setWorkingDirectory(str(ROOT))
        self.proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.proc.readyReadStandardOutput.connect(self._read_output)
        self.proc.started.connect(lambda: self.state.emit('running'))
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._process_error)
        self.timer = QTimer(self)
        self.timer.setInterval(int(poll_ms))
        self.timer.timeout.connect(self.poll)
        track(self)  # explorer.workers.live: tests fail when one is left running

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self.state.emit('starting')
        self.log.emit('$ ' + ' '.join(self.command))
        self.proc.start(self.command[0], self.command[1:])
        self.timer.start()

    def isRunning(self) -> bool:  # noqa: N802 (same name as QThread's, the panel treats both alike)
        return self.proc.state() != QProcess.ProcessState.NotRunning

    def pause(self) -> None:
        self.log.emit('pausing is not available for multi-GPU runs')

    def resume(self) -> None:
        pass

    def stop(self, wait_ms: int | None = None) -> bool:
        """SIGTERM to torchrun: every rank stops after its minibatch, rank 0 writes a snapshot."""
        if self.isRunning():
            self._stop_requested = True
            self.state.emit('stopping')
            self.proc.terminate()
            if wait_ms is not None:
                if not self.proc.waitForFinished(int(wait_ms)):
                    self.proc.kill()
                    self.proc.waitForFinished(5000)
        return not self.isRunning()

    # ------------------------------------------------------------------ following the run
    def poll(self) -> int:
        """Emit progress for the stats lines written since the last poll; returns how many."""
        records = self.tail.poll()
        for rec in records:
            self.last_progress = rec
            if rec.get('snapshot'):
                self.last_snapshot = str(rec['snapshot'])
                self.snapshot_ready.emit(self.last_snapshot)
            self.progress.emit(rec)
        return len(records)

    def _read_output(self):
        self._buffer += bytes(self.proc.readAllStandardOutput())
        *lines, self._buffer = self._buffer.replace(b'\r', b'\n').split(b'\n')
        for raw in lines:
            line = raw.decode('utf-8', 'replace').rstrip()
            if line:
                self._log_tail = (self._log_tail + [line])[-20:]
                self.log.emit(line)

    def _finished(self, code, _status=None):
        self._read_output()
        self.timer.stop()
        self.poll()
        done = bool(self.last_progress and self.last_progress.get('done'))
        if done and code == 0:
            self.final_state = 'finished'
        elif self._stop_requested or code == 130:
            self.final_state = 'stopped'
        else:
            self.final_state = 'error'
            last = next((x for x in reversed(self._log_tail) if 'error' in x.lower()), None) or \
                (self._log_tail[-1] if self._log_tail else '')
            self.error = f'the training processes exited with code {code}' + (f': {last}' if last else '')
            self.errored.emit(self.error)
        self.state.emit(self.final_state)

    def _process_error(self, err):
        if err == QProcess.ProcessError.FailedToStart:
            self.timer.stop()
            self.final_state = 'error'
            self.error = f'could not start {self.command[0]}: {self.proc.errorString()}'
            self.errored.emit(self.error)
            self.state.emit('error')
