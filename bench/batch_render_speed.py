"""Seed batch rendering (``render --seeds``, GUI batch export): images/s of three ways, interleaved.

    python bench/batch_render_speed.py --checkpoint /path/configf1024.pt --seeds 10 --threads 2
    python bench/batch_render_speed.py --seeds 16 --threads 1 --repeat 5

- ``inline``: one seed per synthesis call, each PNG encoded and written before the next render
  (what ``render_seeds_to_dir`` did before batches and the writer thread);
- ``writer``: one seed per call, PNGs encoded on ``ImageWriter``'s thread (``batch=1``);
- ``batched``: today's default, ``rendering.batch_size`` seeds per call (the CPU lanes) + writer.

Every way writes the same bytes (checked). The modes run in turn in each repeat, so a load
change on the machine hits them alike; the medians are printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.engine import rendering  # noqa: E402
from explorer.engine.png import load_png  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.render_batch import render_seeds_to_dir, write_render  # noqa: E402


def inline(G, seeds, outdir):
    base = rendering.resolved(G, Recipe())
    for s in seeds:
        recipe = base.replace(seeds=(s,), seed_weights=(1.0,))
        write_render(outdir / f'seed{s:04d}.png', rendering.render(G, recipe), recipe.to_dict())


MODES = {
    'inline': inline,
    'writer': lambda G, seeds, outdir: render_seeds_to_dir(G, None, seeds, outdir, batch=1),
    'batched': lambda G, seeds, outdir: render_seeds_to_dir(G, None, seeds, outdir),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None, help='default: the shipped model')
    ap.add_argument('--seeds', type=int, default=10)
    ap.add_argument('--threads', type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import explorer
    G = explorer.load_generator(args.checkpoint, device='cpu')
    seeds = list(range(args.seeds))
    root = Path(tempfile.mkdtemp(prefix='batch_render_speed_'))
    try:
        render_seeds_to_dir(G, None, [0], root)                 # warm-up: plan, lanes
        times = {m: [] for m in MODES}
        for rep in range(args.repeat):
            for mode, fn in MODES.items():
                out = root / f'{mode}{rep}'
                out.mkdir()
                t = time.perf_counter()
                fn(G, seeds, out)
                times[mode].append(time.perf_counter() - t)
        for s in seeds:                                         # the same pixels every way
            a = load_png(root / 'inline0' / f'seed{s:04d}.png')
            for mode in MODES:
                assert np.array_equal(a, load_png(root / f'{mode}0' / f'seed{s:04d}.png')), (mode, s)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f'{G.img_resolution}px, {len(seeds)} seeds, threads {torch.get_num_threads()}, '
          f'batch {rendering.batch_size(G)}, load average {os.getloadavg()[0]:.2f}')
    for mode, ts in times.items():
        med = statistics.median(ts)
        print(f'{mode:8s} {len(seeds) / med:6.2f} images/s  (median of {len(ts)}: {med:.2f} s; '
              f'all {", ".join(f"{t:.2f}" for t in ts)})')


if __name__ == '__main__':
    main()
