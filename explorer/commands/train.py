"""python main.py train: train or finetune a StyleGAN2 generator headless.

    python main.py train --data DIR|ZIP|synthetic --outdir RUN [--resolution R] [--kimg K] [--batch B]
    python main.py train --outdir RUN --resume [--kimg K]          # continue from the newest snapshot
    python main.py train --data DIR --outdir RUN --finetune CKPT   # start from a checkpoint's G (and D)

Ctrl+C (or SIGTERM / SIGHUP) stops after the current step and writes a final snapshot
(exit 130); a second one aborts at once, even inside a long step (the last snapshot on disk
stays valid). Every number is checked before any work starts (one line naming the flag,
exit 2); a run whose losses or weights turn non-finite stops without writing them, keeps its
last good snapshot and exits 2.

Several GPUs / machines: launch the same command with torchrun, e.g.
``torchrun --nproc_per_node=4 main.py train ...``. ``--batch`` stays the total minibatch
(each process trains on batch / N); only rank 0 prints, logs and writes snapshots, and a
run can be resumed with a different number of processes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from explorer.commands import _common as C
from explorer.errors import UserError
from explorer.timefmt import format_eta
from explorer.training import jobs

NAME = 'train'
HELP = 'train or finetune a StyleGAN2 generator on a folder/zip of images or the synthetic portraits'


def add_arguments(p):
    p.add_argument('--data', metavar='DIR', help='folder or .zip of images, or "synthetic" (procedural portraits)')
    p.add_argument('--outdir', metavar='RUN', required=True, help='run folder (snapshots, config.json)')
    p.add_argument('--resume', action='store_true', help='continue from the newest snapshot in RUN')
    p.add_argument('--finetune', metavar='CHECKPOINT', help='start from this checkpoint (its G, and D when present)')
    p.add_argument('--resolution', type=C.positive_int, help='training resolution, a power of two '
                                                            '(default: 64 for synthetic, else from the first image)')
    p.add_argument('--kimg', type=C.positive_float, help='total length in thousands of images shown (default 1000)')
    p.add_argument('--batch', type=C.positive_int, help='minibatch size, total over all processes (default 16)')
    p.add_argument('--grayscale', action='store_true', help='train on 1-channel grayscale images')
    p.add_argument('--mirror', action='store_true', help='add x-flipped copies of the data')
    p.add_argument('--no-labels', action='store_true', help='ignore dataset.json class labels')
    p.add_argument('--augment', action='store_true', help='adaptive discriminator augmentation (ADA)')
    p.add_argument('--ada-target', type=C.probability, default=None,
                   help='ADA target for E[sign(D(real))] (default 0.6)')
    p.add_argument('--ada-kimg', type=C.positive_float, default=None, help='ADA speed in kimg (default 500)')
    p.add_argument('--gamma', type=C.nonneg_float, default=None, help='R1 weight (default 0.0002 * res^2 / batch)')
    p.add_argument('--pl-weight', type=C.nonneg_float, default=None, help='path-length weight (default 2, 0 = off)')
    p.add_argument('--style-mixing', type=C.probability, default=None, help='style-mixing probability (default 0.9)')
    p.add_argument('--lr', type=C.positive_float, default=None, help='G and D learning rate (default 0.0025)')
    p.add_argument('--z-dim', type=C.positive_int, default=None, help='latent size (default 512)')
    p.add_argument('--w-dim', type=C.positive_int, default=None, help='W size (default 512)')
    p.add_argument('--map', type=C.positive_int, default=None, help='mapping layers (default 2)')
    p.add_argument('--channel-base', type=C.positive_int, default=None, help='channel multiplier (default 16384)')
    p.add_argument('--channel-max', type=C.positive_int, default=None, help='max channels per layer (default 512)')
    p.add_argument('--snapshot-kimg', type=C.positive_float, default=None,
                   help='snapshot interval in kimg (default 10)')
    p.add_argument('--snapshot-minutes', type=C.positive_float, default=None,
                   help='also snapshot at least this often (default 15)')
    p.add_argument('--keep', type=C.positive_int, default=None, help='snapshots to keep (default 3)')
    p.add_argument('--seed', type=C.seed_type, default=None, help='random seed (default 0)')
    p.add_argument('--synthetic-length', type=C.positive_int, default=None,
                   help='number of distinct synthetic portraits (default: the source default)')
    p.add_argument('--threads', type=C.positive_int, default=None,
                   help='CPU threads for torch (default: torch default; 1 is much faster on a busy machine)')
    C.add_device_arg(p)


_OVERRIDES = [  # (argparse dest, TrainingConfig field)
    ('kimg', 'kimg'), ('batch', 'batch'), ('gamma', 'gamma'), ('pl_weight', 'pl_weight'),
    ('style_mixing', 'style_mixing_prob'), ('z_dim', 'z_dim'), ('w_dim', 'w_dim'), ('map', 'mapping_layers'),
    ('channel_base', 'channel_base'), ('channel_max', 'channel_max'), ('snapshot_kimg', 'snapshot_kimg'),
    ('snapshot_minutes', 'snapshot_minutes'), ('keep', 'keep_snapshots'), ('seed', 'seed'),
    ('ada_target', 'ada_target'), ('ada_kimg', 'ada_kimg'),
]


def build_config(args):
    """The TrainingConfig the command line asks for; on --resume the run's own (``jobs.resume_config``)."""
    from explorer.training.loop import TrainingConfig
    if args.resume:
        if args.finetune:
            raise UserError('--resume and --finetune cannot be combined')
        try:
            return jobs.resume_config(args.outdir, kimg=args.kimg, data=args.data)
        except UserError as e:
            raise UserError(f'--resume: {e}') from None
    if not args.data:
        raise UserError('--data is required (a folder, a .zip of images, or "synthetic")')
    cfg = TrainingConfig(data=args.data)
    if args.resolution is not None:
        cfg.resolution = args.resolution
    elif cfg.data != 'synthetic':
        cfg.resolution = None  # taken from the images (or the --finetune checkpoint)
    for dest, name in _OVERRIDES:
        value = getattr(args, dest)
        if value is not None:
            setattr(cfg, name, value)
    if args.lr is not None:
        cfg.g_lr = cfg.d_lr = args.lr
    cfg.num_channels = 1 if args.grayscale else 3
    cfg.xflip = bool(args.mirror)
    cfg.use_labels = not args.no_labels
    cfg.augment = bool(args.augment)
    if args.synthetic_length is not None:
        cfg.extra = dict(cfg.extra, synthetic_length=args.synthetic_length)
    cfg.validate()  # before any work: one line naming the flag
    return cfg


