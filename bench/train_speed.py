"""Training throughput (images/s) for a fixed config on the current device.

    python bench/train_speed.py                     # 64x64, channel_base 2048, max 128, batch 16
    python bench/train_speed.py --device cpu --threads 1 --steps 20
    python bench/train_speed.py --resolution 256 --channel-max 512 --batch 32 --device cuda

Full training steps (G main + lazy PL, D main + lazy R1, G_ema) on the synthetic
portraits; the first ``--warmup`` steps are not timed. The count of steps timed is a
multiple of 16 by default so the lazy regularisers are represented in proportion.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default=None, choices=['cpu', 'cuda'])
    p.add_argument('--resolution', type=int, default=64)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--channel-base', type=int, default=2048)
    p.add_argument('--channel-max', type=int, default=128)
    p.add_argument('--z-dim', type=int, default=256)
    p.add_argument('--w-dim', type=int, default=256)
    p.add_argument('--map', type=int, default=2)
    p.add_argument('--steps', type=int, default=16)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--fused-modconv', action='store_true', help='grouped-conv modulation while training')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)

    import torch

    from explorer.training.dataset import open_dataset
    from explorer.training.loop import Trainer, TrainingConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    cfg = TrainingConfig(resolution=args.resolution, batch=args.batch, kimg=1e6, z_dim=args.z_dim, w_dim=args.w_dim,
                         mapping_layers=args.map, channel_base=args.channel_base, channel_max=args.channel_max,
                         fused_modconv=args.fused_modconv, snapshot_minutes=None)
    ds = open_dataset('synthetic', resolution=args.resolution, length=max(4 * args.batch, 64))
    for i in range(len(ds)):  # decode up front: time the training, not the procedural drawing
        ds[i]
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, ds, tmp, device=device)

        def sync():
            if device.type == 'cuda':
                torch.cuda.synchronize()

        for _ in range(args.warmup):
            t.train_step()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            t.train_step()
        sync()
        elapsed = time.perf_counter() - t0
    result = {
        'device': str(device) + (f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else ''),
        'threads': torch.get_num_threads(),
        'resolution': args.resolution, 'batch': args.batch, 'channel_base': args.channel_base,
        'channel_max': args.channel_max, 'z_dim': args.z_dim, 'w_dim': args.w_dim,
        'num_fp16_res': cfg.num_fp16_res if device.type == 'cuda' else 0,
        'steps': args.steps, 'seconds': round(elapsed, 3),
        'images_per_sec': round(args.steps * args.batch / elapsed, 2),
        'G_params': sum(p.numel() for p in t.G.parameters()),
        'D_params': sum(p.numel() for p in t.D.parameters()),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"training speed: {result['images_per_sec']} images/s on {result['device']}, "
              f"threads {result['threads']}, {args.resolution}x{args.resolution}, batch {args.batch}, "
              f"channel_max {args.channel_max} ({args.steps} steps in {elapsed:.1f} s)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
