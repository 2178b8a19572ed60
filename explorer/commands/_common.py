"""Argument helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from explorer.engine.files import writable_dir  # noqa: F401 (the commands' C.writable_dir)
from explorer.errors import UserError


def add_checkpoint_arg(p):
    p.add_argument('--checkpoint', metavar='P', default=None,
                   help='checkpoint path or http(s) URL (default: the shipped default model)')


def add_device_arg(p):
    p.add_argument('--device', default=None, choices=['cpu', 'cuda', 'mps'],
                   help='device (default: cuda if available, else mps if available, else cpu)')


def _float(text, what='expected a', finite=True):
    """``text`` as a float; the error reads '<what> number, got ...' (or '<what> finite number')."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{what} number, got {text!r}') from None
    if finite and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f'{what} finite number, got {text!r}')
    return v


def psi_type(text):
    return _float(text, 'psi must be a')


def finite_float(text):
    return _float(text)


def nonneg_float(text):
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f'expected a number >= 0, got {text}')
    return v


def probability(text):
    v = finite_float(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f'expected a probability between 0 and 1, got {text}')
    return v


def seed_type(text):
    """A seed numpy's RandomState accepts: 0 .. 2**32 - 1."""
    from explorer.engine.latents import MAX_SEED
    v = nonneg_int(text)
    if v > MAX_SEED:
        raise argparse.ArgumentTypeError(f'seed must be between 0 and {MAX_SEED}, got {v}')
    return v


def nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
    if v < 0:
        raise argparse.ArgumentTypeError(f'expected a number >= 0, got {v}')
    return v


def positive_int(text):
    v = nonneg_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError('expected a number > 0')
    return v


def positive_float(text):
    v = _float(text, 'expected a')
    if not v > 0:
        raise argparse.ArgumentTypeError(f'expected a number > 0, got {text}')
    return v


def add_exact_arg(p):
    p.add_argument('--exact', action='store_true',
                   help='render with the reference synthesis (recorded as synthesis "ref"); default: the fast '
                        'path where the model has one (within float rounding of it, recorded as "fast")')


def synthesis_of(args) -> str:
    """The Recipe.synthesis a command's flags ask for: 'ref' with --exact, else 'auto'."""
    return 'ref' if getattr(args, 'exact', False) else 'auto'


def pick_device(name=None):
    """explorer.engine.device.pick_device, imported when a command runs (``--help`` stays torch-free)."""
    from explorer.engine.device import pick_device as pick
    return pick(name)


def writable_file(path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f'cannot write {path}: it is a folder; give a file name')
    parent = path.parent if str(path.parent) else Path('.')
    if not parent.is_dir():
        raise UserError(f'cannot write {path}: folder {parent} does not exist')
    if not os.access(parent, os.W_OK):
        raise UserError(f'cannot write {path}: folder {parent} is not writable')
    return path


class TextProgress:
    """A progress callback (``progress(done, total, text)``, see explorer.engine.progress) drawn
    as a tqdm bar on stderr; nothing is drawn until the first call. Use as a context manager."""

    def __init__(self, label='', stream=None, min_interval=0.1):
        self.label = label
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._bar = None

    def __call__(self, done, total=None, text=''):
        if self._bar is None:
            from tqdm import tqdm
            self._bar = tqdm(desc=self.label, total=total, file=self.stream, mininterval=self.min_interval,
                             unit='', unit_scale=True, dynamic_ncols=True)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        if text:
            self._bar.set_postfix_str(text, refresh=False)
        self._bar.update(done - self._bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False


def load_for_cli(checkpoint, device):
    """Load a generator with a stderr progress bar for downloads."""
    from explorer.engine.checkpoint import default_checkpoint_path, is_url, load_generator, resolve_path
    with TextProgress('download') as bar:
        path = resolve_path(checkpoint, progress=bar) if checkpoint else default_checkpoint_path()
    if not path.exists():
        raise UserError(f'{path}: no such file')
    # A URL is loaded as a URL, so a download that fails to load leaves the cache.
    G = load_generator(checkpoint if is_url(checkpoint) else path, device=device)
    return G, path


def info(msg):
    sys.stderr.write(msg + '\n')


def add_export_args(p, default_format_help='png'):
    """--format, --quality, --lossless, --bits, --strip, --watermark, --watermark-corner, --c2pa-* (image files)."""
    from explorer.engine.c2pa_credentials import ALGORITHMS
    from explorer.engine.image_export import CORNERS, FORMATS, METADATA_FIELDS
    p.add_argument('--format', choices=FORMATS, default=None,
                   help=f'image format (default {default_format_help}); every format embeds an sRGB profile, '
                        'the AI label (IPTC trainedAlgorithmicMedia) and the recipe')
    p.add_argument('--quality', type=int, default=92, help='JPEG / lossy WebP quality 1-100 (default 92)')
    p.add_argument('--lossless', action='store_true', help='WebP: lossless')
    p.add_argument('--bits', type=int, choices=(8, 16), default=None,
                   help="bits per channel; 16 for PNG and TIFF, from the float render (default 8; with "
                        "--recipe the source image's)")
    p.add_argument('--strip', default='', metavar='FIELDS',
                   help=f"metadata to leave out, comma-separated: {','.join(METADATA_FIELDS)} "
                        "(ai_label only when you must; without recipe the file cannot be re-rendered)")
    p.add_argument('--watermark', default='', metavar='TEXT', help='visible text drawn on the image')
    p.add_argument('--watermark-corner', choices=CORNERS, default='bottom-right', help='where the watermark goes')
    p.add_argument('--c2pa-cert', metavar='CERT.pem', default='',
                   help='sign every image with C2PA content credentials: your PEM certificate chain (end-entity '
                        'first; needs the c2pa extra and --c2pa-key)')
    p.add_argument('--c2pa-key', metavar='KEY.pem', default='', help='the PEM private key of --c2pa-cert')
    p.add_argument('--c2pa-alg', choices=ALGORITHMS, default='es256',
                   help='C2PA signing algorithm, matching the key (default es256)')


def export_options(args, default_format='png', default_bits=8):
    """The ExportOptions the export flags ask for (UserError for a bad combination)."""
    from explorer.engine.image_export import METADATA_FIELDS, ExportOptions
    strip = [s.strip() for s in (args.strip or '').split(',') if s.strip()]
    bad = [s for s in strip if s not in METADATA_FIELDS]
    if bad:
        raise UserError(f'--strip: unknown field(s) {", ".join(bad)} (choose from {", ".join(METADATA_FIELDS)})')
    options = ExportOptions(format=args.format or default_format, quality=args.quality, lossless=args.lossless,
                         bits=args.bits or default_bits, upscale=getattr(args, 'upscale', 1) or 1,
                         watermark=args.watermark, watermark_corner=args.watermark_corner,
                         c2pa_cert=getattr(args, 'c2pa_cert', '') or '', c2pa_key=getattr(args, 'c2pa_key', '') or '',
                         c2pa_alg=getattr(args, 'c2pa_alg', 'es256') or 'es256',
                         **{f: False for f in strip})
    if options.signs:       # refuse a missing extra or a bad file before rendering anything
        from explorer.engine import c2pa_credentials as C2PA
        if not C2PA.available():
            raise UserError(C2PA.INSTALL_HINT)
        C2PA.read_pem(options.c2pa_cert, 'certificate chain')
        C2PA.read_pem(options.c2pa_key, 'private key')
    return options
