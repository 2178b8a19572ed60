"""The Training tab: set up a run, start / pause / resume / stop it, watch it learn.

The panel only builds a ``TrainingJob`` and talks to a ``TrainingWorker``; all torch
work (training, the preview grid) happens on the worker's thread. Progress arrives at
most a few times a second; plots are pyqtgraph curves over kimg; the preview grid
shows fixed seeds from the latest G_ema. "Explore this snapshot" hands the newest
snapshot file to the main window's normal open path. "Resume run…" continues a run
folder (this panel's, or one the CLI wrote) from its newest snapshot with the run's own
config; the kimg count, the progress bar and the plots (preloaded from RUN/stats.jsonl)
carry on from where the run was.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pyqtgraph as pg
from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import ExplorerError
from explorer.timefmt import format_eta
from explorer.ui.image_view import ImageView
from explorer.ui.widgets import PathEdit
from explorer.workers.torchrun_process import TorchrunTrainingProcess, cuda_device_count
from explorer.workers.training_worker import (
    CUSTOM_NETWORK,
    DEFAULT_KIMG,
    NETWORK_PRESETS,
    ResumableRun,
    TrainingJob,
    TrainingWorker,
    inspect_run,
)

RESOLUTIONS = (16, 32, 64, 128, 256, 512, 1024)
PLOTS = (('loss_G', 'G loss'), ('loss_D', 'D loss'), ('r1', 'R1 penalty'), ('augment_p', 'augment p'))


def default_run_dir() -> str:
    from explorer.paths import cache_dir
    return str(Path(cache_dir()) / 'runs' / time.strftime('run-%Y%m%d-%H%M%S'))


class TrainingPanel(QWidget):
    exploreRequested = pyqtSignal(str)      # snapshot path to open as the current checkpoint
    liveWeights = pyqtSignal(object)        # G_ema record for the render worker (when "live" is on)
    liveStopped = pyqtSignal()              # "live" unchecked: the view goes back to its checkpoint
    stateChanged = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker: TrainingWorker | None = None
        self.current_checkpoint: str | None = None      # what the main view shows (for finetuning)
        self._current_family: str | None = None
        self.latest_snapshot: str | None = None
        self.last_weights: dict | None = None    # newest G_ema record of the running job (for "live")
        self._custom_sizes: tuple = ()      # network sizes behind CUSTOM_NETWORK (from a resumed run)
        self.last_info: dict | None = None
        self.history: dict[str, tuple] = {key: ([], []) for key, _ in PLOTS}  # key -> (kimg, values), finite only
        self._latest: dict[str, float] = {}
        self.preview_kimg: float | None = None
        self.state = 'idle'
        self._build()
        self._set_state('idle')

    # ================================================================== layout
    def _build(self):
        root = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(split)

        # ---- left: setup and controls
        left = QWidget()
        lv = QVBoxLayout(left)
        setup = QGroupBox('Run')
        form = QFormLayout(setup)
        self.data_synthetic = QRadioButton('Synthetic portraits')
        self.data_folder = QRadioButton('Image folder / zip')
        self.data_synthetic.setChecked(True)
        grp = QButtonGroup(self)
        grp.addButton(self.data_synthetic)
        grp.addButton(self.data_folder)
        row = QHBoxLayout()
        row.addWidget(self.data_synthetic)
        row.addWidget(self.data_folder)
        form.addRow('Data', row)
        self.folder_edit = PathEdit()
        self.folder_edit.setPlaceholderText('folder or .zip of images')
        browse = QPushButton('Browse…')
        browse.clicked.connect(self._browse_data)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        form.addRow('Folder', row)
        self.folder_edit.textEdited.connect(lambda _: self.data_folder.setChecked(True))

        self.resolution = QComboBox()
        for r in RESOLUTIONS:
            self.resolution.addItem(f'{r}×{r}', r)
        self.resolution.setCurrentIndex(RESOLUTIONS.index(64))
        form.addRow('Resolution', self.resolution)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(8)
        form.addRow('Batch size', self.batch)
        self.kimg = QDoubleSpinBox()
        self.kimg.setRange(0.01, 100000)
        self.kimg.setDecimals(2)
        self.kimg.setSuffix(' kimg')
        self.kimg.setToolTip('Run length in thousands of training images; follows the Network choice until you '
                             'change it')
        form.addRow('Length', self.kimg)
        self.network = QComboBox()
        self.network.addItems(list(NETWORK_PRESETS))
        form.addRow('Network', self.network)
        self._kimg_edited = False               # the user chose a length: a preset change keeps it
        self._preset_changed(self.network.currentText())
        self.kimg.valueChanged.connect(self._kimg_changed)
        self.network.currentTextChanged.connect(self._preset_changed)
        # Several GPUs: the run goes to `torchrun --nproc_per_node=N main.py train` in a separate
        # process and the panel follows RUN/stats.jsonl (no live preview, no pause).
        self.gpus = QSpinBox()
        n_gpus = cuda_device_count()
        self.gpus.setRange(1, max(1, n_gpus))
        self.gpus.setValue(1)
        self.gpus.setEnabled(n_gpus > 1)
        self.gpus.setToolTip('More than 1: train with torchrun on that many GPUs (batch = total over all GPUs)'
                             if n_gpus > 1 else 'Multi-GPU training needs a machine with several CUDA GPUs')
        form.addRow('GPUs', self.gpus)

        self.from_scratch = QRadioButton('From scratch')
        self.finetune = QRadioButton('Finetune current checkpoint')
        self.from_scratch.setChecked(True)
        grp2 = QButtonGroup(self)
        grp2.addButton(self.from_scratch)
        grp2.addButton(self.finetune)
        row = QVBoxLayout()
        row.addWidget(self.from_scratch)
        row.addWidget(self.finetune)
        form.addRow('Start', row)
        self.finetune.toggled.connect(self._finetune_toggled)

        self.augment = QCheckBox('Adaptive augmentation (ADA)')
        self.augment.setChecked(True)
        self.ada_target = QDoubleSpinBox()
        self.ada_target.setRange(0.0, 1.0)
        self.ada_target.setSingleStep(0.05)
        self.ada_target.setValue(0.6)
        row = QHBoxLayout()
        row.addWidget(self.augment)
        row.addWidget(QLabel('target'))
        row.addWidget(self.ada_target)
        form.addRow('Augment', row)

        self.outdir_edit = PathEdit(default_run_dir())
        out_browse = QPushButton('…')
        out_browse.clicked.connect(self._browse_outdir)
        row = QHBoxLayout()
        row.addWidget(self.outdir_edit, 1)
        row.addWidget(out_browse)
        form.addRow('Run folder', row)
        lv.addWidget(setup)

        buttons = QGridLayout()
        self.start_btn = QPushButton('Start')
        self.pause_btn = QPushButton('Pause')
        self.resume_btn = QPushButton('Resume')
        self.stop_btn = QPushButton('Stop')
        self.start_btn.clicked.connect(lambda: self.start())
        self.pause_btn.clicked.connect(self.pause)
        self.resume_btn.clicked.connect(self.resume)
        self.stop_btn.clicked.connect(self.stop)
        for i, b in enumerate((self.start_btn, self.pause_btn, self.resume_btn, self.stop_btn)):
            buttons.addWidget(b, 0, i)
        self.explore_btn = QPushButton('Explore this snapshot')
        self.explore_btn.setToolTip('Open the newest snapshot of this run in the Explore tab')
        self.explore_btn.clicked.connect(self.explore_snapshot)
        self.outdir_edit.textChanged.connect(lambda _: self._refresh_explore())
        buttons.addWidget(self.explore_btn, 1, 0, 1, 2)
        self.live = QCheckBox('Live weights in Explore')
        self.live.setToolTip("While a run trains, the Explore view shows the run's G_ema, updated every few "
                             'ticks; unchecking reopens the checkpoint that was open before')
        self.live.toggled.connect(self._live_toggled)
        buttons.addWidget(self.live, 1, 2, 1, 2)
        self.resume_run_btn = QPushButton('Resume run…')
        self.resume_run_btn.setToolTip('Choose a run folder and continue it from its newest snapshot '
                                       '(same config, same kimg count)')
        self.resume_run_btn.clicked.connect(lambda: self.resume_run())
        buttons.addWidget(self.resume_run_btn, 2, 0, 1, 2)
        lv.addLayout(buttons)
        self.run_info = QLabel('')
        self.run_info.setWordWrap(True)
        self.run_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_info.setVisible(False)
        lv.addWidget(self.run_info)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat('%p%')
        lv.addWidget(self.progress)
        self.status = QLabel('Idle')
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lv.addWidget(self.status)
        self.stats = QLabel('')
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lv.addWidget(self.stats)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setMinimumHeight(80)
        lv.addWidget(self.log, 1)
        split.addWidget(left)

        # ---- right: preview grid and plots
        right = QSplitter(Qt.Orientation.Vertical)
        prev_box = QWidget()
        pv = QVBoxLayout(prev_box)
        pv.setContentsMargins(0, 0, 0, 0)
        self.preview_label = QLabel('Preview (fixed seeds, G_ema)')
        pv.addWidget(self.preview_label)
        self.preview = ImageView()
        self.preview.setMinimumSize(200, 120)
        pv.addWidget(self.preview, 1)
        right.addWidget(prev_box)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground('#202124')
        self.curves = {}
        for i, (key, title) in enumerate(PLOTS):
            plot = self.plots.addPlot(row=i // 2, col=i % 2, title=title)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel('bottom', 'kimg')
            plot.getAxis('bottom').enableAutoSIPrefix(False)
            self.curves[key] = plot.plot([], [], pen=pg.mkPen('#8ab4f8', width=2))
        self.plots.setMinimumHeight(260)
        right.addWidget(self.plots)
        right.setSizes([420, 360])
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([520, 880])

    def _browse_data(self):
        path = QFileDialog.getExistingDirectory(self, 'Dataset folder')
        if path:
            self.folder_edit.setText(path)
            self.data_folder.setChecked(True)

    def _browse_outdir(self):
        path = QFileDialog.getExistingDirectory(self, 'Run folder')
        if path:
            self.outdir_edit.setText(path)

    def _kimg_changed(self, _value):
        self._kimg_edited = True

    def _preset_changed(self, name: str):
        """A new Network choice: its default length, unless the user set one."""
        if not self._kimg_edited and name in DEFAULT_KIMG:
            with QSignalBlocker(self.kimg):
                self.kimg.setValue(DEFAULT_KIMG[name])

    def _refresh_explore(self):
        """"Explore this snapshot" only when there is one (this run's, or in the run folder)."""
        from explorer.training.runs import list_snapshots
        folder = self.outdir_edit.text().strip()
        ok = bool(self.latest_snapshot) or bool(folder and list_snapshots(folder))
        self.explore_btn.setEnabled(ok)
        self.explore_btn.setToolTip('Open the newest snapshot of this run in the Explore tab' if ok else
                                    'No snapshot yet: a run writes one every few kimg, at its end and when you '
                                    'press Stop')

    def _finetune_toggled(self, on):
        self.resolution.setEnabled(not on)

    # ================================================================== model from the main window
    def set_current_checkpoint(self, path: str | None, resolution: int | None = None, family: str | None = None):
        """The checkpoint the Explore view shows: what "Finetune current checkpoint" starts from."""
        self.current_checkpoint = path
        self._current_family = family
        ok = bool(path) and family in (None, 'stylegan2')
        self.finetune.setEnabled(ok)
        self.finetune.setToolTip('' if ok else 'Finetuning needs a StyleGAN2 checkpoint open in the Explore tab')
        if not ok and self.finetune.isChecked():
            self.from_scratch.setChecked(True)
        if resolution in RESOLUTIONS and self.finetune.isChecked():
            self.resolution.setCurrentIndex(RESOLUTIONS.index(resolution))

    # ================================================================== jobs
    def job(self) -> TrainingJob:
        data = 'synthetic' if self.data_synthetic.isChecked() else self.folder_edit.text().strip()
        finetune = self.current_checkpoint if self.finetune.isChecked() else None
        return TrainingJob(
            data=data, outdir=self.outdir_edit.text().strip() or default_run_dir(),
            resolution=None if finetune else int(self.resolution.currentData()),
            batch=int(self.batch.value()), kimg=float(self.kimg.value()), finetune_from=finetune,
            augment=self.augment.isChecked(), ada_target=float(self.ada_target.value()),
            network=self.network.currentText(),
            overrides=self._custom_sizes if self.network.currentText() == CUSTOM_NETWORK else ())

    def _show_job(self, job: TrainingJob) -> None:
        """Make the form show the job that runs (it may come from code, e.g. a resumed run)."""
        synthetic = job.data == 'synthetic'
        self.data_synthetic.setChecked(synthetic)
        self.data_folder.setChecked(not synthetic)
        if not synthetic:
            self.folder_edit.setText(job.data)
        if job.resolution in RESOLUTIONS:
            self.resolution.setCurrentIndex(RESOLUTIONS.index(job.resolution))
        self.batch.setValue(job.batch)
        with QSignalBlocker(self.kimg):     # shown, not chosen: a preset change may still set it
            self.kimg.setValue(job.kimg)
        self.finetune.setChecked(bool(job.finetune_from))
        self.from_scratch.setChecked(not job.finetune_from)
        self.augment.setChecked(job.augment)
        self.ada_target.setValue(job.ada_target)
        self.outdir_edit.setText(job.outdir)
        if job.network in NETWORK_PRESETS:
            self.network.setCurrentText(job.network)
        elif job.network == CUSTOM_NETWORK:  # a resumed run of another size: offer its sizes for new runs too
            self._custom_sizes = tuple(job.overrides)
            if self.network.findText(CUSTOM_NETWORK) < 0:
                self.network.addItem(CUSTOM_NETWORK)
            self.network.setCurrentText(CUSTOM_NETWORK)
            self.network.setItemData(self.network.findText(CUSTOM_NETWORK),
                                     ', '.join(f'{k} {v}' for k, v in self._custom_sizes),
                                     Qt.ItemDataRole.ToolTipRole)

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start(self, job: TrainingJob | None = None, max_rate_hz: float = 5.0) -> TrainingWorker | None:
        """Start a new run (``job.resume``: continue its folder; ``resume_run`` is the checked way)."""
        if self.is_running():
            return None
        job = job or self.job()
        if not job.data:
            self._error('Choose a dataset folder (or Synthetic portraits)')
            return None
        if not job.resume:
            from explorer.training.runs import list_snapshots
            if list_snapshots(job.outdir):
                self._error(f'{job.outdir} already holds a run: use "Resume run…" to continue it, '
                            'or choose another run folder')
                return None
            self.run_info.setVisible(False)
        return self._launch(job, max_rate_hz)

    def resume_run(self, path: str | None = None, kimg: float | None = None,
                   max_rate_hz: float = 5.0) -> TrainingWorker | None:
        """Continue the run in ``path`` (asked for when None) from its newest snapshot.

        The run's own config trains; ``kimg`` is a new total length (default: the run's; a run
        that already reached its length asks for a longer one). A folder without a readable
        snapshot gets a clear message and starts nothing."""
        if self.is_running():
            return None
        if path is None:
            path = self._ask_run_folder()
            if not path:
                return None
        try:
            run = inspect_run(path)
        except ExplorerError as e:
            self._error(f'Cannot resume: {e}')
            return None
        for msg in run.skipped:
            self.log.appendPlainText(f'Warning: {msg}')
        if kimg is None and run.finished:
            kimg = self._ask_total_kimg(run)
            if kimg is None:
                return None
        if kimg is not None and kimg <= run.kimg:
            self._error(f'Cannot resume: the run is already at {run.kimg:.2f} kimg; choose a length above that')
            return None
        job = run.job(kimg=kimg)
        self.run_info.setText(f'Resuming {run.outdir}\n{run.describe()}')
        self.run_info.setVisible(True)
        self.log.appendPlainText(f'Resuming from {run.describe()}')
        return self._launch(job, max_rate_hz, run=run)

    def _ask_run_folder(self) -> str | None:
        here = Path(self.outdir_edit.text().strip() or default_run_dir())
        start = here if here.is_dir() else here.parent
        return QFileDialog.getExistingDirectory(self, 'Run folder to resume', str(start)) or None

    def _ask_total_kimg(self, run: ResumableRun) -> float | None:
        value, ok = QInputDialog.getDouble(
            self, 'Resume run', f'The run reached its length ({run.total_kimg:g} kimg).\nTrain until (kimg):',
            run.kimg + max(run.total_kimg, 1.0), run.kimg + 0.01, 1e6, 2)
        return float(value) if ok else None

    def _preload_history(self, run: ResumableRun) -> None:
        """Plot the run's past ticks (RUN/stats.jsonl up to the snapshot) so the curves continue."""
        from explorer.training.runlog import read_stats
        for rec in read_stats(run.outdir, up_to_kimg=run.kimg):
            for key, _ in PLOTS:
                v = rec.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    xs, ys = self.history[key]
                    xs.append(float(rec['kimg']))
                    ys.append(float(v))

    def _launch(self, job: TrainingJob, max_rate_hz: float, run: ResumableRun | None = None):
        self.latest_snapshot = run.snapshot if run is not None else None
        self.last_weights = None
        self.preview.clear_frame()  # nothing of an earlier run stays on show (a failed start would keep it)
        self.preview_kimg = None
        self.preview_label.setText('Preview (fixed seeds, G_ema)')
        self.stats.setText('')
        self.last_info = None
        self.history = {key: ([], []) for key, _ in PLOTS}
        self._latest = {}
        if run is not None:
            self._preload_history(run)
        self._show_job(job)
        for key, curve in self.curves.items():
            curve.setData(*self.history[key])
        done = run.kimg / job.kimg if run is not None and job.kimg > 0 else 0.0
        self.progress.setValue(int(round(min(max(done, 0.0), 1.0) * 1000)))
        self.progress.setFormat(f'{run.kimg:.2f} / {job.kimg:g} kimg  ·  ETA {format_eta(None)}'
                                if run is not None else '%p%')
        self.log.appendPlainText(f'Run folder: {job.outdir}')
        nproc = int(self.gpus.value()) if self.gpus.isEnabled() else 1
        if nproc > 1:
            w = TorchrunTrainingProcess(job, nproc, parent=self)
        else:
            w = TrainingWorker(job, max_rate_hz=max_rate_hz)
            w.preview_ready.connect(self.on_preview)
            w.warned.connect(lambda msg: self.log.appendPlainText(f'Warning: {msg}'))
            w.weights_ready.connect(self._on_weights)
        w.progress.connect(self.on_progress)
        w.state.connect(self._set_state)
        w.snapshot_ready.connect(self.on_snapshot)
        w.errored.connect(self._error)
        w.log.connect(self.log.appendPlainText)
        self.worker = w
        self._set_state('starting')  # at once: the controls lock before the thread says so
        w.start()
        return w

    def pause(self):
        if self.worker is not None:
            self.worker.pause()

    def resume(self):
        if self.worker is not None:
            self.worker.resume()

    def stop(self):
        if self.worker is not None and self.worker.isRunning():
            self.worker.stop()

    def shutdown(self, wait_ms: int = 60000) -> None:
        """Stop a running job and wait for its final snapshot (window closing)."""
        if self.worker is not None and self.worker.isRunning():
            self.worker.stop(wait_ms=wait_ms)

    def explore_snapshot(self) -> str | None:
        path = self.latest_snapshot
        if path is None:
            from explorer.training.runs import latest_snapshot
            found = latest_snapshot(self.outdir_edit.text().strip()) if self.outdir_edit.text().strip() else None
            path = str(found) if found else None
        if path is None:
            self._error('No snapshot yet: one is written every few kimg and when you press Stop')
            return None
        self.exploreRequested.emit(path)
        return path

    # ================================================================== worker signals
    def _set_state(self, state: str):
        self.state = state
        running = state in ('starting', 'running', 'paused', 'stopping')
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(state in ('starting', 'running') and getattr(self.worker, 'can_pause', True))
        self.resume_btn.setEnabled(state == 'paused')
        self.resume_run_btn.setEnabled(not running)
        self.stop_btn.setEnabled(state in ('starting', 'running', 'paused'))
        for w in (self.data_synthetic, self.data_folder, self.folder_edit, self.resolution, self.batch, self.kimg,
                  self.network, self.from_scratch, self.finetune, self.augment, self.ada_target, self.outdir_edit):
            w.setEnabled(not running)
        self.gpus.setEnabled(not running and self.gpus.maximum() > 1)
        self._refresh_explore()
        if not running:
            self._finetune_toggled(self.finetune.isChecked())
            self.set_current_checkpoint(self.current_checkpoint, family=self._current_family)
        if state != 'error':
            self.status.setStyleSheet('')
            self.status.setText({'idle': 'Idle', 'starting': 'Preparing the dataset and networks…',
                                 'running': 'Training', 'paused': 'Paused',
                                 'stopping': 'Stopping (writing a snapshot)…',
                                 'finished': 'Finished', 'stopped': 'Stopped'}.get(state, state))
        self.stateChanged.emit(state)

    def on_progress(self, info: dict):
        self.last_info = info
        total = info.get('total_kimg') or 0
        kimg = float(info['kimg'])
        frac = min(max(kimg / total, 0.0), 1.0) if total else 0.0
        self.progress.setValue(int(round(frac * 1000)))
        # The closing report of a stop covers no minibatches (NaN losses, 0 img/s): keep the
        # last real numbers on screen and out of the plots.
        for key, value in info.items():
            idle_rate = key == 'images_per_sec' and value == 0
            if isinstance(value, (int, float)) and math.isfinite(value) and not idle_rate:
                self._latest[key] = float(value)
        eta = info.get('eta_s') if not info.get('stopped') else None
        self.progress.setFormat(f'{kimg:.2f} / {total:g} kimg  ·  ETA {format_eta(eta)}')

        def f(key, fmt='{:.3f}'):
            v = self._latest.get(key)
            return fmt.format(v) if v is not None else '–'
        self.stats.setText(f'{f("images_per_sec", "{:.1f}")} img/s   ·   G {f("loss_G")}   D {f("loss_D")}   '
                           f'R1 {f("r1", "{:.4g}")}   ·   augment p {f("augment_p")}   ·   tick {info.get("tick", 0)}')
        for key, curve in self.curves.items():
            v = info.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                xs, ys = self.history[key]
                xs.append(kimg)
                ys.append(float(v))
                curve.setData(xs, ys)

    def on_preview(self, grid, kimg: float):
        self.preview_kimg = float(kimg)
        self.preview.set_frame(grid)
        self.preview_label.setText(f'Preview (fixed seeds, G_ema at {kimg:.2f} kimg)')

    def on_snapshot(self, path: str):
        self.latest_snapshot = path
        self._refresh_explore()
        self.log.appendPlainText(f'Snapshot {path}')

    def _on_weights(self, record):
        self.last_weights = record
        if self.live.isChecked():
            self.liveWeights.emit(record)

    def _live_toggled(self, on: bool):
        if on and self.last_weights is not None and self.is_running():
            self.liveWeights.emit(self.last_weights)    # at once, not a few ticks later
        elif not on:
            self.liveStopped.emit()

    def _live_failed(self, message: str):
        """The render worker could not take the weights: say so once and stop trying."""
        self._error(f'Live weights: {message}')
        with QSignalBlocker(self.live):
            self.live.setChecked(False)

    def _error(self, text: str):
        self.status.setStyleSheet('color: #d93025')
        self.status.setText(text)
        self.log.appendPlainText(f'Error: {text}')

    # ================================================================== main window glue
    def attach(self, window) -> None:
        """Add the tab to the main window and wire it to the window's normal paths."""
        window.add_tab(self, 'Training')

        def explore(path):
            window.open_checkpoint(path)
            window.tabs.setCurrentIndex(0)
        self.exploreRequested.connect(explore)
        self.liveWeights.connect(window.worker.load_state)
        window.worker.weightsSwapped.connect(lambda _info: window.submit())
        window.worker.weightsFailed.connect(self._live_failed)

        def live_stopped():
            if window.info is not None and window.info.live:
                window.open_checkpoint(self.current_checkpoint)
        self.liveStopped.connect(live_stopped)

        def loaded(info):
            if not info.live:   # the live model is not a file to finetune or to go back to
                self.set_current_checkpoint(info.path, info.resolution, info.family)
        window.modelLoaded.connect(loaded)
