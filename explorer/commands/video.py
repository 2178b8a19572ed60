"""python main.py video: keyframe walks, loops and sweeps to MP4 / GIF / WebP / PNG frames.

    python main.py video --seeds 3,7,11 --seconds 4 --loop --easing sine --out walk.mp4
    python main.py video --keyframes K.json --out walk.webp --size 2x
    python main.py video --seeds 5 --sweep psi --range 1:-1 --seconds 3 --out psi.gif
    python main.py video --seeds 5 --sweep direction:0 --directions D.npz --seconds 3 --loop --out d.mp4
    python main.py video --seeds 5 --sweep noise --seconds 2 --out noise.mp4
    python main.py video --seeds 5,1,2,3 --sweep styles:fine --seconds 4 --loop --out fine.mp4

The animation JSON (the same format ``--keyframes`` reads) is written beside the output
as ``F.mp4.json`` and embedded in the file where the container has a place for it.
"""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'video'
HELP = 'animate keyframes (seeds or an animation JSON), loops and sweeps to MP4 / GIF / WebP / PNG frames'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument('--seeds', default=None, help='keyframe seeds in order, e.g. 3,7,11 (a sweep: the base seed)')
    src.add_argument('--keyframes', metavar='K.json', default=None,
                     help='animation JSON (written by the GUI, or the .json written beside a video)')
    p.add_argument('--seconds', type=C.positive_float, default=None,
                   help='length in seconds (with --keyframes: default the file\'s)')
    p.add_argument('--fps', type=C.positive_float, default=None, help='frames per second (default 30)')
    p.add_argument('--loop', action='store_true',
                   help='closed path: the last keyframe moves back to the first (frame N would be frame 0)')
    p.add_argument('--easing', default=None,
                   help='easing of every move: linear (default), sine, cubic, quad, quint, smoothstep, '
                        'ease-in-sine, ease-out-cubic, ...')
    p.add_argument('--hold', type=C.nonneg_float, default=0.0,
                   help='time held on each keyframe, relative to a move\'s 1 (default 0)')
    p.add_argument('--interp', choices=['w+', 'z'], default=None,
                   help='w+: lerp the final ws of the keyframes (default); z: slerp z of seed keyframes')
    p.add_argument('--psi', type=C.psi_type, default=1.0, help='truncation psi of --seeds keyframes (default 1.0)')
    p.add_argument('--cutoff', type=C.nonneg_int, default=None, help='truncate only the first N style layers')
    p.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='const', help='noise inputs')
    p.add_argument('--noise-seed', type=C.seed_type, default=0,
                   help="seed for --noise-mode random, and of the second noise field of --sweep noise")
    p.add_argument('--noise-strength', type=C.finite_float, default=1.0, help='global noise strength multiplier')
    p.add_argument('--class', dest='class_idx', type=C.nonneg_int, default=None, help='class for conditional models')
    p.add_argument('--sweep', default=None, metavar='KIND',
                   help='generated animation of the first seed / keyframe: psi (truncation, see --range), '
                        'direction:K (direction K of --directions from -A to +A, see --amount), '
                        'noise (the noise inputs turn through a loop), styles:SPEC (only layers SPEC '
                        'walk through --seeds; the first seed is the base)')
    p.add_argument('--range', dest='psi_range', default='1:-1', metavar='A:B',
                   help='psi sweep from A to B (default 1:-1)')
    p.add_argument('--directions', metavar='D.npz', default=None, help='direction set for --sweep direction:K')
    p.add_argument('--amount', type=C.positive_float, default=None,
                   help='direction sweep amplitude A (raw W units; default 3 x the set\'s std, else 3)')
    p.add_argument('--layers', default=None, metavar='SPEC',
                   help='layers of the direction sweep (coarse|middle|fine|all|0-3,8; default: the set\'s)')
    p.add_argument('--out', required=True, help='output: F.mp4, F.gif, F.webp, or a new folder for PNG frames')
    p.add_argument('--size', default='native', help='output size: native (default), a factor (2x) or an edge (256)')
    p.add_argument('--resample', choices=['lanczos', 'nearest'], default='lanczos', help='upscaling filter')
    p.add_argument('--quality', type=C.nonneg_int, default=None,
                   help='0..100 (default 75): MP4 CRF 40..10, WebP quality (100 = lossless); GIF ignores it')
    p.add_argument('--fast', action='store_true',
                   help='frames are fast by default (each one as `render` would make it); --fast also batches '
                        'them through the interactive view\'s renderer (StyleGAN2; CUDA graphs on a GPU; '
                        'within float rounding of single renders)')
    C.add_exact_arg(p)
    p.add_argument('--threads', type=C.positive_int, default=None,
                   help='CPU threads for rendering (default: torch\'s choice; on a busy 2-core machine 1 is '
                        'several times faster)')
    C.add_device_arg(p)


def _range(text):
    import math

    from explorer.errors import UserError
    try:
        a, b = (float(x) for x in str(text).split(':'))
    except ValueError:
        raise UserError(f'--range {text!r}: give A:B, e.g. 1:-1') from None
    if not (math.isfinite(a) and math.isfinite(b)) or a == b:
        raise UserError(f'--range {text!r}: two different finite numbers')
    return a, b


