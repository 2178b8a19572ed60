"""python main.py render: one image per seed (PNG by default; JPEG, WebP, TIFF with --format), recipe
and AI label (IPTC DigitalSourceType trainedAlgorithmicMedia) embedded.

Under torchrun (``torchrun --nproc_per_node=N main.py render --seeds 0-99999 --outdir DIR``)
each process renders its own share of the seeds (``seeds[rank::N]``: no duplicates, no
gaps) on its own GPU (``cuda:LOCAL_RANK``; the CPU with gloo when there is none), and PNGs
already in DIR are skipped, so an interrupted batch is restarted by running it again.
"""

from __future__ import annotations

from pathlib import Path

from explorer.commands import _common as C

NAME = 'render'
HELP = 'render one image per seed (PNG/JPEG/WebP/TIFF; recipe and AI label embedded)'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    p.add_argument('--seeds', default=None, help='seeds, e.g. 0-7 or 1,5,9-12 (or give --latent or --recipe)')
    p.add_argument('--psi', type=C.psi_type, default=1.0, help='truncation psi (default 1.0; 0.7 is classic)')
    p.add_argument('--cutoff', type=C.nonneg_int, default=None, help='truncate only the first N style layers')
    p.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='const', help='noise inputs')
    p.add_argument('--noise-seed', type=C.seed_type, default=0, help="seed for --noise-mode random")
    p.add_argument('--noise-strength', type=C.finite_float, default=1.0, help='global noise strength multiplier')
    p.add_argument('--class', dest='class_idx', type=C.nonneg_int, default=None, help='class for conditional models')
    p.add_argument('--outdir', default='out', help='output folder (default: out)')
    p.add_argument('--recipe', metavar='IMG.png', default=None,
                   help="re-render a PNG this tool exported, from the recipe it embeds (its own psi, noise, "
                        "mixing, synthesis path...; the other settings flags are ignored): writes OUTDIR/<same "
                        "name>.png, bit for bit the same pixels, or with --seeds one PNG per seed with the recipe's "
                        "settings")
    p.add_argument('--skip-existing', action='store_true',
                   help='leave PNGs already in --outdir alone (always on under torchrun)')
    p.add_argument('--latent', metavar='F.npz', default=None,
                   help='render a stored latent (W or W+; NVIDIA projected_w.npz layout, .npy or a torch tensor) '
                        'instead of seeds; writes <name>.png')
    p.add_argument('--directions', metavar='D.npz', default=None, help='direction set for --edit')
    p.add_argument('--edit', metavar='K=A[@SPEC]', action='append', default=[],
                   help='add A times direction K of --directions to the layers SPEC (coarse|middle|fine|all|0-3,8; '
                        'default: the set\'s layers), after truncation and mixing; repeatable')
    C.add_device_arg(p)
    p.add_argument('--threads', type=C.positive_int, default=None,
                   help="CPU threads for torch (default: torch's choice); on the CPU the fast path renders "
                        "that many images at once, one per thread")
    C.add_exact_arg(p)
    p.add_argument('--upscale', type=int, choices=(1, 2, 4, 8), default=1,
                   help='write each PNG N times larger (Lanczos); the embedded recipe stays native')
    C.add_export_args(p, default_format_help="png; with --recipe the source image's format")


def run(args):
    from explorer.engine import latents
    from explorer.engine.render_batch import render_seeds_to_dir
    from explorer.errors import UserError
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    if args.edit and not args.directions:
        raise UserError('--edit needs --directions D.npz')
    if args.recipe is not None:
        return _run_recipe(args)
    if (args.seeds is None) == (args.latent is None):
        raise UserError('give --seeds (e.g. 0-7), --latent F.npz or --recipe IMG.png')
    seeds = latents.parse_seeds(args.seeds) if args.seeds is not None else []
    options = C.export_options(args)
    outdir = C.writable_dir(args.outdir)
    from explorer.training import distributed
    if distributed.launched_by_torchrun():
        if args.latent or args.edit:
            raise UserError('--latent and --edit are not supported under torchrun')
        return _run_distributed(args, seeds, outdir, options)
    device = C.pick_device(args.device)
    lat = None
    if args.latent:
        from explorer.engine.latent_io import read_stored_latent
        lat = read_stored_latent(args.latent)
    G, path = C.load_for_cli(args.checkpoint, device)
    base = _base_recipe(args, G, path)
    if lat is not None:
        from pathlib import Path

        from explorer.engine.render_batch import render_recipe_png
        recipe = base.with_latent(lat).replace(seeds=(lat.ref,), seed_weights=(1.0,))
        out = render_recipe_png(G, path, recipe, outdir / (Path(args.latent).stem + options.extension),
                                device=device, upscale=args.upscale, options=options)
        C.info(f'wrote {out}')
        return 0
    written = render_seeds_to_dir(G, path, seeds, outdir, device=device, base_recipe=base,
                                  skip_existing=args.skip_existing, upscale=args.upscale, options=options)
    C.info(f'wrote {len(written)} {_kind(options)} to {outdir}')
    return 0


