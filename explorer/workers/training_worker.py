"""The training worker: a QThread that drives ``Trainer.run()`` for the GUI.

Shape of a superqt generator worker: the trainer yields a progress dict per tick and
checks pause / stop before every minibatch; the worker turns those into signals.

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
"""

from __future__ import annotations

import dataclasses
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from explorer.errors import CheckpointError, ExplorerError, UserError, error_text

# Every started worker, so tests can assert none is left running.
LIVE_TRAINING_WORKERS: 'weakref.WeakSet[TrainingWorker]' = weakref.WeakSet()

# Network sizes offered in the panel: name -> TrainingConfig overrides.
NETWORK_PRESETS = {
    'tiny (CPU, minutes)': dict(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64),
    'small': dict(z_dim=256, w_dim=256, mapping_layers=2, channel_base=8192, channel_max=256),
    'paper (GPU)': dict(z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512),
}
# The panel's default run length per preset (kimg): what each finishes in the time its name says
# at the default 64x64, batch 8 (tiny: ~10 img/s on a laptop CPU, so about 8 minutes).
DEFAULT_KIMG = {'tiny (CPU, minutes)': 5.0, 'small': 50.0, 'paper (GPU)': 1000.0}


@dataclass(frozen=True)
class TrainingJob:
    """What the panel asks for (plain data; the worker turns it into a TrainingConfig)."""
    data: str                           # folder, .zip or 'synthetic'
    outdir: str                         # run folder
    resolution: int | None = 64         # None = from the data (or the checkpoint when finetuning)
    batch: int = 8
    kimg: float = 100.0
    finetune_from: str | None = None    # checkpoint path; None = from scratch
    resume: bool = False                # continue from the newest snapshot in outdir
    augment: bool = True                # ADA
    ada_target: float = 0.6
    ada_kimg: float = 100.0             # faster than the paper's 500: GUI runs are short
    network: str = 'tiny (CPU, minutes)'
    device: str | None = None           # None / 'auto' = CUDA when available
    threads: int | None = None          # torch CPU threads, None = leave as is
    tick_seconds: float = 1.0           # report at least this often (the GUI wants a live feel)
    tick_kimg: float = 4.0
    snapshot_kimg: float = 10.0
    snapshot_minutes: float | None = 10.0
    preview_seeds: tuple = tuple(range(8))
    preview_columns: int = 4
    weights_every: int = 5              # hand G_ema to the renderer / preview every N ticks
    overrides: tuple = ()               # extra (TrainingConfig field, value) pairs

    def replace(self, **kw) -> 'TrainingJob':
        return dataclasses.replace(self, **kw)

    def config(self):
        from explorer.training.loop import TrainingConfig
        cfg = TrainingConfig(data=self.data)
        if self.resolution:
            cfg.resolution = int(self.resolution)
        cfg.batch = int(self.batch)
        cfg.kimg = float(self.kimg)
        cfg.augment = bool(self.augment)
        cfg.ada_target = float(self.ada_target)
        cfg.ada_kimg = float(self.ada_kimg)
        for k, v in NETWORK_PRESETS.get(self.network, {}).items():
            setattr(cfg, k, v)
        cfg.tick_seconds = float(self.tick_seconds)
        cfg.tick_kimg = float(self.tick_kimg)
        cfg.snapshot_kimg = float(self.snapshot_kimg)
        cfg.snapshot_minutes = self.snapshot_minutes
        known = {f.name for f in dataclasses.fields(cfg)}
        for k, v in self.overrides:
            if k not in known:
                raise ExplorerError(f'unknown training setting {k!r}')
            setattr(cfg, k, v)
        return cfg


# The Network choice of a resumed run whose sizes match no preset (the sizes travel in overrides).
CUSTOM_NETWORK = 'as in the resumed run'
NETWORK_SIZE_KEYS = ('z_dim', 'w_dim', 'mapping_layers', 'channel_base', 'channel_max')


def preset_for(config: dict) -> str | None:
    """The NETWORK_PRESETS name whose sizes ``config`` has, None when it matches none."""
    for name, sizes in NETWORK_PRESETS.items():
        if all(config.get(k) == v for k, v in sizes.items()):
            return name
    return None


