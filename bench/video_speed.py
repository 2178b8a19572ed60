"""Video export speed: frames/s of ``main.py video``'s engine (render + encode + write).

    python bench/video_speed.py                                  # default model, 10 s at 30 fps MP4
    python bench/video_speed.py --config config-f-1024 --frames 3
    python bench/video_speed.py --paths exact,fast --threads 1,2 --json out.json

For each render path (``exact``: ``recipe.render`` per frame, bit-exact with single
renders; ``fast``: the interactive view's ``FastRenderer``) and CPU thread count it
reports the end-to-end frames/s of ``export_animation`` writing the MP4 (a looped walk
through 8 seeds at psi 0.7, like docs/walk.webp), and splits it into rendering alone
and encoding alone (the same frames written again). ``--frames N`` shortens the video
to N frames (for slow models); the frame rate is the same.
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

import torch  # noqa: E402

from explorer.engine import animation as A  # noqa: E402
from explorer.engine import video_writers as vw  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402


def load(args):
    if args.config:
        from explorer.engine.bench import build_config
        return build_config(args.config), args.config
    from explorer.engine.checkpoint import default_checkpoint_path, load_generator
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    return load_generator(path, device='cpu').eval(), path.name


def run_one(G, anim, path, out_dir):
    out = Path(out_dir) / f'bench_{path}.mp4'
    t0 = time.perf_counter()
    A.export_animation(G, anim, out, path=path)
    total = time.perf_counter() - t0
    plan = A.AnimationPlan(G, anim, path=path)
    t0 = time.perf_counter()
    frames = list(plan.frames())
    render = time.perf_counter() - t0
    t0 = time.perf_counter()
    with vw.open_writer(Path(out_dir) / 'bench_encode.mp4', anim.fps, metadata=anim.to_json()) as w:
        for f in frames:
            w.write(f)
    encode = time.perf_counter() - t0
    n = len(frames)
    return {'frames': n, 'total_s': round(total, 3), 'fps_end_to_end': round(n / total, 2),
            'fps_render_only': round(n / render, 2), 'fps_encode_only': round(n / encode, 1),
            'mp4_bytes': out.stat().st_size}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--config', default=None, help='a named random-weight config of explorer/engine/bench.py')
    p.add_argument('--seconds', type=float, default=10.0)
    p.add_argument('--fps', type=float, default=30.0)
    p.add_argument('--frames', type=int, default=None, help='render only this many frames (same fps)')
    p.add_argument('--paths', default='exact,fast')
    p.add_argument('--threads', default=str(torch.get_num_threads()), help='comma list of CPU thread counts')
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    G, name = load(args)
    seconds = args.seconds if args.frames is None else args.frames / args.fps
    anim = A.seed_walk([1, 2, 3, 4, 5, 6, 7, 8], seconds, args.fps, loop=True, easing='sine', base=Recipe(psi=0.7))
    print(f'{name}: {G.img_resolution}px, {anim.num_frames} frames at {args.fps:g} fps, '
          f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}',
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (int(t) for t in args.threads.split(',')):
            torch.set_num_threads(threads)
            for path in args.paths.split(','):
                r = dict(model=name, resolution=int(G.img_resolution), path=path, threads=threads,
                         **run_one(G, anim, path, tmp))
                rows.append(r)
                print(json.dumps(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
