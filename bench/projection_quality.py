"""Projection quality (PSNR, SSIM) and speed on the CPU.

    nice python bench/projection_quality.py [--threads 1] [--n 4] [--steps 1000] [--space w+]
        [--set model|unseen|both] [--set-config key=value ...] [--json out.json]
    nice python bench/projection_quality.py --speed [--config paper256] [--threads 1]

Targets:
- model: W+ codes no seed gives: per style input, the ws of seed 1000+2k or 1001+2k
  (a random layer mask), plus Gaussian noise of 0.1 x the per-dimension spread of W
  (psi 1), rendered with const noise and rounded to 8 bits.
- unseen: procedural portraits of ``SyntheticPortraits(resolution, seed=7)``; the default
  model was trained on ``seed=0`` (checkpoints/README.md), so these are never-seen faces.

PSNR/SSIM are of the final render (the caller's G, const noise, 8 bits) against the
8-bit target: what ``main.py project`` writes. Times are wall time for the whole
``project`` call (w_avg sampling included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

UNSEEN_SEED = 7


def model_targets(G, n: int, seed0: int = 1000) -> list[np.ndarray]:
    from explorer.engine import latents
    from explorer.engine.projector import to_uint8, w_stats
    _, w_std = w_stats(G, 10000, 0)
    per_dim = w_std / np.sqrt(G.w_dim)
    out = []
    for k in range(n):
        rng = np.random.RandomState(seed0 + k)
        ws = latents.compute_ws(G, [seed0 + 2 * k, seed0 + 2 * k + 1])       # [2, L, D]
        mask = torch.from_numpy(rng.rand(G.num_ws) < 0.5)[:, None]
        mixed = torch.where(mask, ws[0], ws[1])
        mixed = mixed + 0.1 * per_dim * torch.from_numpy(rng.randn(*mixed.shape)).float()
        with torch.no_grad():
            out.append(to_uint8(G.synthesis(mixed[None], noise_mode='const')))
    return out


def unseen_targets(G, n: int, seed: int = UNSEEN_SEED) -> list[np.ndarray]:
    from explorer.training.synthetic import SyntheticPortraits
    ds = SyntheticPortraits(resolution=G.img_resolution, seed=seed)
    return [ds.image(1000 + i) for i in range(n)]


def _parse_overrides(items):
    out = {}
    for item in items or []:
        k, v = item.split('=', 1)
        if v in ('true', 'false'):
            out[k] = v == 'true'
        else:
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = float(v) if v[:1].isdigit() or v[:1] in '.-' else v
    return out


def quality(args):
    import explorer
    from explorer.engine.projector import ProjectionConfig, project
    G = explorer.load_generator(args.checkpoint)
    steps = args.steps or ProjectionConfig().steps
    cfg = ProjectionConfig(space=args.space, steps=steps, seed=0, **_parse_overrides(args.set_config))
    sets = {'model': lambda G, n: model_targets(G, n, args.model_seed),
            'unseen': lambda G, n: unseen_targets(G, n, args.unseen_seed)}
    names = list(sets) if args.set == 'both' else [args.set]
    rows = []
    for name in names:
        for i, target in enumerate(sets[name](G, args.n)):
            c0 = time.process_time()
            r = project(G, target, cfg)
            cpu = time.process_time() - c0
            rows.append({'set': name, 'index': i, 'psnr': r.psnr, 'ssim': r.ssim, 'seconds': r.seconds, 'cpu_s': cpu})
            print(f'{name:7s} {i:2d}  PSNR {r.psnr:6.2f} dB  SSIM {r.ssim:.4f}  wall {r.seconds:5.1f} s  '
                  f'CPU {cpu:5.1f} s', flush=True)
            if args.save_dir:
                from PIL import Image
                os.makedirs(args.save_dir, exist_ok=True)
                Image.fromarray(np.concatenate([target, r.image], axis=1)).save(
                    os.path.join(args.save_dir, f'{name}{i}.png'))
    print(f'\nconfig: {cfg}\nthreads: {torch.get_num_threads()}')
    print('| targets | n | PSNR mean (min) dB | SSIM mean (min) | wall s mean (max) | CPU s mean (max) |')
    print('|---|---|---|---|---|---|')
    for name in names:
        rs = [r for r in rows if r['set'] == name]
        p = [r['psnr'] for r in rs]
        s = [r['ssim'] for r in rs]
        t = [r['seconds'] for r in rs]
        c = [r['cpu_s'] for r in rs]
        print(f'| {name} | {len(rs)} | {np.mean(p):.2f} ({min(p):.2f}) | {np.mean(s):.4f} ({min(s):.4f}) | '
              f'{np.mean(t):.1f} ({max(t):.1f}) | {np.mean(c):.1f} ({max(c):.1f}) |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'config': str(cfg), 'threads': torch.get_num_threads(), 'rows': rows}, f, indent=1)


def speed(args):
    import explorer
    from explorer.engine.bench import build_config
    from explorer.engine.projector import ProjectionConfig, project
    G = build_config(args.config) if args.config else explorer.load_generator(args.checkpoint)
    target = np.full((G.img_resolution, G.img_resolution, G.img_channels), 128, np.uint8)
    stamps = []

    def progress(info):
        stamps.append(time.perf_counter())
    steps = args.speed_steps
    project(G, target, ProjectionConfig(space=args.space, steps=steps, w_avg_samples=1000,
                                        **_parse_overrides(args.set_config)), progress=progress)
    warm = min(3, steps - 2)
    rate = (steps - 1 - warm) / (stamps[-1] - stamps[warm])
    print(f'{args.config or args.checkpoint or "default"}: {G.img_resolution}px, {G.num_ws} ws x {G.w_dim}: '
          f'{rate:.2f} steps/s ({1000 / rate:.0f} ms/step), {torch.get_num_threads()} thread(s), space {args.space}')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--n', type=int, default=4, help='targets per set')
    p.add_argument('--set', choices=['model', 'unseen', 'both'], default='both')
    p.add_argument('--unseen-seed', type=int, default=UNSEEN_SEED, help='SyntheticPortraits seed (not 0)')
    p.add_argument('--model-seed', type=int, default=1000, help='first seed of the model-made targets')
    p.add_argument('--space', choices=['w', 'w+'], default='w+')
    p.add_argument('--steps', type=int, default=None, help='default: ProjectionConfig().steps')
    p.add_argument('--set-config', action='append', metavar='KEY=VALUE', help='ProjectionConfig field override')
    p.add_argument('--save-dir', default=None, help='write target|result pairs here')
    p.add_argument('--json', default=None)
    p.add_argument('--speed', action='store_true', help='measure steps/s instead of quality')
    p.add_argument('--config', default=None, help='with --speed: a named bench config (e.g. paper256)')
    p.add_argument('--speed-steps', type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    (speed if args.speed else quality)(args)


if __name__ == '__main__':
    main()