@dataclass(frozen=True)
class ResumableRun:
    """A run folder that can be resumed: its newest readable snapshot and the config it holds."""
    outdir: str                 # run folder
    snapshot: str               # newest readable snapshot file
    kimg: float                 # where that snapshot is
    total_kimg: float           # the run's length as configured
    config: dict = field(default_factory=dict, compare=False)  # TrainingConfig.to_dict() of the run
    skipped: tuple = ()         # messages about newer snapshots that could not be read

    @property
    def finished(self) -> bool:
        return self.kimg >= self.total_kimg

    def job(self, kimg: float | None = None, **kw) -> TrainingJob:
        """A TrainingJob that continues this run (the form shows these values; the run's own
        config is what trains). ``kimg`` = new total length, default the run's."""
        c = self.config
        ada_target = c.get('ada_target')
        preset = preset_for(c)
        sizes = () if preset else tuple((k, c[k]) for k in NETWORK_SIZE_KEYS if k in c)
        fields = dict(data=str(c.get('data', 'synthetic')), outdir=self.outdir, resolution=int(c.get('resolution', 64)),
                      batch=int(c.get('batch', 8)), kimg=float(self.total_kimg if kimg is None else kimg), resume=True,
                      augment=bool(c.get('augment', False)),
                      ada_target=float(ada_target) if ada_target is not None else 0.6,
                      ada_kimg=float(c.get('ada_kimg', 100.0)), network=preset or CUSTOM_NETWORK, overrides=sizes,
                      snapshot_kimg=float(c.get('snapshot_kimg', 10.0)), snapshot_minutes=c.get('snapshot_minutes'))
        fields.update(kw)
        return TrainingJob(**fields)

    def describe(self) -> str:
        """One line for the panel: where the snapshot is and what the run trains."""
        c = self.config
        net = preset_for(c) or (f'z {c.get("z_dim")}, w {c.get("w_dim")}, channels '
                                f'{c.get("channel_base")}/{c.get("channel_max")}')
        aug = f'ADA target {c.get("ada_target")}' if c.get('augment') else 'no augmentation'
        return (f'{Path(self.snapshot).name} at {self.kimg:.2f} of {self.total_kimg:g} kimg  ·  data {c.get("data")}  ·  '
                f'{c.get("resolution")}×{c.get("resolution")}, batch {c.get("batch")}, network {net}, {aug}')


def inspect_run(run_dir) -> ResumableRun:
    """Check that ``run_dir`` can be resumed; ExplorerError with a clear message if not.

    Quick enough for the UI thread: only the snapshot's small part is read (memory-mapped)."""
    from explorer.training import runs
    from explorer.training import snapshot as snap
    run_dir = str(run_dir)
    if not run_dir or not Path(run_dir).is_dir():
        raise UserError(f'{run_dir or "(no folder)"} is not a folder')
    snaps = runs.list_snapshots(run_dir)
    if not snaps:
        raise UserError(f'{run_dir} has no training snapshot (network-snapshot-*.pt): nothing to resume')
    skipped = []
    for path in reversed(snaps):
        try:
            info = snap.snapshot_info(path)
        except (CheckpointError, OSError) as e:
            skipped.append(f'skipped unreadable snapshot {error_text(e)}')
            continue
        total = info['config'].get('kimg')
        total = float(total) if isinstance(total, (int, float)) else info['kimg']
        return ResumableRun(outdir=run_dir, snapshot=str(path), kimg=float(info['kimg']), total_kimg=total,
                            config=info['config'], skipped=tuple(skipped))
    raise UserError(f'cannot resume {run_dir}: no readable snapshot ({"; ".join(skipped)})')


def tile_grid(frames, columns: int) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*H, cols*W, C] image (empty cells black)."""
    n, h, w, c = frames.shape
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    out = np.zeros([rows * h, cols * w, c], np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        out[r * h:(r + 1) * h, k * w:(k + 1) * w] = frames[i]
    return out


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
        LIVE_TRAINING_WORKERS.add(self)

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
        import torch

        from explorer.training.dataset import open_dataset
        from explorer.training.loop import Trainer, TrainingConfig

        if job.threads:
            torch.set_num_threads(int(job.threads))
        device = job.device if job.device not in (None, 'auto') else ('cuda' if torch.cuda.is_available() else 'cpu')
        cfg = job.config()
        if job.resume:
            # The run's own config (what it trains), with the job's length and reporting cadence.
            run = inspect_run(job.outdir)
            cfg = TrainingConfig.from_dict(dict(run.config, kimg=float(job.kimg), tick_seconds=cfg.tick_seconds,
                                                tick_kimg=cfg.tick_kimg))
        resolution = cfg.resolution if (job.resolution or job.resume) else None
        if job.finetune_from and not job.resolution:
            from explorer.engine.checkpoint import load_generator
            resolution = int(load_generator(job.finetune_from).img_resolution)
        dataset = open_dataset(cfg.data, resolution=resolution, num_channels=cfg.num_channels, xflip=cfg.xflip,
                               use_labels=cfg.use_labels, seed=cfg.seed, length=cfg.extra.get('synthetic_length'))
        self.log.emit(f'dataset {dataset.describe()}')
        return Trainer(cfg, dataset, job.outdir, device=device, resume=job.resume,
                       finetune_from=job.finetune_from, log=self.log.emit)

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

    def render_preview(self, trainer) -> np.ndarray:
        """Fixed seeds through G_ema (psi 1, constant noise) -> uint8 HWC grid. Runs in this thread,
        between minibatches, so G_ema is not being updated meanwhile."""
        import torch

        from explorer.engine.export import batch_to_uint8
        from explorer.engine.latents import seeds_to_z

        G = trainer.G_ema
        device = next(G.parameters()).device
        seeds = list(self.job.preview_seeds)
        z = seeds_to_z(seeds, G.z_dim, device=device)
        c = torch.zeros([len(seeds), G.c_dim], device=device)
        if G.c_dim:
            c[torch.arange(len(seeds)), torch.arange(len(seeds)) % G.c_dim] = 1
        with torch.no_grad(), trainer._ema_lock:
            img = G(z, c, truncation_psi=1.0, noise_mode='const')       # [N, C, H, W]
        frames = batch_to_uint8(img)                                     # [N, H, W, C]
        return tile_grid(frames, self.job.preview_columns)
