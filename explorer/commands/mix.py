"""python main.py mix: the Figure-3 style-mixing grid as one PNG."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'mix'
HELP = 'style-mixing grid: rows = destination seeds, columns = style sources (Figure 3 of StyleGAN)'
MAX_CELLS = 4096  # one PNG; many more cells belong in `render`


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--rows', required=True, help='destination seeds, e.g. 1,2,3')
    p.add_argument('--cols', required=True, help='source seeds, e.g. 4,5')
    p.add_argument('--styles', default='coarse',
                   help="layers taken from the column face: coarse|middle|fine|all or indices like 0-3 "
                        "(default coarse)")
    p.add_argument('--psi', type=C.psi_type, default=1.0, help='truncation psi')
    p.add_argument('--cutoff', type=C.nonneg_int, default=None, help='truncate only the first N style layers')
    p.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='const', help='noise inputs')
    p.add_argument('--class', dest='class_idx', type=C.nonneg_int, default=None, help='class for conditional models')
    p.add_argument('--out', default='grid.png', help='output image, .png/.jpg/.webp/.tif (default grid.png)')
    p.add_argument('--upscale', type=int, choices=(1, 2, 4, 8), default=1,
                   help='write the grid N times larger (Lanczos); the embedded grid recipe stays native')
    p.add_argument('--labels', action='store_true', help='seed numbers above the columns and left of the rows')
    C.add_export_args(p, default_format_help="the --out file's suffix")
    C.add_device_arg(p)
    C.add_exact_arg(p)


def run(args):
    from pathlib import Path

    from explorer.engine import latents
    from explorer.engine.checkpoint import sha256_file
    from explorer.engine.grid_spec import GridSpec, grid_recipe
    from explorer.engine.image_export import format_of, save_image
    from explorer.engine.mixing import render_grid, resolved_spec
    from explorer.errors import UserError
    rows = latents.parse_seeds(args.rows)
    cols = latents.parse_seeds(args.cols)
    if len(rows) * len(cols) > MAX_CELLS:
        raise UserError(f'{len(rows)} x {len(cols)} cells is too large for one grid (at most {MAX_CELLS}); '
                        f'use render for many single images')
    out = C.writable_file(args.out)
    fmt = format_of(out)
    if fmt is None or (args.format and args.format != fmt):
        raise UserError(f'--out {args.out}: give a file name ending in .png, .jpg, .webp or .tif'
                        + (f' (--format {args.format})' if args.format else ''))
    if args.bits not in (None, 8):
        raise UserError('--bits 16 is for single images (render); the grid is composed from 8-bit tiles')
    args.format = fmt
    options = C.export_options(args).replace(upscale=1)     # render_grid upscales before the labels
    device = C.pick_device(args.device)
    G, path = C.load_for_cli(args.checkpoint, device)
    layers = latents.parse_layers(args.styles, G)
    spec = GridSpec(rows=tuple(rows), cols=tuple(cols), layers=tuple(layers), psi=args.psi, cutoff=args.cutoff,
                    class_idx=args.class_idx, noise_mode=args.noise_mode, synthesis=C.synthesis_of(args))
    spec = resolved_spec(G, spec)           # the grid file records the path its tiles took
    export = {}
    with C.TextProgress('mix') as bar:
        grid = render_grid(G, spec, device=device, progress=bar, upscale=args.upscale, labels=args.labels,
                           export=export)
    meta = grid_recipe(spec, args.styles, Path(path).name, sha256_file(path))
    save_image(out, grid, meta, options, export=export)
    C.info(f'wrote {out} ({len(rows)}x{len(cols)} grid, layers {list(layers)})')
    return 0
