"""python main.py metrics: sliced Wasserstein distance (ProGAN) between real and generated images."""

from __future__ import annotations

import json
import time

from explorer.commands import _common as C
from explorer.errors import UserError

NAME = 'metrics'
HELP = 'sliced Wasserstein distance (x1e3, per Laplacian level) between real and generated images'


def _positive_int(text):
    v = C.nonneg_int(text)
    if v == 0:
        import argparse
        raise argparse.ArgumentTypeError('expected a number >= 1')
    return v


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--data', default='synthetic',
                   help='real images: "synthetic" (procedural portraits) or a folder / .zip of images '
                        '(default: synthetic)')
    p.add_argument('--num', type=_positive_int, default=2048,
                   help='images per set (default 2048; ProGAN used 16384, the floor falls as N grows)')
    p.add_argument('--resolution', type=_positive_int, default=None,
                   help='compare at this power-of-two resolution >= 16 (default: the generator\'s)')
    p.add_argument('--seed', type=C.seed_type, default=0,
                   help='seed for latents, synthetic data, patch positions and projections (default 0)')
    p.add_argument('--psi', type=C.psi_type, default=1.0, help='truncation psi (default 1.0)')
    p.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='random',
                   help='noise inputs of the generator (default random, as when sampling the distribution)')
    p.add_argument('--real-vs-real', action='store_true',
                   help='compare two disjoint sets of real images instead (the floor of the metric)')
    p.add_argument('--batch', type=_positive_int, default=32, help='generator batch size (default 32)')
    p.add_argument('--json', dest='json_out', default=None, metavar='OUT', help='also write the result as JSON')
    C.add_device_arg(p)


def _check_resolution(r):
    if r < 16 or r & (r - 1):
        raise UserError(f'--resolution must be a power of two >= 16, got {r}')


def _resize(images, resolution):
    """uint8 [N, C, H, W] -> uint8 [N, C, R, R] (area averaging down, bilinear up)."""
    import torch
    import torch.nn.functional as F
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    x = images.float()
    if images.shape[-1] > resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode='area')
    else:
        x = F.interpolate(x, size=(resolution, resolution), mode='bilinear', align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def _real_images(data, num, resolution, seed, offset=0):
    """uint8 [num, 3, R, R] real images: synthetic portraits, or a seeded subset of a folder."""
    import numpy as np
    import torch
    if data == 'synthetic':
        from explorer.training.synthetic import SyntheticPortraits
        # A different dataset seed per set keeps the two sets of --real-vs-real disjoint.
        return SyntheticPortraits(resolution=resolution, seed=seed + offset).batch(0, num)
    from explorer.training.dataset import open_dataset
    ds = open_dataset(data, resolution=resolution, num_channels=3, use_labels=False)
    n = len(ds)
    order = np.random.RandomState(seed).permutation(n)
    start = offset * num
    if start + num > n:
        need = num * (offset + 1)
        raise UserError(f'{data}: {n} images, need {need} (use a smaller --num)')
    idx = order[start:start + num]
    return torch.from_numpy(np.stack([ds[int(i)][0] for i in idx]))


def _fake_images(G, num, seed, psi, noise_mode, batch, device):
    """uint8 [num, 3, R, R] from z = RandomState(seed).randn(num, z_dim) (NVIDIA's seed convention)."""
    import numpy as np
    import torch

    from explorer.engine.export import float_to_uint8
    z_all = torch.from_numpy(np.random.RandomState(seed).randn(num, G.z_dim)).float()
    rng = np.random.RandomState(seed + 1)
    out = []
    with torch.no_grad():
        for i in range(0, num, batch):
            z = z_all[i:i + batch].to(device)
            c = None
            if G.c_dim:
                c = torch.zeros(z.shape[0], G.c_dim, device=device)
                c[torch.arange(z.shape[0]), torch.from_numpy(rng.randint(G.c_dim, size=z.shape[0]))] = 1
            ws = G.mapping(z, c, truncation_psi=psi)
            img = G.synthesis(ws, noise_mode=noise_mode)                 # [B, C, H, W] in about [-1, 1]
            img = float_to_uint8(img).cpu()
            if img.shape[1] == 1:
                img = img.expand(-1, 3, -1, -1)
            out.append(img)
    return torch.cat(out)


def run(args):
    from explorer.training.metrics import swd
    if args.resolution is not None:
        _check_resolution(args.resolution)
    json_out = C.writable_file(args.json_out) if args.json_out else None  # fail before minutes of work
    if args.data != 'synthetic':
        from pathlib import Path
        if not Path(args.data).exists():
            raise UserError(f'{args.data}: no such folder or file (use a folder, a .zip, or "synthetic")')
    device = C.pick_device(args.device)
    G = path = None
    if not (args.real_vs_real and args.resolution is not None):
        G, path = C.load_for_cli(args.checkpoint, device)
    resolution = args.resolution or G.img_resolution
    _check_resolution(resolution)

    t0 = time.perf_counter()
    real = _real_images(args.data, args.num, resolution, args.seed)
    if args.real_vs_real:
        what = f'real vs real ({args.data})'
        fake = _real_images(args.data, args.num, resolution, args.seed, offset=1)
    else:
        what = f'{path} vs {args.data}'
        fake = _resize(_fake_images(G, args.num, args.seed, args.psi, args.noise_mode, args.batch, device),
                       resolution)
    t1 = time.perf_counter()
    result = swd(real, fake, seed=args.seed)
    t2 = time.perf_counter()

    C.info(f'SWD x1e3, {what}, {args.num} images per set at {resolution}x{resolution} '
           f'(images {t1 - t0:.1f} s, metric {t2 - t1:.1f} s)')
    for key, value in result.items():
        label = f'{key}x{key}' if key != 'avg' else 'avg'
        print(f'swd_{label}\t{value:.3f}')
    if json_out:
        record = dict(metric='swd_x1e3', checkpoint=None if path is None else str(path), data=args.data,
                      real_vs_real=bool(args.real_vs_real), num=args.num, resolution=resolution,
                      seed=args.seed, psi=args.psi, noise_mode=args.noise_mode,
                      swd={str(k): v for k, v in result.items()})
        json_out.write_text(json.dumps(record, indent=2) + '\n')
    return 0
