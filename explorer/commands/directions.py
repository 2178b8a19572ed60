"""python main.py directions: semantic directions in W (SeFa or GANSpace PCA) as an .npz."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'directions'
HELP = 'compute semantic directions in W (SeFa closed-form factorisation or GANSpace PCA) into an .npz'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--method', required=True, choices=['sefa', 'pca'],
                   help='sefa: eigenvectors of the style affines (no sampling); pca: principal components of '
                        'sampled w (GANSpace)')
    p.add_argument('--layers', default='all',
                   help='ws indices the directions act on: coarse|middle|fine|all or indices like 0-3,8 '
                        '(SeFa factorises these layers\' affines; default all)')
    p.add_argument('--num', type=C.positive_int, default=32, help='how many directions to keep (default 32)')
    p.add_argument('--samples', type=C.positive_int, default=20_000,
                   help='w samples for PCA (default 20000; GANSpace uses 10^4-10^6)')
    p.add_argument('--seed', type=C.seed_type, default=0, help='random seed for PCA sampling (default 0)')
    p.add_argument('--out', required=True, help='output .npz')
    C.add_device_arg(p)


def run(args):
    from explorer.engine import directions, latents
    from explorer.engine.checkpoint import sha256_file
    from explorer.errors import UserError
    out = C.writable_file(args.out)
    if out.suffix.lower() != '.npz':
        raise UserError(f'--out {args.out}: directions are written as .npz; give a file name ending in .npz')
    if args.method == 'pca' and not 2 <= args.samples <= directions.MAX_PCA_SAMPLES:
        raise UserError(f'--samples must be between 2 and {directions.MAX_PCA_SAMPLES}')
    device = C.pick_device(args.device)
    G, path = C.load_for_cli(args.checkpoint, device)
    layers = latents.parse_layers(args.layers, G)
    sha = sha256_file(path)
    if args.method == 'sefa':
        dset = directions.sefa(G, layers, num=args.num, checkpoint_sha256=sha)
    else:
        with C.TextProgress('pca') as bar:
            dset = directions.pca(G, num=args.num, samples=args.samples, layers=layers, seed=args.seed,
                                  progress=bar, checkpoint_sha256=sha, device=device)
    dset.save(out)
    what = 'eigenvalues' if args.method == 'sefa' else 'explained variance'
    head = ', '.join(f'{v:.3g}' for v in dset.scores[:5])
    C.info(f'wrote {out} ({len(dset)} {args.method} directions on layers {list(layers)}; {what} {head}…)')
    return 0
