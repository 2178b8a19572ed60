"""Batch export speed with stock metadata, against the PNG-only path it replaced.

    python bench/export_speed.py                       # default model, 32 seeds, all formats
    python bench/export_speed.py --seeds 64 --big 1024 --json out.json

Two measurements:
1. ``render_seeds_to_dir`` end to end (render + encode + atomic write) per format: ``png-plain``
   is the path before stock export (``options=None``: PNG with the recipe chunk only); the others
   add the sRGB profile, XMP (AI label, description, creator, checkpoint, recipe) and EXIF.
2. Encoding alone (``save_image`` / ``save_png`` of a ready frame) at the model's size and at
   ``--big`` pixels a side (a frame upscaled with Lanczos first, as stock sites want), so the
   cost of the metadata is visible apart from rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.engine.image_export import ExportOptions, save_image  # noqa: E402
from explorer.engine.png import save_png, upscale_image  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.render_batch import render_seeds_to_dir  # noqa: E402

KINDS = {
    'png-plain': None,
    'png': ExportOptions(format='png'),
    'png-16': ExportOptions(format='png', bits=16),
    'jpeg-92': ExportOptions(format='jpeg', quality=92),
    'webp-90': ExportOptions(format='webp', quality=90),
    'webp-lossless': ExportOptions(format='webp', lossless=True),
    'tiff': ExportOptions(format='tiff'),
    'tiff-16': ExportOptions(format='tiff', bits=16),
}


def _encode(kind, path, frame, frame16, recipe):
    opts = KINDS[kind]
    if opts is None:
        return save_png(path, frame, recipe)
    return save_image(path.with_suffix(opts.extension), frame16 if opts.bits == 16 else frame, recipe, opts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--seeds', type=int, default=16, help='seeds per batch')
    ap.add_argument('--big', type=int, default=1024, help='side of the large frame for encode-only timing')
    ap.add_argument('--repeat', type=int, default=5, help='encodes per format for encode-only timing')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved batch rounds (best of)')
    ap.add_argument('--json', default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    from explorer.engine.checkpoint import default_checkpoint_path, load_generator, sha256_file
    from explorer.engine.export import to_uint8
    from explorer.engine.png import to_uint16
    from explorer.engine.rendering import render
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    G = load_generator(path, device='cpu')
    base = Recipe(psi=0.7)
    results = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
                          f'torch {torch.__version__}', 'checkpoint': path.name,
               'resolution': int(G.img_resolution), 'seeds': args.seeds, 'batch': {}, 'encode': {}}
    render_seeds_to_dir(G, path, [0], tempfile.mkdtemp())                # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        best = {}
        for r in range(args.rounds):        # interleaved rounds, best of each: a shared machine's load varies
            for kind, opts in KINDS.items():
                out = Path(tmp) / f'{kind}-{r}'
                out.mkdir()
                t0 = time.perf_counter()
                render_seeds_to_dir(G, path, range(args.seeds), out, base_recipe=base, options=opts)
                best[kind] = min(best.get(kind, float('inf')), time.perf_counter() - t0)
                size = sum(p.stat().st_size for p in out.iterdir()) / args.seeds
                results['batch'][kind] = {'images_per_s': args.seeds / best[kind], 'kb_per_image': size / 1024}
        for kind, d in results['batch'].items():
            print(f'batch  {kind:14s} {d["images_per_s"]:7.1f} img/s  {d["kb_per_image"]:7.1f} KB/img', flush=True)
        recipe = base.replace(seeds=(1,), checkpoint=path.name, checkpoint_sha256=sha256_file(path)).to_dict()
        with torch.no_grad():
            img = render(G, base.replace(seeds=(1,)))
        small, small16 = to_uint8(img), to_uint16(img)
        f = max(1, args.big // small.shape[0])
        big = upscale_image(small, min(f, 16))
        big16 = big.astype(np.uint16) * 257
        for label, frame, frame16 in (('native', small, small16), (f'{big.shape[0]}px', big, big16)):
            results['encode'][label] = {}
            for kind in KINDS:
                times = []
                for i in range(args.repeat):
                    t0 = time.perf_counter()
                    _encode(kind, Path(tmp) / f'e{i}.png', frame, frame16, recipe)
                    times.append(time.perf_counter() - t0)
                ms = min(times) * 1e3
                results['encode'][label][kind] = ms
                print(f'encode {label:7s} {kind:14s} {ms:8.2f} ms', flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
