"""The StyleGAN2 / StyleGAN2-ADA training loop (plain PyTorch, no Qt, no threads).

``Trainer.run()`` is a generator: it trains minibatch after minibatch and yields a
progress dict at the end of every tick. The caller (the CLI's progress bar or the GUI's
training worker) drives it; between steps it honours ``request_stop()`` and the
optional ``should_stop`` / ``is_paused`` callables. A stop writes a final snapshot.

Per minibatch, as in the StyleGAN2 paper with lazy regularisation (section 3.1):

    Gmain  every step            non-saturating loss
    Greg   every g_reg_interval  path-length penalty, weight x interval
    Dmain  every step            logistic loss on reals and fakes
    Dreg   every d_reg_interval  R1 penalty, weight x interval
    G_ema  every step            beta = 0.5 ** (batch / ema_nimg), ema_nimg ramped up
    ADA    every ada_interval    p += sign(E[sign(D(real))] - target) * batch*interval / (ada_kimg*1000)

The Adam learning rate and betas of a lazily regularised network are adjusted by
``mb_ratio = interval / (interval + 1)`` (lr * mb_ratio, beta ** mb_ratio).

Data parallel (``torchrun``; see ``explorer.training.distributed``): ``config.batch`` is the
global minibatch; each of the W processes trains on ``batch / W`` samples, namely its strided
share of the same global stream of reals, latents and labels that one process would draw,
and the gradients are averaged before every optimiser step. Learning rates, R1 gamma, the
G_ema half-life, kimg and the ADA step all use the global batch. ``w_avg``, ``pl_mean`` and
the ADA statistic are averaged / summed across ranks every minibatch, so every rank holds
the same state; only rank 0 writes snapshots, ``config.json``, ``stats.jsonl`` and log lines.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explorer.engine.atomic import atomic_write
from explorer.engine.checkpoint import network_record
from explorer.engine.discriminator import Discriminator
from explorer.engine.networks_stylegan2 import Generator
from explorer.errors import ExplorerError, UserError
from explorer.training import distributed, runlog, runs
from explorer.training import snapshot as snap
from explorer.training.dataset import MAX_RESOLUTION, MIN_RESOLUTION
from explorer.training.distributed import ShardedInfiniteSampler
from explorer.training.loss import StyleGAN2Loss


class TrainingDiverged(ExplorerError):
    """Losses or weights became non-finite; nothing was saved from that point."""


class SnapshotWriteError(ExplorerError):
    """A snapshot could not be written (disk full...); the previous ones are untouched."""


@dataclass
class TrainingConfig:
    """Everything that defines a run; JSON-able (``to_dict`` / ``from_dict``)."""
    # Data.
    data: str = 'synthetic'             # Folder, .zip or 'synthetic'.
    resolution: int = 64                # Training resolution (power of two, 4 .. 4096).
    num_channels: int = 3               # 3 = RGB, 1 = grayscale.
    xflip: bool = False                 # Add x-flipped copies of the data.
    use_labels: bool = True             # Conditional on dataset.json labels when present.
    # Length and minibatch.
    kimg: float = 1000.0                # Total training length in thousands of real images shown.
    batch: int = 16                     # Minibatch size (total over all processes).
    # Optimiser.
    g_lr: float = 0.0025                # Generator learning rate.
    d_lr: float = 0.0025                # Discriminator learning rate.
    adam_beta1: float = 0.0             # Adam beta1 (official: 0).
    adam_beta2: float = 0.99            # Adam beta2 (official: 0.99).
    adam_eps: float = 1e-8
    # Regularisation.
    gamma: float | None = None          # R1 weight, None = 0.0002 * resolution^2 / batch (ADA 'auto').
    pl_weight: float = 2.0              # Path-length weight, 0 = off.
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    g_reg_interval: int = 4             # Lazy path-length interval.
    d_reg_interval: int = 16            # Lazy R1 interval.
    # G_ema.
    ema_kimg: float | None = None       # Half-life in kimg, None = batch * 10 / 32.
    ema_rampup: float | None = 0.05     # Half-life limited to cur_nimg * rampup early on, None = off.
    # Network sizes.
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    channel_base: int = 16384
    channel_max: int = 512
    g_architecture: str = 'skip'        # Generator: 'orig', 'skip', 'resnet'.
    architecture: str = 'resnet'        # Discriminator: 'orig', 'skip', 'resnet'.
    num_fp16_res: int = 4               # fp16 for the N highest resolutions (CUDA only).
    conv_clamp: float | None = 256
    mbstd_group: int = 4
    fused_modconv: bool = False         # Grouped-conv modulation while training (official: off).
    # Augmentation (ADA).
    augment: bool = False               # Apply the augment pipe to everything D sees.
    augment_p: float = 0.0              # Initial augmentation probability.
    ada_target: float | None = 0.6      # Target E[sign(D(real))], None = fixed p.
    ada_interval: int = 4
    ada_kimg: float = 500.0             # kimg for p to move by 1.
    # Bookkeeping.
    seed: int = 0
    snapshot_kimg: float = 10.0         # Snapshot every this many kimg.
    snapshot_minutes: float | None = 15.0  # ... and at least this often in wall time, None = off.
    keep_snapshots: int = 3             # Keep the newest K snapshots.
    tick_kimg: float = 4.0              # Progress report every this many kimg ...
    tick_seconds: float = 5.0           # ... or this many seconds, whichever comes first.
    extra: dict = field(default_factory=dict)  # Free-form notes (e.g. finetune source).

    @property
    def r1_gamma(self) -> float:
        return self.gamma if self.gamma is not None else 0.0002 * self.resolution ** 2 / self.batch

    @property
    def ema_kimg_resolved(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> 'TrainingConfig':
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def validate(self, c_dim: int = 0) -> None:
        """Refuse values that cannot train (UserError naming the command-line flag): every number
        finite and within LIMITS, the resolution a power of two up to MAX_RESOLUTION, enough
        channels for it, and networks / minibatches of a size a machine can hold.
        ``resolution`` None (to be taken from the images) skips the checks that need it."""
        for name, (flag, kind, lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL:
                continue
            if name == 'resolution' and value is None:
                continue
            _check_number(flag, value, kind, lo, hi)
        if self.resolution is not None and self.resolution & (self.resolution - 1):
            raise UserError(f'--resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, '
                            f'got {self.resolution}')
        if self.num_channels not in (1, 3):
            raise UserError(f'num_channels must be 1 (grayscale) or 3 (RGB), got {self.num_channels!r}')
        for name in ('g_architecture', 'architecture'):
            if getattr(self, name) not in ('orig', 'skip', 'resnet'):
                raise UserError(f'{name} must be orig, skip or resnet')
        if self.resolution is None:
            return
        if self.channel_base < self.resolution:
            raise UserError(f'--channel-base {self.channel_base} gives no channels at {self.resolution}x'
                            f'{self.resolution} (channels there = channel_base / resolution); use at least '
                            f'{self.resolution}')
        if self.batch * self.resolution ** 2 > MAX_BATCH_PIXELS:
            raise UserError(f'--batch {self.batch} at {self.resolution}x{self.resolution} is '
                            f'{self.batch * self.resolution ** 2 / 1e9:.1f} gigapixels per minibatch; the limit is '
                            f'{MAX_BATCH_PIXELS / 1e9:.1f} (use a smaller --batch)')
        n = estimate_parameters(self, c_dim)
        if n > MAX_PARAMETERS:
            raise UserError(f'these sizes (--z-dim {self.z_dim}, --w-dim {self.w_dim}, --map {self.mapping_layers}, '
                            f'--channel-base {self.channel_base}, --channel-max {self.channel_max}, {c_dim} label '
                            f'dims) make about {n / 1e9:.1f} billion parameters; the limit is '
                            f'{MAX_PARAMETERS / 1e9:g} billion')

    def mbstd_group_size(self, batch: int | None = None) -> int:
        """Group size for ``batch`` samples per process (default: the whole minibatch)."""
        batch = self.batch if batch is None else batch
        g = max(1, min(self.mbstd_group, batch))
        while batch % g:
            g -= 1
        return g


# Bounds of every number in a TrainingConfig: field -> (command-line flag, kind, low, high).
# kind 'int': a whole number in [low, high]; 'pos': a finite float in (low, high]; 'float': in [low, high].
# Intervals (snapshot, tick) may be huge ('never'), but finite.
LIMITS = {
    'resolution': ('--resolution', 'int', MIN_RESOLUTION, MAX_RESOLUTION),
    'num_channels': ('--grayscale', 'int', 1, 3),
    'kimg': ('--kimg', 'pos', 0, 1e7),
    'batch': ('--batch', 'int', 1, 4096),
    'g_lr': ('--lr', 'pos', 0, 1.0),
    'd_lr': ('--lr', 'pos', 0, 1.0),
    'adam_beta1': ('adam_beta1', 'float', 0, 0.9999),
    'adam_beta2': ('adam_beta2', 'float', 0, 0.9999),
    'adam_eps': ('adam_eps', 'pos', 0, 1.0),
    'gamma': ('--gamma', 'float', 0, 1e6),
    'pl_weight': ('--pl-weight', 'float', 0, 1e4),
    'pl_batch_shrink': ('pl_batch_shrink', 'int', 1, 4096),
    'pl_decay': ('pl_decay', 'float', 0, 1),
    'style_mixing_prob': ('--style-mixing', 'float', 0, 1),
    'g_reg_interval': ('g_reg_interval', 'int', 1, 10000),
    'd_reg_interval': ('d_reg_interval', 'int', 1, 10000),
    'ema_kimg': ('ema_kimg', 'pos', 0, 1e12),
    'ema_rampup': ('ema_rampup', 'float', 0, 1e3),
    'z_dim': ('--z-dim', 'int', 1, 4096),
    'w_dim': ('--w-dim', 'int', 1, 4096),
    'mapping_layers': ('--map', 'int', 1, 64),
    'channel_base': ('--channel-base', 'int', 1, 1 << 20),
    'channel_max': ('--channel-max', 'int', 1, 4096),
    'num_fp16_res': ('num_fp16_res', 'int', 0, 16),
    'conv_clamp': ('conv_clamp', 'pos', 0, 1e9),
    'mbstd_group': ('mbstd_group', 'int', 1, 4096),
    'augment_p': ('augment_p', 'float', 0, 1),
    'ada_target': ('--ada-target', 'float', -1, 1),   # E[sign(D(real))] lies in [-1, 1]
    'ada_interval': ('ada_interval', 'int', 1, 10000),
    'ada_kimg': ('--ada-kimg', 'pos', 0, 1e7),
    'seed': ('--seed', 'int', 0, 2 ** 32 - 1),
    'snapshot_kimg': ('--snapshot-kimg', 'pos', 0, 1e12),
    'snapshot_minutes': ('--snapshot-minutes', 'pos', 0, 1e12),
    'keep_snapshots': ('--keep', 'int', 0, 100000),
    'tick_kimg': ('tick_kimg', 'pos', 0, 1e12),
    'tick_seconds': ('tick_seconds', 'pos', 0, 1e12),
}
OPTIONAL = {'gamma', 'ema_kimg', 'ema_rampup', 'conv_clamp', 'ada_target', 'snapshot_minutes'}
MAX_PARAMETERS = 1_000_000_000       # G + D; the official 1024x1024 networks have about 60 million.
MAX_BATCH_PIXELS = 1 << 30           # batch * resolution^2 (e.g. 64 at 4096^2, 1024 at 1024^2).


def _check_number(flag, value, kind, lo, hi) -> None:
    if kind == 'int':
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        if not ok:
            raise UserError(f'{flag} must be a whole number from {lo} to {hi}, got {_short(value)}')
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo < value <= hi if kind == 'pos' else lo <= value <= hi)
    if not ok:
        interval = f'({lo:g}, {hi:g}]' if kind == 'pos' else f'[{lo:g}, {hi:g}]'
        raise UserError(f'{flag} must be a finite number in {interval}, got {_short(value)}')


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:24] + '...'


def estimate_parameters(cfg: TrainingConfig, c_dim: int = 0) -> int:
    """About how many parameters G and D of ``cfg`` have (the dominant terms: convolution and
    fully connected weights), computed without building anything."""
    R, C, w = cfg.resolution, cfg.num_channels, cfg.w_dim
    log2 = R.bit_length() - 1

    def ch(res):
        return min(cfg.channel_base // res, cfg.channel_max)

    g = (cfg.z_dim + (w if c_dim else 0)) * w + (cfg.mapping_layers - 1) * w * w + c_dim * w
    g += ch(4) * 16 + (w + 9 * ch(4)) * ch(4) + (w + C) * ch(4)
    d = 0
    for res in (2 ** i for i in range(3, log2 + 1)):
        cin, cout = ch(res // 2), ch(res)
        g += (w + 9 * cout) * cin + (w + 9 * cout) * cout + (w + C) * cout  # conv0, conv1, toRGB
        d += C * cout + 9 * cout * cout + 9 * cout * cin + cout * cin       # fromRGB, conv0, conv1, skip
    c4 = ch(4)
    d += 9 * (c4 + 1) * c4 + 16 * c4 * c4 + c4 * max(c4 if c_dim else 1, 1)
    if c_dim:
        d += c_dim * c4 + (cfg.mapping_layers - 1) * c4 * c4
    return int(g + d)


def build_generator(cfg: TrainingConfig, c_dim: int) -> Generator:
    return Generator(
        z_dim=cfg.z_dim, c_dim=c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=cfg.num_channels,
        mapping_kwargs=dict(num_layers=cfg.mapping_layers),
        synthesis_kwargs=dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                              num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp,
                              architecture=cfg.g_architecture))


def build_discriminator(cfg: TrainingConfig, c_dim: int, img_resolution=None, img_channels=None,
                        batch_gpu=None) -> Discriminator:
    return Discriminator(
        c_dim=c_dim, img_resolution=img_resolution or cfg.resolution, img_channels=img_channels or cfg.num_channels,
        architecture=cfg.architecture, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
        num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp,
        epilogue_kwargs=dict(mbstd_group_size=cfg.mbstd_group_size(batch_gpu)))


def discriminator_record(D) -> dict:
    return {'class': 'discriminator', 'init_kwargs': json.loads(json.dumps(D.init_kwargs)),
            'state_dict': {k: v.detach().cpu().clone() for k, v in D.state_dict().items()}}


class _IdentityAugment(torch.nn.Module):
    """Stand-in while explorer.training.augment is absent: keeps ``p`` but changes nothing."""

    def __init__(self):
        super().__init__()
        self.register_buffer('p', torch.zeros([]))

    def forward(self, images):
        return images


def make_augment_pipe():
    try:
        from explorer.training.augment import AugmentPipe
    except ImportError:
        return _IdentityAugment()
    return AugmentPipe()


def _cpu_copy(obj):
    """Deep copy of a (possibly nested) optimizer state with tensors on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


