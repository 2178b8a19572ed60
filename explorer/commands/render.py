"""python main.py render: one PNG per seed, recipe embedded."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'render'
HELP = 'render one PNG per seed (recipe embedded in each PNG)'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--seeds', required=True, help='seeds, e.g. 0-7 or 1,5,9-12')
    p.add_argument('--psi', type=C.psi_type, default=1.0, help='truncation psi (default 1.0; 0.7 is classic)')
    p.add_argument('--cutoff', type=C.nonneg_int, default=None, help='truncate only the first N style layers')
    p.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='const', help='noise inputs')
    p.add_argument('--noise-seed', type=C.nonneg_int, default=0, help="seed for --noise-mode random")
    p.add_argument('--noise-strength', type=float, default=1.0, help='global noise strength multiplier')
    p.add_argument('--class', dest='class_idx', type=C.nonneg_int, default=None, help='class for conditional models')
    p.add_argument('--outdir', default='out', help='output folder (default: out)')
    C.add_device_arg(p)


def run(args):
    from explorer.engine import latents
    from explorer.engine.render_batch import render_seeds_to_dir
    seeds = latents.parse_seeds(args.seeds)
    outdir = C.writable_dir(args.outdir)
    device = C.pick_device(args.device)
    G, path = C.load_for_cli(args.checkpoint, device)
    written = render_seeds_to_dir(G, path, seeds, outdir, psi=args.psi, cutoff=args.cutoff,
                                  noise_mode=args.noise_mode, noise_seed=args.noise_seed,
                                  noise_strength=args.noise_strength, class_idx=args.class_idx,
                                  device=device)
    C.info(f'wrote {len(written)} PNG(s) to {outdir}')
    return 0
