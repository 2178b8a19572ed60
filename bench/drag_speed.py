"""Drag speed: optimisation steps/s of ``explorer.engine.drag`` (``main.py drag``).

    python bench/drag_speed.py                                   # default model, CPU, 1 and 2 threads
    python bench/drag_speed.py --config paper256 --steps 10
    python bench/drag_speed.py --device cuda --config paper256,paper512 --json out.json

Each step is what the GUI's drag loop runs: a forward pass with gradients up to the
feature layer, point tracking, the motion loss, backward and one Adam update. The
handle is dragged far (12 px at 64 px, scaled with the image) so no run stops early;
the first ``--warmup`` steps are not timed. ``image every k`` adds one no-grad full
render every k steps (the GUI's live view) and is reported separately.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.engine import drag as D  # noqa: E402


def load(name, device):
    if name == 'default':
        from explorer.engine.checkpoint import default_checkpoint_path, load_generator
        return load_generator(default_checkpoint_path(), device=device)
    from explorer.engine.bench import build_config
    return build_config(name).to(device)


def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def measure(G, device, steps, warmup, image_every=0):
    R = int(G.img_resolution)
    with torch.no_grad():
        z = torch.from_numpy(np.random.RandomState(3).randn(1, G.z_dim)).float().to(device)
        ws = G.mapping(z, None, truncation_psi=0.7)[0]
    s = R / 64
    handle, target = (32 * s, 36 * s), (min(44 * s, R - 1), 36 * s)
    cfg = D.drag_config(G, stop_distance=0.0)
    d = D.Dragger(G, ws, [handle], [target], config=cfg, device=device)
    for _ in range(warmup):
        d.step()
    _sync(device)
    t = time.perf_counter()
    for i in range(steps):
        d.step(want_image=bool(image_every) and (i + 1) % image_every == 0)
    _sync(device)
    return steps / (time.perf_counter() - t), cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default='default',
                   help="comma list: 'default' (checkpoints/portraits64.pt) and/or explorer.engine.bench config names")
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', default='1,2', help='CPU thread counts to try (CPU only)')
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--image-every', type=int, default=10)
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    threads = [int(t) for t in args.threads.split(',')] if device.type == 'cpu' else [None]
    rows = []
    for name in args.config.split(','):
        G = load(name, device)
        for th in threads:
            if th is not None:
                torch.set_num_threads(th)
            sps, cfg = measure(G, device, args.steps, args.warmup)
            sps_img, _ = measure(G, device, args.steps, 1, image_every=args.image_every)
            row = dict(model=name, resolution=int(G.img_resolution), device=str(device),
                       threads=th, steps_per_s=round(sps, 2), steps_per_s_with_image=round(sps_img, 2),
                       image_every=args.image_every, feature_layer=cfg.feature_layer, num_ws=cfg.num_ws)
            rows.append(row)
            print(f'{name:>10} {row["resolution"]:>5}px {str(device):>6} threads={th}: '
                  f'{sps:7.2f} steps/s, {sps_img:7.2f} with an image every {args.image_every} '
                  f'(F = {cfg.feature_layer}, first {cfg.num_ws} ws)', flush=True)
    info = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.processor())
    if args.json:
        Path(args.json).write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
