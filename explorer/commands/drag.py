"""python main.py drag: DragGAN-style point dragging on a seed or a stored latent.

    python main.py drag --seed 5 --points 32,50:32,56 --out chin.npz
    python main.py drag --latent chin.npz --points 20,30:16,30 --points 44,30:48,30 --mask face.png --out wide.npz

Writes the dragged W+ in NVIDIA's projected_w layout (key ``w``, [1, num_ws, w_dim]) and
the result as a PNG beside it (``F.png``) whose embedded recipe holds that latent, so
``render --latent F.npz`` and ``render --recipe F.png`` both re-render it.
"""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'drag'
HELP = 'drag handle points to targets (DragGAN) on a seed or a latent; writes the W+ .npz and a PNG'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--seed', type=C.seed_type, default=None, help='start from this seed (with --psi)')
    p.add_argument('--latent', metavar='F.npz', default=None,
                   help='start from a stored latent (W or W+; NVIDIA projected_w.npz layout, .npy or a torch tensor)')
    p.add_argument('--points', action='append', default=[], metavar='x0,y0:x1,y1',
                   help='handle x0,y0 dragged to target x1,y1, in image pixels (0..size-1, x right, y down); '
                        'repeat for more handles')
    p.add_argument('--mask', metavar='M.png', default=None,
                   help='image the size of the output: white = may move; the rest is held in place')
    p.add_argument('--steps', type=C.positive_int, default=200,
                   help='at most this many optimisation steps (default 200); stops earlier once every '
                        'handle is within 1 px of its target (2 px with more than 5 handles)')
    p.add_argument('--psi', type=C.psi_type, default=0.7, help='truncation psi of --seed (default 0.7)')
    p.add_argument('--lr', type=C.positive_float, default=None, help='Adam step size (default 2e-3, the paper\'s)')
    p.add_argument('--out', required=True, metavar='F.npz', help='output latent (.npz); the PNG goes beside it')
    p.add_argument('--threads', type=C.positive_int, default=None, help='CPU threads (default: torch\'s choice)')
    C.add_device_arg(p)
    C.add_exact_arg(p)


def parse_points(items, resolution=None) -> tuple[list, list]:
    """['x0,y0:x1,y1', ...] -> (handles, targets), each [(x, y)]."""
    import math

    from explorer.errors import UserError
    if not items:
        raise UserError('give at least one --points x0,y0:x1,y1 (handle:target in image pixels)')
    handles, targets = [], []
    for text in items:
        try:
            a, b = str(text).split(':')
            h = tuple(float(v) for v in a.split(','))
            t = tuple(float(v) for v in b.split(','))
            if len(h) != 2 or len(t) != 2 or not all(math.isfinite(v) for v in h + t):
                raise ValueError
        except ValueError:
            raise UserError(f'--points {text!r}: give x0,y0:x1,y1, e.g. 32,50:32,56') from None
        if resolution is not None:
            for what, (x, y) in (('handle', h), ('target', t)):
                if not (0 <= x <= resolution - 1 and 0 <= y <= resolution - 1):
                    raise UserError(f'--points {text}: {what} ({x:g}, {y:g}) is outside the '
                                    f'{resolution}x{resolution} image (x and y must be 0..{resolution - 1})')
        handles.append(h)
        targets.append(t)
    return handles, targets


def read_mask(path, resolution):
    """White (>= 128) = may move, as a bool [R, R] array; other sizes are refused."""
    import numpy as np
    from PIL import Image

    from explorer.engine.files import require_regular_file
    from explorer.errors import UserError
    require_regular_file(path)
    try:
        with Image.open(path) as im:
            if im.size != (resolution, resolution):
                raise UserError(f'{path}: the mask is {im.size[0]}x{im.size[1]}; the image is '
                                f'{resolution}x{resolution}')
            m = np.asarray(im.convert('L'))
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        raise UserError(f'{path}: not a readable image ({e})') from None
    return m >= 128


def run(args):
    from pathlib import Path

    from explorer.errors import UserError
    if (args.seed is None) == (args.latent is None):
        raise UserError('give --seed S or --latent F.npz')
    handles, targets = parse_points(args.points)
    out = Path(args.out)
    if out.suffix.lower() != '.npz':
        raise UserError(f'--out {out}: the latent is written as .npz (NVIDIA projected_w layout)')
    C.writable_file(out)
    lat = None
    if args.latent is not None:
        from explorer.engine.latent_io import read_stored_latent
        lat = read_stored_latent(args.latent)

    device = C.pick_device(args.device)
    import torch
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    G, path = C.load_for_cli(args.checkpoint, device)
    R = int(G.img_resolution)
    parse_points(args.points, R)
    mask = read_mask(args.mask, R) if args.mask else None

    from explorer.engine import drag as D
    from explorer.engine.latent_io import write_latent_npz
    from explorer.engine.latents import compute_ws
    from explorer.engine.recipe import Recipe
    from explorer.engine.render_batch import render_recipe_png
    from explorer.engine.stored_latents import StoredLatent
    if lat is not None:
        ws0 = lat.ws(G.num_ws)
        if lat.w_dim != G.w_dim:
            raise UserError(f'{args.latent}: w_dim {lat.w_dim}; the model has {G.w_dim}')
        source = Path(args.latent).name
    else:
        with torch.no_grad():
            ws0 = compute_ws(G, [args.seed], truncation_psi=args.psi, device=device)[0].cpu().numpy()
        source = f'seed {args.seed} psi {args.psi:g}'
    cfg = D.drag_config(G, **({'lr': args.lr} if args.lr is not None else {}))
    with C.TextProgress('drag') as bar:
        res = D.drag(G, ws0, handles, targets, mask=mask, steps=args.steps, config=cfg, device=device,
                     progress=bar)
    write_latent_npz(out, res.ws)
    stored = StoredLatent.from_array(res.ws, name=f'{source} dragged')
    recipe = Recipe(synthesis=C.synthesis_of(args)).with_latent(stored).replace(seeds=(stored.ref,),
                                                                                seed_weights=(1.0,))
    png = render_recipe_png(G, path, recipe, out.with_suffix('.png'), device=device)
    dist = ', '.join(f'{a:.1f}->{b:.1f}' for a, b in zip(res.start_distances, res.distances))
    C.info(f'{"reached" if res.reached else "stopped"} after {res.steps} steps (distance px {dist}); '
           f'wrote {out} and {png}')
    if not res.reached:
        C.info('not every handle reached its target: give more --steps, or run drag again on '
               f'--latent {out}')
    return 0

