"""Training runs set up the same way for the CLI (``main.py train``) and the GUI's Training tab.

No Qt. The heavy modules (torch, the loop, datasets, checkpoints) are imported inside the
functions that need them, so importing this module stays quick and torch-free (``--help``).

- ``NETWORK_PRESETS`` / ``DEFAULT_KIMG``: the network sizes the panel offers and their run lengths.
- ``TrainingJob``: what the panel asks for (plain data); ``TrainingJob.config()`` -> TrainingConfig.
- ``inspect_run`` -> ``ResumableRun``: can a run folder be resumed, from which snapshot, with what config.
- ``resume_config``: the config a resumed run trains with (its own, a few fields changed).
- ``apply_finetune``: read a finetune checkpoint once; the run takes its resolution and channels.
- ``use_threads``, ``open_run_dataset``, ``build_trainer``: the steps before the first minibatch (the
  run folder is made with ``explorer.engine.files.writable_dir``); ``trainer_for_job`` runs them all
  for a ``TrainingJob``.
- ``preview_grid``: fixed seeds through G_ema, tiled into one uint8 image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from explorer.errors import CheckpointError, ExplorerError, UserError, error_text
from explorer.training import runs

# Network sizes offered in the panel: name -> TrainingConfig overrides.
NETWORK_PRESETS = {
    'tiny (CPU, minutes)': dict(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64),
    'small': dict(z_dim=256, w_dim=256, mapping_layers=2, channel_base=8192, channel_max=256),
    'paper (GPU)': dict(z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512),
}
# The panel's default run length per preset (kimg): what each finishes in the time its name says
# at the default 64x64, batch 8 (tiny: ~10 img/s on a laptop CPU, so about 8 minutes).
DEFAULT_KIMG = {'tiny (CPU, minutes)': 5.0, 'small': 50.0, 'paper (GPU)': 1000.0}

# The Network choice of a resumed run whose sizes match no preset (the sizes travel in overrides).
CUSTOM_NETWORK = 'as in the resumed run'
NETWORK_SIZE_KEYS = ('z_dim', 'w_dim', 'mapping_layers', 'channel_base', 'channel_max')


@dataclass(frozen=True)
class TrainingJob:
    """What the panel asks for (plain data; ``config()`` turns it into a TrainingConfig)."""
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
        """The TrainingConfig of a new run as the form describes it (a resumed run trains with its
        own: ``resume_config``)."""
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
        return (f'{Path(self.snapshot).name} at {self.kimg:.2f} of {self.total_kimg:g} kimg  ·  '
                f'data {c.get("data")}  ·  '
                f'{c.get("resolution")}×{c.get("resolution")}, batch {c.get("batch")}, network {net}, {aug}')


def inspect_run(run_dir) -> ResumableRun:
    """Check that ``run_dir`` can be resumed; UserError with a clear message if not.

    Quick enough for the UI thread: only the snapshot's small part is read (memory-mapped)."""
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


def resume_config(run_dir, **changes):
    """The TrainingConfig a resumed run trains with: the one in its newest readable snapshot, with
    ``changes`` (TrainingConfig fields, e.g. a new total ``kimg``; None values are ignored) applied,
    validated. UserError when the folder holds nothing to resume."""
    from explorer.training.loop import TrainingConfig
    run = inspect_run(run_dir)
    try:
        cfg = TrainingConfig.from_dict(run.config)
    except TypeError as e:
        raise UserError(f'{run.snapshot} holds an unusable config ({e})') from None
    known = {f.name for f in dataclasses.fields(cfg)}
    for name, value in changes.items():
        if name not in known:
            raise ExplorerError(f'unknown training setting {name!r}')
        if value is not None:
            setattr(cfg, name, value)
    cfg.validate()
    return cfg


def apply_finetune(cfg, checkpoint, resolution: int | None = None) -> dict:
    """Read the checkpoint a run finetunes (once) and give ``cfg`` its resolution and channels.

    ``resolution``: one asked for explicitly, refused when the checkpoint has another. Returns the
    checkpoint record (``read_checkpoint``) to hand to ``Trainer(finetune_from=...)``."""
    from explorer.engine.checkpoint import read_checkpoint
    record = read_checkpoint(checkpoint)
    G = record['G_ema']
    if resolution is not None and int(resolution) != G.img_resolution:
        raise UserError(f'--resolution {resolution} does not match the checkpoint ({G.img_resolution})')
    cfg.resolution = G.img_resolution
    cfg.num_channels = G.img_channels
    return record


def use_threads(threads: int | None) -> None:
    """torch CPU threads for this process (None / 0: leave torch's default)."""
    if threads:
        import torch
        torch.set_num_threads(int(threads))


def open_run_dataset(cfg):
    """The dataset ``cfg`` trains on (``cfg.resolution`` None: the images' own)."""
    from explorer.training.dataset import open_dataset
    return open_dataset(cfg.data, resolution=cfg.resolution, num_channels=cfg.num_channels, xflip=cfg.xflip,
                        use_labels=cfg.use_labels, seed=cfg.seed, length=cfg.extra.get('synthetic_length'))


def build_trainer(cfg, outdir, device, resume: bool = False, finetune=None, log=None):
    """Open the dataset (saying what it is through ``log``) and build the Trainer of the run in
    ``outdir``. ``finetune``: a checkpoint record from ``apply_finetune`` (or a path)."""
    from explorer.training.loop import Trainer
    log = log or (lambda msg: None)
    dataset = open_run_dataset(cfg)
    log(f'dataset {dataset.describe()}')
    return Trainer(cfg, dataset, outdir, device=device, resume=resume, finetune_from=finetune, log=log)


def trainer_for_job(job: TrainingJob, log=None):
    """Everything before a GUI run's first minibatch: threads, device, config (on resume the run's
    own, with the job's length and reporting cadence), finetune checkpoint, run folder, dataset."""
    from explorer.engine.device import pick_device
    from explorer.engine.files import writable_dir
    use_threads(job.threads)
    device = pick_device(job.device)
    finetune = None
    if job.resume:
        cfg = resume_config(job.outdir, kimg=float(job.kimg), tick_seconds=float(job.tick_seconds),
                            tick_kimg=float(job.tick_kimg))
    else:
        cfg = job.config()
        if job.finetune_from:
            finetune = apply_finetune(cfg, job.finetune_from, resolution=job.resolution)
        elif not job.resolution:
            cfg.resolution = None  # taken from the images
        cfg.validate()
    writable_dir(job.outdir)
    return build_trainer(cfg, job.outdir, device, resume=job.resume, finetune=finetune, log=log)


def preview_grid(trainer, seeds, columns: int):
    """Fixed ``seeds`` through the trainer's G_ema (psi 1, constant noise) -> one uint8 HWC grid.

    Call it between minibatches (G_ema is read under the trainer's lock)."""
    import torch

    from explorer.engine.export import batch_to_uint8, tile_grid
    from explorer.engine.latents import seeds_to_z

    G = trainer.G_ema
    device = next(G.parameters()).device
    seeds = list(seeds)
    z = seeds_to_z(seeds, G.z_dim, device=device)
    c = torch.zeros([len(seeds), G.c_dim], device=device)
    if G.c_dim:
        c[torch.arange(len(seeds)), torch.arange(len(seeds)) % G.c_dim] = 1
    with torch.no_grad(), trainer._ema_lock:
        img = G(z, c, truncation_psi=1.0, noise_mode='const')       # [N, C, H, W]
    frames = batch_to_uint8(img)                                     # [N, H, W, C]
    return tile_grid(frames, columns)