class ProgressBar:
    """One-line text bar on stderr; on a non-terminal, a plain line at most every 30 s."""

    def __init__(self, stream=None, width=24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self._last_line = 0.0

    def line(self, p) -> str:
        frac = min(max(p['kimg'] / p['total_kimg'], 0.0), 1.0) if p['total_kimg'] else 0.0
        filled = int(round(frac * self.width))
        bar = '#' * filled + '.' * (self.width - filled)
        digits = 3 if p['total_kimg'] < 10 else 1
        text = (f'[{bar}] {p["kimg"]:.{digits}f}/{p["total_kimg"]:g} kimg  {p["images_per_sec"]:.1f} img/s  '
                f'ETA {format_eta(p["eta_s"])}  G {p["loss_G"]:.3f}  D {p["loss_D"]:.3f}')
        if p.get('augment_p'):
            text += f'  p {p["augment_p"]:.3f}'
        return text

    def update(self, p):
        now = time.time()
        final = p.get('done') or p.get('stopped') or p.get('snapshot')
        if self.tty:
            self.stream.write('\r' + self.line(p) + '\x1b[K')
            if p.get('snapshot'):
                self.stream.write(f'\n  snapshot {p["snapshot"]}\n')
        elif final or now - self._last_line >= 30:
            self.stream.write(self.line(p) + '\n')
            if p.get('snapshot'):
                self.stream.write(f'  snapshot {p["snapshot"]}\n')
            self._last_line = now
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write('\n')
            self.stream.flush()


def run(args):
    from explorer.training import distributed
    if not distributed.launched_by_torchrun():
        return _train(args)
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available():
        C.pick_device('cuda')  # raises the usual one-line error
    ctx = distributed.init_distributed(device=args.device)
    try:
        code = _train(args, ctx)
    except BaseException:
        distributed.shutdown(wait=False)  # torchrun then stops the other processes
        raise
    distributed.shutdown()
    return code


def _train(args, ctx=None):
    main_rank = ctx is None or ctx.is_main
    say = sys.stderr.write if main_rank else (lambda text: None)
    jobs.use_threads(args.threads)
    device = C.pick_device(args.device) if ctx is None else ctx.device
    cfg = build_config(args)
    finetune = jobs.apply_finetune(cfg, args.finetune, resolution=args.resolution) if args.finetune else None
    C.writable_dir(args.outdir)

    with StopSignals(say) as stop:
        trainer = jobs.build_trainer(cfg, args.outdir, device, resume=args.resume, finetune=finetune,
                                     log=lambda msg: say(msg + '\n'))
        dataset = trainer.dataset
        stop.trainer = trainer
        procs = f' x {trainer.world_size} processes ({ctx.backend})' if ctx is not None and ctx.enabled else ''
        say(f'training {trainer.config.resolution}x{trainer.config.resolution} on {device}{procs} '
            f'for {trainer.config.kimg:g} kimg (starting at {trainer.kimg:.3f}), batch {trainer.config.batch}, '
            f'run folder {args.outdir}\n')
        bar = ProgressBar() if main_rank else None
        last = None
        try:
            for p in trainer.run():
                if bar is not None:
                    bar.update(p)
                last = p
        finally:
            if bar is not None:
                bar.close()
    if dataset.num_skipped:
        say(f'dataset: {len(dataset)} images, skipped: {dataset.skip_summary()}\n')
    if last is not None and last.get('snapshot'):
        say(f'last snapshot: {last["snapshot"]}\n')
    return 130 if stop.count else 0


class StopSignals:
    """SIGINT / SIGTERM / SIGHUP during training. The first asks the trainer to stop after the
    current step (it writes a final snapshot); the second ends the process at once (exit 130).

    Python runs signal handlers only between bytecodes of the main thread, which may sit in
    one long torch call; so the signals are counted by a watcher thread reading the
    interpreter's wakeup fd (written by the C-level handler as the signal arrives), and the
    abort is ``os._exit``. The snapshot on disk stays valid (writes are atomic; a temp file
    left behind is removed when the run is next opened). Before a trainer exists the first
    signal raises KeyboardInterrupt in the main thread (nothing to save yet)."""

    SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP') if hasattr(signal, name))

    def __init__(self, say):
        self.say = say
        self.trainer = None
        self.count = 0
        self._lock = threading.Lock()
        self._old = {}
        self._installed = False

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self  # signals are the main thread's business; nothing to install
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._handler)
        self._installed = True
        self._thread = threading.Thread(target=self._watch, name='stop-signals', daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if not self._installed:
            return False
        for sig, old in self._old.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._w)  # ends the watcher
        self._thread.join(timeout=5)
        os.close(self._r)
        return False

    def _handler(self, signum, frame):
        if self.trainer is None:  # still setting up: nothing to save
            raise KeyboardInterrupt
        self.trainer.request_stop()  # (the watcher asks too; this covers a trainer made meanwhile)

    def _watch(self):
        wanted = {int(s) for s in self.SIGNALS}
        while True:
            try:
                data = os.read(self._r, 64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in wanted:
                    self._on_signal()

    def _on_signal(self):
        with self._lock:
            self.count += 1
            count = self.count
        if count == 1:
            if self.trainer is not None:
                self.trainer.request_stop()
                self.say('\nstopping: finishing this step and writing a snapshot (Ctrl+C again to abort)\n')
            return
        self.say('\naborted; the last snapshot on disk is intact\n')
        try:
            sys.stderr.flush()
        finally:
            os._exit(130)