def run(args):
    from pathlib import Path

    from explorer.engine import animation as A
    from explorer.engine import latents
    from explorer.engine import video_writers as vw
    from explorer.errors import UserError

    if (args.seeds is None) == (args.keyframes is None):
        raise UserError('give --seeds (e.g. 3,7,11) or --keyframes K.json')
    if args.fast and args.exact:
        raise UserError('give --fast or --exact, not both')
    if args.seeds is not None and args.seconds is None:
        raise UserError('give --seconds S (the length of the video)')
    if args.fps is not None and args.fps > A.MAX_FPS:
        raise UserError(f'--fps must be at most {A.MAX_FPS:g}')
    if args.quality is not None and args.quality > 100:
        raise UserError('--quality must be 0..100')
    easing = A.easing_name(args.easing) if args.easing is not None else None
    out = Path(args.out)
    fmt = vw.format_of(out)
    if fmt == 'png':
        C.writable_dir(out.parent)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f'{out} already exists and is not an empty folder; choose a new folder name')
    else:
        C.writable_file(out)
    sweep = _parse_sweep(args.sweep)
    seeds = latents.parse_seeds(args.seeds) if args.seeds is not None else None
    anim_file = A.read_animation(args.keyframes, seconds=args.seconds, fps=args.fps) if args.keyframes else None
    if sweep and sweep[0] == 'direction' and not args.directions:
        raise UserError('--sweep direction:K needs --directions D.npz')

    device = C.pick_device(args.device)
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    G, path = C.load_for_cli(args.checkpoint, device)
    from explorer.engine.checkpoint import sha256_file
    sha = sha256_file(path)
    if anim_file is not None:
        anim_file.check_checkpoint(sha, Path(path).name)
    anim = _build(args, G, seeds, anim_file, sweep, easing, sha)
    anim.check_checkpoint(sha, Path(path).name)
    anim = anim.stamped(Path(path).name, sha)
    scale = vw.parse_size(args.size, int(G.img_resolution))
    from explorer.commands._common import TextProgress
    with TextProgress('video') as bar:
        written = A.export_animation(G, anim, out, device=device, path='fast' if args.fast else 'exact',
                                     scale=scale, resample=args.resample, quality=args.quality, progress=bar,
                                     synthesis=C.synthesis_of(args))
    C.info(f'wrote {written} ({anim.num_frames} frames, {anim.seconds:g} s at {anim.fps:g} fps) '
           f'and {vw.sidecar_path(written)}')
    return 0


def _parse_sweep(text):
    from explorer.errors import UserError
    if text is None:
        return None
    kind, _, arg = str(text).partition(':')
    kind = kind.strip().lower()
    if kind == 'psi' and not arg:
        return ('psi', None)
    if kind == 'noise' and not arg:
        return ('noise', None)
    if kind == 'direction' and arg.strip().isdigit():
        return ('direction', int(arg))
    if kind in ('styles', 'style') and arg.strip():
        return ('styles', arg.strip())
    raise UserError(f'--sweep {text!r}: use psi, direction:K, noise or styles:SPEC')


def _base(args, seed):
    from explorer.engine.recipe import Recipe
    return Recipe(seeds=(int(seed),), psi=args.psi, cutoff=args.cutoff, class_idx=args.class_idx,
                  noise_mode=args.noise_mode, noise_seed=args.noise_seed, noise_strength=args.noise_strength)


def _build(args, G, seeds, anim_file, sweep, easing, sha):
    from explorer.engine import animation as A
    from explorer.errors import UserError
    fps = args.fps if args.fps is not None else (anim_file.fps if anim_file is not None else 30.0)
    ease = easing or 'linear'
    if sweep is None:
        if anim_file is not None:
            anim = anim_file
            if easing is not None:
                anim = anim.with_easing(easing)
            if args.loop:
                anim = anim.replace(loop=True)
            if args.interp is not None:
                anim = anim.replace(interpolation=args.interp)
            return anim
        if len(seeds) < 2:
            raise UserError('an animation needs at least two keyframes: give two or more --seeds, or a --sweep')
        return A.walk([_base(args, s) for s in seeds], args.seconds, fps, args.loop, ease, hold=args.hold,
                      interpolation=args.interp or 'w+')
    kind, arg = sweep
    if args.interp == 'z':
        raise UserError('sweeps interpolate in w+')
    base = anim_file.keyframes[0].recipe if anim_file is not None else _base(args, seeds[0])
    seconds = args.seconds if args.seconds is not None else anim_file.seconds
    if kind == 'psi':
        a, b = _range(args.psi_range)
        return A.truncation_sweep(base, seconds, fps, a, b, loop=args.loop, easing=ease)
    if kind == 'noise':
        return A.noise_loop(base, seconds, fps, seed=args.noise_seed)
    if kind == 'direction':
        from explorer.engine.directions import DirectionSet
        from explorer.engine.latents import parse_layers
        dset = DirectionSet.load(args.directions)
        warning = dset.check_compatible(G, sha)
        if warning:
            from explorer.commands._common import info
            info(f'warning: {warning}')
        vec = dset.vector(arg)
        layers = parse_layers(args.layers, G) if args.layers else dset.layers_of(arg)
        if not layers:
            raise UserError('the direction set names no layers; give --layers SPEC')
        amount = args.amount
        if amount is None:
            std = float(dset.std[arg]) if dset.std is not None else 0.0
            amount = 3.0 * std if std > 0 else 3.0
        return A.direction_sweep(base, vec, amount, layers, seconds, fps, loop=args.loop, easing=ease,
                                 direction_name=dset.names[arg])
    # styles:SPEC
    from explorer.engine.latents import parse_layers
    layers = parse_layers(arg, G)
    if seeds is None or len(seeds) < 2:
        raise UserError('--sweep styles:SPEC needs --seeds BASE,S1,S2,... (at least two)')
    return A.style_walk(base, seeds, layers, G.num_ws, seconds, fps, loop=args.loop, easing=ease)
