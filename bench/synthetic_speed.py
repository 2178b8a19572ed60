"""Images per second of the procedural portrait renderer (one process, one core).

    python bench/synthetic_speed.py [--n 200] [--res 64 128 256]

Also measures a 2-process pool (as a DataLoader with 2 workers would use it)
with --workers 2.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=200, help='images per measurement')
    p.add_argument('--res', type=int, nargs='+', default=[64, 128])
    p.add_argument('--workers', type=int, default=1, help='also measure a process pool of this size')
    args = p.parse_args()
    for res in args.res:
        ds = SyntheticPortraits(res, seed=0)
        ds[0]  # warm up
        t0 = time.perf_counter()
        for i in range(args.n):
            ds[i]
        dt = time.perf_counter() - t0
        print(f'{res}x{res}: {args.n / dt:7.1f} img/s on 1 process ({1e3 * dt / args.n:.2f} ms/img)')
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
