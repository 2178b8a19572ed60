"""Images per second of the procedural portrait renderer (one process, one core).

    python bench/synthetic_speed.py [--n 200] [--res 64 128 256]

Also measures a 2-process pool (as a DataLoader with 2 workers would use it)
with --workers 2. ``--sheet docs/synthetic_portraits.png`` writes the sample
sheet in the docs: two rows of random portraits, then one identity with single
factors changed (yaw, light, glasses, smile, hair, detail seed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from explorer.training.synthetic import SyntheticPortraits  # noqa: E402


def _render_range(args):
    res, start, n = args
    ds = SyntheticPortraits(res, seed=0)
    for i in range(start, start + n):
        ds[i]
    return n


def write_sheet(path):
    import dataclasses

    from PIL import Image

    from explorer.engine.export import tile_grid
    from explorer.training.synthetic import render_portrait, sample_factors
    ds = SyntheticPortraits(128, seed=2)
    images = [ds.image(i) for i in range(12)]
    f = dataclasses.replace(sample_factors(5), yaw=0.0, roll=0.0, glasses=False, smile=0.3)
    for change in (dict(yaw=-0.45), dict(yaw=0.45, light_azimuth=-1.0), dict(light_azimuth=1.0),
                   dict(glasses=True), dict(smile=1.0, hair_color=(0.75, 0.25, 0.1)), dict(hair_style='curly')):
        images.append(render_portrait(dataclasses.replace(f, **change), 128))
    Image.fromarray(tile_grid(images, 6)).save(path, optimize=True)
    print(f'wrote {path}')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=200, help='images per measurement')
    p.add_argument('--res', type=int, nargs='+', default=[64, 128])
    p.add_argument('--workers', type=int, default=1, help='also measure a process pool of this size')
    p.add_argument('--sheet', default=None, help='write a sample contact sheet PNG here and exit')
    args = p.parse_args()
    if args.sheet:
        write_sheet(args.sheet)
        return
    for res in args.res:
        ds = SyntheticPortraits(res, seed=0)
        ds[0]  # warm up
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.n):
            ds[i]
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f'{res}x{res}: {args.n / dt:7.1f} img/s on 1 process ({1e3 * dt / args.n:.2f} ms/img wall), '
              f'{args.n / dc:7.1f} img per CPU-second')
        if args.workers > 1:
            from multiprocessing import Pool
            per = args.n // args.workers
            with Pool(args.workers) as pool:
                pool.map(_render_range, [(res, 0, 1)] * args.workers)
                t0 = time.perf_counter()
                done = sum(pool.map(_render_range, [(res, k * per, per) for k in range(args.workers)]))
                dt = time.perf_counter() - t0
            print(f'{res}x{res}: {done / dt:7.1f} img/s on {args.workers} processes')


if __name__ == '__main__':
    main()