def _kind(options) -> str:
    return f'{options.format.upper()}(s)'


def _base_recipe(args, G, path):
    """The settings every PNG shares, direction edits included."""
    from explorer.engine.recipe import Recipe
    edits = ()
    if args.directions:
        from explorer.engine.checkpoint import sha256_file
        from explorer.engine.directions import DirectionSet, parse_edit
        dset = DirectionSet.load(args.directions)
        warning = dset.check_compatible(G, sha256_file(path))
        if warning:
            C.info(f'warning: {warning}')
        edits = tuple(parse_edit(e, dset, G) for e in args.edit)
    return Recipe(psi=args.psi, cutoff=args.cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode,
                  noise_seed=args.noise_seed, noise_strength=args.noise_strength, edits=edits,
                  synthesis=C.synthesis_of(args))


def _run_recipe(args):
    """--recipe IMG.png: the PNG's own recipe, rendered again (the same pixels with the same checkpoint)."""
    from explorer.engine import latents
    from explorer.engine.image_export import bit_depth, format_of
    from explorer.engine.png import read_recipe
    from explorer.engine.recipe import Recipe
    from explorer.engine.render_batch import render_recipe_png, render_seeds_to_dir
    from explorer.errors import ExplorerError, UserError
    src = Path(args.recipe)
    data = read_recipe(src)
    try:
        recipe = Recipe.from_dict(data) if isinstance(data, dict) else None
    except (ExplorerError, TypeError, ValueError) as e:
        raise UserError(f'{src}: the embedded recipe is not valid ({e})') from None
    if recipe is None:
        raise UserError(f'{src}: the embedded recipe is not valid (not a JSON object)')
    if args.exact:
        recipe = recipe.replace(synthesis='ref')      # else the path it records (old PNGs: 'ref')
    seeds = latents.parse_seeds(args.seeds) if args.seeds is not None else None
    same = args.format is None or args.format == format_of(src)         # keep the source's depth too
    options = C.export_options(args, default_format=format_of(src) or 'png',
                               default_bits=bit_depth(src) if same else 8)
    outdir = C.writable_dir(args.outdir)
    out = outdir / (src.stem + options.extension if format_of(src) != options.format else src.name)
    if seeds is None and out.resolve() == src.resolve():
        raise UserError(f'{out} is the PNG being re-rendered; choose another --outdir')
    device = C.pick_device(args.device)
    G, path = C.load_for_cli(args.checkpoint, device)
    from explorer.engine.checkpoint import sha256_file
    if recipe.checkpoint_sha256 and recipe.checkpoint_sha256 != sha256_file(path):
        C.info(f'warning: {src.name} was made with {recipe.checkpoint or "another checkpoint"}, not {path.name}: '
               'the pixels will differ (pass --checkpoint)')
    if seeds is not None:
        written = render_seeds_to_dir(G, path, seeds, outdir, device=device, base_recipe=recipe,
                                      skip_existing=args.skip_existing, upscale=args.upscale, options=options)
        C.info(f'wrote {len(written)} {_kind(options)} to {outdir}')
    else:
        render_recipe_png(G, path, recipe, out, device=device, upscale=args.upscale, options=options)
        C.info(f'wrote {out}')
    return 0


def _run_distributed(args, seeds, outdir, options=None):
    """One process of a torchrun job: render this rank's share of ``seeds``."""
    import torch

    from explorer.engine.render_batch import render_seeds_to_dir
    from explorer.training import distributed
    if args.device == 'cuda' and not torch.cuda.is_available():
        C.pick_device('cuda')  # raises the usual one-line error
    ctx = distributed.init_distributed(device=args.device)
    try:
        with distributed.rank0_first():  # a URL is downloaded into the cache once, by rank 0
            G, path = C.load_for_cli(args.checkpoint, ctx.device)
        unique = list(dict.fromkeys(seeds))  # a seed listed twice is still rendered once
        mine = distributed.shard(unique, ctx.rank, ctx.world_size)
        written = render_seeds_to_dir(G, path, mine, outdir, psi=args.psi, cutoff=args.cutoff,
                                      noise_mode=args.noise_mode, noise_seed=args.noise_seed,
                                      noise_strength=args.noise_strength, class_idx=args.class_idx,
                                      device=ctx.device, skip_existing=True,
                                      upscale=args.upscale, options=options, synthesis=C.synthesis_of(args))
        counts = torch.tensor([len(written), len(mine) - len(written)], dtype=torch.float64, device=ctx.device)
        distributed.all_reduce_(counts, 'sum')
        if ctx.is_main:
            n_written, n_skipped = (int(v) for v in counts.tolist())
            C.info(f'wrote {n_written} PNG(s) to {outdir} with {ctx.world_size} process(es)'
                   + (f'; {n_skipped} already there' if n_skipped else ''))
    except BaseException:
        distributed.shutdown(wait=False)  # torchrun then stops the other processes
        raise
    distributed.shutdown()
    return 0