class Trainer:
    """Owns G, D, G_ema, the optimisers and the data stream of one run directory."""

    def __init__(self,
        config: TrainingConfig,     # Run configuration (resolution/channels are taken from the dataset).
        dataset,                    # explorer.training.dataset dataset.
        outdir,                     # Run directory (snapshots, config.json).
        device='cpu',               # torch device.
        resume=False,               # Continue from the newest snapshot in outdir.
        finetune_from=None,         # Checkpoint path (or its read_checkpoint record) to start G (and D) from.
        log=None,                   # Callable(str) for one-line messages, None = silent.
    ):
        self.config = copy.deepcopy(config)
        self.dataset = dataset
        self.outdir = Path(outdir)
        self.device = torch.device(device)
        # Data parallel: rank / world size of an initialised torch.distributed job (1 process otherwise).
        self.rank = distributed.get_rank()
        self.world_size = distributed.get_world_size()
        self.is_main = self.rank == 0
        self.log = (log or (lambda msg: None)) if self.is_main else (lambda msg: None)
        cfg = self.config
        cfg.resolution = int(dataset.resolution)
        cfg.num_channels = int(dataset.num_channels)
        if len(dataset) == 0:
            raise UserError('the dataset is empty')
        self.c_dim = int(dataset.label_dim) if cfg.use_labels else 0
        cfg.validate(c_dim=self.c_dim)
        self.batch_gpu = distributed.per_rank_batch(cfg.batch, self.world_size)  # samples per process

        torch.manual_seed(cfg.seed)  # the same on every rank: identical initial networks
        np.random.seed(cfg.seed % (1 << 32))
        self.gen = torch.Generator().manual_seed(cfg.seed)  # latents, labels: one global stream on every rank
        self.sampler = ShardedInfiniteSampler(len(dataset), seed=cfg.seed, rank=self.rank, world_size=self.world_size)
        if self.device.type == 'cuda':
            torch.backends.cudnn.benchmark = True

        resume_data = None
        if resume:
            found = snap.read_latest_snapshot(self.outdir)
            if found is None:
                raise UserError(f'no snapshot to resume from in {self.outdir}')
            self.resume_path, resume_data = found
            finetune_from = None

        if finetune_from is not None:
            G, D = self._load_finetune(finetune_from)
        elif resume_data is not None:
            from explorer.engine.checkpoint import discriminator_from_record, generator_from_record
            G = generator_from_record(resume_data['G'], self.resume_path)
            D = discriminator_from_record(resume_data['D'], self.resume_path)
            if G.img_resolution != cfg.resolution or G.img_channels != cfg.num_channels:
                raise UserError(f'the run was trained at {G.img_resolution}x{G.img_resolution} with '
                                f'{G.img_channels} channel(s); the dataset gives {cfg.resolution} / {cfg.num_channels}')
            self.c_dim = G.c_dim
        else:
            G = build_generator(cfg, self.c_dim)
            D = build_discriminator(cfg, self.c_dim, batch_gpu=self.batch_gpu)
        if self.c_dim > 0 and dataset.label_dim != self.c_dim:
            raise UserError(f'the model takes {self.c_dim} label dims; the dataset has {dataset.label_dim}')

        mbstd = getattr(getattr(D, 'b4', None), 'mbstd', None)
        if mbstd is not None and mbstd.group_size is not None:
            g = min(mbstd.group_size, self.batch_gpu)
            if self.batch_gpu % g:
                raise UserError(f'{self.batch_gpu} samples per process is not divisible by the discriminator\'s '
                                f'minibatch-stddev group size {mbstd.group_size}; choose another --batch')
        self.G = G.train().requires_grad_(False).to(self.device)
        self.D = D.train().requires_grad_(False).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval()
        if resume_data is None and finetune_from is not None and self._finetune_ema is not None:
            self.G_ema.load_state_dict(self._finetune_ema.state_dict())
        self._ema_lock = threading.Lock()

        self.augment_pipe = None
        if cfg.augment:
            self.augment_pipe = make_augment_pipe().train().requires_grad_(False).to(self.device)
            self.augment_pipe.p.copy_(torch.as_tensor(float(cfg.augment_p)))

        self.loss = StyleGAN2Loss(self.G, self.D, augment_pipe=self.augment_pipe,
                                  style_mixing_prob=cfg.style_mixing_prob, r1_gamma=cfg.r1_gamma,
                                  pl_weight=cfg.pl_weight, pl_batch_shrink=cfg.pl_batch_shrink,
                                  pl_decay=cfg.pl_decay, synthesis_kwargs=dict(fused_modconv=cfg.fused_modconv))
        self.opt_G = self._make_optimizer(self.G, cfg.g_lr, cfg.g_reg_interval if cfg.pl_weight > 0 else None)
        self.opt_D = self._make_optimizer(self.D, cfg.d_lr, cfg.d_reg_interval if cfg.r1_gamma > 0 else None)

        self.cur_nimg = 0
        self.batch_idx = 0
        self.cur_tick = 0
        self._ada_signs = torch.zeros([2], device=self.device)  # [sum of signs, count]
        self._stop_requested = False
        self._last_snapshot_nimg = 0
        self._last_snapshot_time = time.time()
        self.last_snapshot_path = None
        self._labels_cache = None

        if resume_data is not None:
            self._restore(resume_data)
            self.log(f'resumed from {self.resume_path.name} at {self.cur_nimg / 1000:.3f} kimg')
        if self.world_size > 1:
            # Per-rank randomness inside the networks and losses (noise inputs, style mixing,
            # path-length noise, augmentation); the rest comes from the shared global streams.
            torch.manual_seed(cfg.seed * self.world_size + self.rank + self.cur_nimg)
            # Every rank starts from rank 0's state, whatever it was built or resumed from.
            nets = [self.G, self.D, self.G_ema] + ([self.augment_pipe] if self.augment_pipe is not None else [])
            distributed.broadcast_tensors_([t for m in nets for t in list(m.parameters()) + list(m.buffers())
                                            if t.is_floating_point()])
        if self.is_main:
            self.outdir.mkdir(parents=True, exist_ok=True)
            snap.remove_stale_temp_files(self.outdir)
            text = json.dumps(self.config.to_dict(), indent=2).encode()
            atomic_write(self.outdir / 'config.json', lambda f: f.write(text))

    # ------------------------------------------------------------------ setup helpers

    def _make_optimizer(self, module, lr, reg_interval):
        cfg = self.config
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        if reg_interval is not None:
            mb_ratio = reg_interval / (reg_interval + 1)
            lr = lr * mb_ratio
            betas = tuple(b ** mb_ratio for b in betas)
        return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, eps=cfg.adam_eps)

    def _load_finetune(self, path):
        from explorer.engine.checkpoint import read_checkpoint
        cfg = self.config
        data = path if isinstance(path, dict) else read_checkpoint(path)
        path = data.get('path', '<checkpoint>') if isinstance(path, dict) else path
        G_ema = data['G_ema']
        G = data.get('G') or copy.deepcopy(G_ema)
        if not isinstance(G, Generator):
            raise UserError(f'{path}: only StyleGAN2 generators can be finetuned here '
                            f'(this is {G.family})')
        if G.img_resolution != cfg.resolution or G.img_channels != cfg.num_channels:
            raise UserError(f'{path} generates {G.img_resolution}x{G.img_resolution} images with {G.img_channels} '
                            f'channel(s); the dataset gives {cfg.resolution}x{cfg.resolution} / {cfg.num_channels}')
        self.c_dim = G.c_dim
        # Record the real network sizes in the config so the run describes itself.
        cfg.z_dim, cfg.w_dim = G.z_dim, G.w_dim
        syn = G.init_kwargs.get('synthesis_kwargs', {})
        for key in ('channel_base', 'channel_max', 'num_fp16_res', 'conv_clamp'):
            if key in syn:
                setattr(cfg, key, syn[key])
        cfg.mapping_layers = G.mapping.num_layers
        cfg.extra = dict(cfg.extra, finetune_from=str(path))
        D = data.get('D')
        if D is None:
            warnings.warn(f'{Path(path).name} has no discriminator; finetuning starts with a fresh one', stacklevel=3)
            self.log('checkpoint has no discriminator: starting with a fresh one')
            D = build_discriminator(cfg, G.c_dim, G.img_resolution, G.img_channels)
        self._finetune_ema = G_ema
        return G, D

    _finetune_ema = None

    # ------------------------------------------------------------------ public hooks

    def request_stop(self) -> None:
        """Ask ``run()`` to stop after the current step (then it snapshots and returns)."""
        self._stop_requested = True

    @property
    def kimg(self) -> float:
        return self.cur_nimg / 1000

    def g_ema_state(self) -> dict:
        """CPU copy of G_ema's tensors, taken under the lock the loop updates them under."""
        with self._ema_lock:
            return {k: v.detach().to('cpu', copy=True) for k, v in self.G_ema.state_dict().items()}

    def g_ema_init_kwargs(self) -> dict:
        return copy.deepcopy(self.G_ema.init_kwargs)

    # ------------------------------------------------------------------ data

    def _real_batch(self):
        idx = self.sampler.next_batch(self.batch_gpu)  # this rank's share of the global minibatch
        images, labels = zip(*(self.dataset[int(i)] for i in idx))
        img = torch.from_numpy(np.stack(images)).to(self.device, non_blocking=True)
        img = img.to(torch.float32) / 127.5 - 1  # [N, C, R, R] in [-1, 1]
        c = torch.from_numpy(np.stack(labels).astype(np.float32)).to(self.device) if self.c_dim else \
            torch.zeros([len(idx), 0], device=self.device)
        return img, c

    def _gen_inputs(self, n):
        """n latents (and labels) per rank: this rank's strided share of n * world_size global draws."""
        r, w = self.rank, self.world_size
        z = torch.randn([n * w, self.G.z_dim], generator=self.gen)[r::w].contiguous().to(self.device)
        if self.c_dim == 0:
            return z, torch.zeros([n, 0], device=self.device)
        idx = torch.randint(len(self.dataset), [n * w], generator=self.gen)[r::w].tolist()
        c = np.stack([self.dataset.get_label(i) for i in idx]).astype(np.float32)
        return z, torch.from_numpy(c).to(self.device)

    # ------------------------------------------------------------------ one minibatch

    def _optimize(self, module, opt, loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.world_size > 1:
            distributed.all_reduce_grads_(module.parameters())  # mean over ranks = gradient of the global batch
        params = [p for p in module.parameters() if p.grad is not None]
        for p in params:  # fp16 blocks can overflow: keep the step finite, as the official loop does
            torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def train_step(self) -> dict:
        """One minibatch: G main (+ lazy PL), D main (+ lazy R1), G_ema, ADA. Returns detached stats."""
        cfg = self.config
        B = self.batch_gpu  # samples on this rank; cfg.batch = global minibatch
        stats = {}
        real_img, real_c = self._real_batch()

        # Generator.
        self.G.requires_grad_(True)
        z, c = self._gen_inputs(B)
        loss, s = self.loss.g_main_loss(z, c)
        self._optimize(self.G, self.opt_G, loss)
        stats.update(s)
        if cfg.pl_weight > 0 and self.batch_idx % cfg.g_reg_interval == 0:
            z, c = self._gen_inputs(B)
            loss, s = self.loss.g_pl_loss(z, c, gain=cfg.g_reg_interval)
            self._optimize(self.G, self.opt_G, loss)
            stats.update(s)
        self.G.requires_grad_(False)

        # Discriminator.
        self.D.requires_grad_(True)
        z, c = self._gen_inputs(B)
        loss, s = self.loss.d_main_loss(real_img, real_c, z, c)
        self._optimize(self.D, self.opt_D, loss)
        stats.update(s)
        if cfg.r1_gamma > 0 and self.batch_idx % cfg.d_reg_interval == 0:
            loss, s = self.loss.d_r1_loss(real_img, real_c, gain=cfg.d_reg_interval)
            self._optimize(self.D, self.opt_D, loss)
            stats.update(s)
        self.D.requires_grad_(False)

        # ADA statistic of this minibatch, summed over ranks below.
        ada_inc = None
        if self.augment_pipe is not None and cfg.ada_target is not None:
            ada_inc = torch.stack([stats['signs_real'] * B, torch.tensor(float(B), device=self.device)])
        if self.world_size > 1:
            ada_inc = self._sync_across_ranks(ada_inc)

        # G_ema: half-life ema_kimg, ramped up over the first images.
        ema_nimg = cfg.ema_kimg_resolved * 1000
        if cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * cfg.ema_rampup)
        ema_beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        with self._ema_lock, torch.no_grad():
            ema_params = list(self.G_ema.parameters())
            torch._foreach_lerp_(ema_params, [p.detach() for p in self.G.parameters()], 1 - ema_beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

        self.cur_nimg += cfg.batch
        self.batch_idx += 1

        # ADA: nudge p toward the target overfitting heuristic r_t = E[sign(D(real))].
        if ada_inc is not None:
            self._ada_signs += ada_inc
            if self.batch_idx % cfg.ada_interval == 0:
                rt = self._ada_signs[0] / self._ada_signs[1].clamp(min=1)
                adjust = torch.sign(rt - cfg.ada_target) * (cfg.batch * cfg.ada_interval) / (cfg.ada_kimg * 1000)
                self.augment_pipe.p.copy_((self.augment_pipe.p + adjust).clamp(min=0))
                self._ada_signs.zero_()
        return stats

    def _sync_across_ranks(self, ada_inc):
        """One all-reduce per minibatch: average ``w_avg`` and ``pl_mean`` (both are linear
        moving averages of batch means, so the mean over ranks equals what one process with
        the whole batch computes) and sum the ADA statistic. Returns the summed statistic."""
        mean_parts = [b for name, b in self.G.named_buffers() if name.endswith('w_avg')] + [self.loss.pl_mean]
        sizes = [t.numel() for t in mean_parts]
        flat = torch.cat([t.detach().reshape(-1).float() / self.world_size for t in mean_parts]
                         + ([ada_inc.float()] if ada_inc is not None else []))
        distributed.all_reduce_(flat, 'sum')
        parts = flat.split(sizes + ([2] if ada_inc is not None else []))
        with torch.no_grad():
            for t, part in zip(mean_parts, parts):
                t.copy_(part.reshape(t.shape))
        return parts[-1] if ada_inc is not None else None

    # ------------------------------------------------------------------ the loop

    def run(self, should_stop=None, is_paused=None):
        """Train until ``config.kimg``; yield a progress dict per tick. See the module docstring."""
        cfg = self.config
        total_nimg = int(cfg.kimg * 1000)
        sums = {}
        counts = {}
        steps = 0
        tick_start_nimg = self.cur_nimg
        tick_start = time.time()
        paused_time = 0.0

        def progress(**extra):
            elapsed = max(time.time() - tick_start - paused_time, 1e-9)
            rate = (self.cur_nimg - tick_start_nimg) / elapsed
            out = {'kimg': self.cur_nimg / 1000, 'total_kimg': float(cfg.kimg), 'images_per_sec': rate,
                   'eta_s': (total_nimg - self.cur_nimg) / rate if rate > 0 else float('nan'),
                   'tick': self.cur_tick, 'augment_p': self.augment_p,
                   'sec_per_tick': elapsed, 'snapshot': None, 'done': False, 'stopped': False, 'paused': False,
                   'num_skipped': int(getattr(self.dataset, 'num_skipped', 0))}
            for key in ('loss_G', 'loss_D', 'r1', 'pl', 'scores_real', 'scores_fake', 'pl_mean'):
                n = float(counts[key]) if key in counts else 0.0  # finite values only (see below)
                out[key] = float(sums[key]) / n if n else float('nan')
            out.update(extra)
            return out

        while True:
            stop = self._stop_requested or (should_stop is not None and should_stop())
            if self.world_size > 1:  # every rank stops at the same minibatch (a stop on one stops all)
                stop = distributed.any_rank(stop, device=self.device)
            if stop:
                path = self.snapshot() if self.cur_nimg != self._last_snapshot_nimg else self.last_snapshot_path
                yield progress(stopped=True, snapshot=str(path) if path else None)
                return
            if is_paused is not None and is_paused():
                t0 = time.time()
                time.sleep(0.05)
                paused_time += time.time() - t0
                yield progress(paused=True)
                continue
            if self.cur_nimg >= total_nimg:
                path = self.snapshot() if self.cur_nimg != self._last_snapshot_nimg else self.last_snapshot_path
                yield progress(done=True, snapshot=str(path) if path else None)
                return

            stats = self.train_step()
            steps += 1
            for key, value in stats.items():  # non-finite values are left out of the means and counted
                finite = torch.isfinite(value) if isinstance(value, torch.Tensor) else math.isfinite(value)
                sums[key] = sums.get(key, 0) + (torch.where(finite, value, 0) if isinstance(value, torch.Tensor)
                                                else (value if finite else 0))
                counts[key] = counts.get(key, 0) + finite

            done = self.cur_nimg >= total_nimg
            tick_done = (done or self.cur_nimg >= tick_start_nimg + cfg.tick_kimg * 1000
                         or time.time() - tick_start - paused_time >= cfg.tick_seconds)
            if not tick_done:
                continue
            self._check_finite(counts, steps)
            snapshot_path = None
            due = (self.cur_nimg - self._last_snapshot_nimg >= cfg.snapshot_kimg * 1000
                   or (cfg.snapshot_minutes is not None
                       and time.time() - self._last_snapshot_time >= cfg.snapshot_minutes * 60))
            if done or due:
                snapshot_path = str(self.snapshot())
            info = progress(snapshot=snapshot_path, done=done)
            self._append_stats(info)
            self.cur_tick += 1
            sums, counts, steps = {}, {}, 0
            tick_start_nimg = self.cur_nimg
            tick_start = time.time()
            paused_time = 0.0
            yield info
            if done:
                return

    def networks_finite(self) -> bool:
        """Whether every weight and buffer of G, G_ema and D is finite (one device sync)."""
        tensors = [t for m in (self.G, self.G_ema, self.D) for t in list(m.parameters()) + list(m.buffers())
                   if t.is_floating_point()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    def _diverged(self, what) -> 'TrainingDiverged':
        last = self.last_snapshot_path
        keep = (f'the last good snapshot is {last}' if last is not None else 'no snapshot was written')
        msg = (f'training diverged at {self.cur_nimg / 1000:.3f} kimg ({what}); stopped without saving it, '
               f'{keep} (try a lower --lr or --gamma)')
        self.log(msg)
        return TrainingDiverged(msg)

    def _check_finite(self, counts, steps) -> None:
        """End of a tick: stop if the weights went non-finite or no step of the tick had finite
        losses; a few non-finite steps among finite ones (fp16 overflow) only get a warning."""
        if not self.networks_finite():
            raise self._diverged('non-finite weights')
        for key in ('loss_G', 'loss_D'):
            if key not in counts:
                continue
            good = int(counts[key])
            if good == 0:
                raise self._diverged(f'{key} was non-finite in every step of the last {steps}')
            if good < steps:
                self.log(f'warning: {key} was non-finite in {steps - good} of {steps} steps '
                         f'before {self.cur_nimg / 1000:.1f} kimg')

    def _append_stats(self, info) -> None:
        """One line per tick in RUN/stats.jsonl (rank 0), e.g. for a GUI following a torchrun run."""
        if not self.is_main:
            return
        try:
            runlog.append_stats(self.outdir, dict(info, time=time.time(), world_size=self.world_size))
        except OSError as e:
            self.log(f'warning: cannot append to {runlog.STATS_NAME}: {e}')

    @property
    def augment_p(self) -> float:
        return float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0

    # ------------------------------------------------------------------ snapshots

    def snapshot_record(self) -> dict:
        rng = {'torch': torch.get_rng_state(), 'gen': self.gen.get_state(), 'sampler': self.sampler.state_dict()}
        if self.device.type == 'cuda':
            rng['cuda'] = torch.cuda.get_rng_state(self.device)
        with self._ema_lock:
            g_ema = network_record(self.G_ema)
        return {
            'G': network_record(self.G),
            'G_ema': g_ema,
            'D': discriminator_record(self.D),
            'opt_G': _cpu_copy(self.opt_G.state_dict()),
            'opt_D': _cpu_copy(self.opt_D.state_dict()),
            'augment_p': self.augment_p,
            'kimg': self.cur_nimg / 1000,
            'nimg': int(self.cur_nimg),
            'progress': {'batch_idx': int(self.batch_idx), 'tick': int(self.cur_tick),
                         'pl_mean': self.loss.pl_mean.detach().cpu().clone(),
                         'ada_signs': self._ada_signs.detach().cpu().clone()},
            'config': self.config.to_dict(),
            'rng': rng,
        }

    def snapshot(self) -> Path:
        """Write a snapshot of the current state (atomic; keeps the newest keep_snapshots).

        Only rank 0 writes; the other ranks (which hold the same state) return its path.
        Non-finite weights are never written (TrainingDiverged); a failed write (disk full)
        raises SnapshotWriteError and leaves the previous snapshots as they were."""
        if not self.networks_finite():
            raise self._diverged('non-finite weights')
        if self.is_main:
            try:
                path = snap.write_snapshot(self.outdir, self.snapshot_record(), keep=self.config.keep_snapshots)
            except (OSError, RuntimeError) as e:
                raise self._write_failed(e) from None
        else:
            path = self.outdir / runs.snapshot_name(self.cur_nimg / 1000)
        self._last_snapshot_nimg = self.cur_nimg
        self._last_snapshot_time = time.time()
        self.last_snapshot_path = path
        return path

    def _write_failed(self, e) -> 'SnapshotWriteError':
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).splitlines() or [''])[0]
        if isinstance(e, RuntimeError) and 'write' in reason.lower():
            reason = 'write failed (disk full or file too large?)'
        last = self.last_snapshot_path
        keep = f'the previous snapshot {last} is intact' if last is not None else 'no snapshot was written'
        msg = (f'cannot write a snapshot to {self.outdir} at {self.cur_nimg / 1000:.3f} kimg: {reason}; '
               f'{keep}')
        self.log(msg)
        return SnapshotWriteError(msg)

    def _restore(self, data: dict) -> None:
        from explorer.engine.state import load_state_strict
        path = self.resume_path
        load_state_strict(self.G_ema, data['G_ema']['state_dict'], path)
        try:
            self.opt_G.load_state_dict(data['opt_G'])
            self.opt_D.load_state_dict(data['opt_D'])
        except (ValueError, KeyError) as e:
            warnings.warn(f'{path.name}: optimizer state not restored ({e})', stacklevel=3)
        if self.augment_pipe is not None:
            self.augment_pipe.p.copy_(torch.as_tensor(float(data.get('augment_p', 0.0))))
        self.cur_nimg = int(data['nimg'])
        prog = data.get('progress', {})
        self.batch_idx = int(prog.get('batch_idx', 0))
        self.cur_tick = int(prog.get('tick', 0))
        if 'pl_mean' in prog:
            self.loss.pl_mean.copy_(prog['pl_mean'])
        if 'ada_signs' in prog:
            self._ada_signs.copy_(prog['ada_signs'])
        rng = data.get('rng', {})
        if 'torch' in rng:
            torch.set_rng_state(rng['torch'])
        if 'gen' in rng:
            self.gen.set_state(rng['gen'])
        if 'sampler' in rng:
            self.sampler.load_state_dict(rng['sampler'])
        if 'cuda' in rng and self.device.type == 'cuda':
            torch.cuda.set_rng_state(rng['cuda'], self.device)
        self._last_snapshot_nimg = self.cur_nimg
        self.last_snapshot_path = path
