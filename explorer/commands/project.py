"""python main.py project: find the latent that renders your image (W or W+).

Writes ``--out F.npz`` in NVIDIA's ``projected_w.npz`` layout (key ``w``, float32
[1, num_ws, w_dim]) and ``F.png``, the result with its recipe (holding the latent), so
``main.py render --latent F.npz`` and ``main.py render --recipe F.png`` both re-render it.
With ``--pti`` also ``F.pti.pt``: a copy of the model finetuned around this one latent
(a per-image model, not a general one) and ``F.pti.png`` rendered with it.
"""

from __future__ import annotations

from pathlib import Path

from explorer.commands import _common as C

NAME = 'project'
HELP = 'project an image into the latent space (W or W+); writes F.npz (NVIDIA layout) and F.png'


def add_arguments(p):
    from explorer.engine.projector import PivotalTuningConfig, ProjectionConfig
    d = ProjectionConfig()
    C.add_checkpoint_arg(p)
    p.add_argument('--target', metavar='IMG', required=True,
                   help='image to project (PNG, JPEG, WebP, TIFF...; EXIF rotation honoured, alpha flattened)')
    p.add_argument('--out', metavar='F.npz', required=True, help='latent file to write; the PNG goes beside it')
    p.add_argument('--space', choices=['w', 'w+'], default=d.space,
                   help=f'w: one w for all layers; w+: a W phase, then one w per style input (default {d.space})')
    p.add_argument('--steps', type=C.positive_int, default=d.steps, help=f'optimisation steps (default {d.steps})')
    p.add_argument('--seed', type=C.seed_type, default=d.seed, help='seed of the latent noise (default 0)')
    p.add_argument('--lr', type=C.positive_float, default=d.lr, help=f'peak learning rate (default {d.lr})')
    p.add_argument('--crop', metavar='X,Y,SIZE', default=None,
                   help='square crop in image pixels (after EXIF rotation); default: the centred square')
    p.add_argument('--background', choices=['white', 'black'], default='white',
                   help='colour transparent pixels are flattened onto (default white)')
    p.add_argument('--noise', action='store_true',
                   help='also optimise the noise maps (regularised as in StyleGAN2); only w is written, '
                        'the PNG uses the model\'s own noise')
    p.add_argument('--msssim-weight', type=C.nonneg_float, default=d.msssim_weight,
                   help=f'weight of 1 - MS-SSIM next to the pixel loss (default {d.msssim_weight})')
    p.add_argument('--d-features', type=C.nonneg_float, default=0.0, metavar='WEIGHT',
                   help='weight of a feature distance in the checkpoint\'s discriminator (files with D only; '
                        'default 0: off)')
    p.add_argument('--pti', action='store_true',
                   help='pivotal tuning: finetune a copy of the model around the latent (writes F.pti.pt, '
                        'a per-image model, and F.pti.png)')
    p.add_argument('--pti-steps', type=C.positive_int, default=PivotalTuningConfig().steps,
                   help=f'pivotal tuning steps (default {PivotalTuningConfig().steps})')
    p.add_argument('--save-target', action='store_true', help='also write the prepared target as F.target.png')
    p.add_argument('--save-video', action='store_true',
                   help='also write F.mp4: the target beside the reconstruction every --video-every steps')
    p.add_argument('--video-every', type=C.positive_int, default=2, metavar='K',
                   help='steps between video frames with --save-video (default 2; 30 frames a second)')
    p.add_argument('--threads', type=C.positive_int, default=None,
                   help='CPU threads for torch (default: 1 for models up to 128 px, whose small convolutions '
                        'gain little from more and slow down badly on a busy machine; else torch\'s default)')
    C.add_device_arg(p)
    C.add_exact_arg(p)


SMALL_MODEL_RESOLUTION = 128


def run(args):
    import dataclasses

    import numpy as np

    from explorer.commands._common import TextProgress
    from explorer.engine.image_prep import open_image, parse_crop, prepare_image
    from explorer.engine.latent_io import write_latent_npz
    from explorer.engine.projector import ProjectionConfig, project
    from explorer.errors import UserError

    out = C.writable_file(args.out)
    if out.suffix.lower() != '.npz':
        raise UserError(f'{out}: --out must end in .npz (NVIDIA projected_w layout)')
    crop = parse_crop(args.crop) if args.crop else None
    _check_outputs(args, out)
    image = open_image(args.target)            # bad files fail here, before the model loads
    config = ProjectionConfig(space=args.space, steps=args.steps, seed=args.seed, lr=args.lr,
                              optimize_noise=args.noise, msssim_weight=args.msssim_weight,
                              d_feature_weight=args.d_features)
    device = C.pick_device(args.device)
    G, path = C.load_for_cli(args.checkpoint, device)
    _set_threads(args.threads, G, device)
    target = prepare_image(image, G.img_resolution, G.img_channels, crop=crop, background=args.background)
    D = _discriminator(path, device) if args.d_features > 0 else None

    video = _video_writer(out, target, G.img_resolution) if args.save_video else None
    if video is not None:
        config = dataclasses.replace(config, preview_every=args.video_every)
    try:
        with TextProgress('project') as bar:
            def progress(info):
                bar(info.step, info.total, f'{info.phase} PSNR {info.losses["psnr"]:.2f} dB')
                if video is not None and info.image is not None:
                    video.write(np.concatenate([target, info.image], axis=1))      # target | reconstruction
            result = project(G, target, config, progress=progress, D=D)
    except BaseException:
        if video is not None:
            video.abort()
        raise
    if video is not None:
        C.info(f'wrote {video.close()}')
    png = out.with_suffix('.png')
    write_latent_npz(out, result.ws, G.num_ws)
    _write_png(G, path, result, png, Path(args.target).name, device, C.synthesis_of(args))
    C.info(f'wrote {out} and {png}: PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.4f} '
           f'({result.space.upper()}, {result.steps_done} steps, {result.seconds:.1f} s)')
    if args.save_target:
        from explorer.engine.png import save_png
        tpath = out.with_name(out.stem + '.target.png')
        save_png(tpath, target)
        C.info(f'wrote {tpath}')
    if args.pti:
        _pivotal_tuning(args, G, path, result, target, out, device)
    return 0


def _video_writer(out, target, resolution):
    """An MP4 of the optimisation beside ``out`` (target | reconstruction; upscaled to ~512 px wide)."""
    from explorer.engine.video_writers import open_writer
    scale = max(1, 256 // int(resolution))
    return open_writer(out.with_suffix('.mp4'), 30, scale=scale, resample='nearest')


def _set_threads(threads, G, device):
    import torch
    if threads is None and device.type == 'cpu' and G.img_resolution <= SMALL_MODEL_RESOLUTION:
        threads = 1
    if threads:
        torch.set_num_threads(threads)


def _outputs(args, out) -> list[Path]:
    names = [out, out.with_suffix('.png')]
    if args.save_target:
        names.append(out.with_name(out.stem + '.target.png'))
    if args.save_video:
        names.append(out.with_suffix('.mp4'))
    if args.pti:
        names += [out.with_name(out.stem + '.pti.pt'), out.with_name(out.stem + '.pti.png')]
    return names


def _check_outputs(args, out):
    """Never write over the target image (``--target me.png --out me.npz`` would)."""
    from explorer.errors import UserError
    target = Path(args.target).resolve()
    for name in _outputs(args, out):
        if name.resolve() == target:
            raise UserError(f'{name} would overwrite the target image; choose another --out name')


def _discriminator(path, device):
    from explorer.engine.checkpoint import read_checkpoint
    D = read_checkpoint(path).get('D')
    if D is None:
        C.info(f'note: {Path(path).name} holds no discriminator; --d-features ignored')
        return None
    return D.to(device)


def _write_png(G, path, result, png, target_name, device, synthesis='auto'):
    from explorer.engine.recipe import Recipe
    from explorer.engine.render_batch import render_recipe_png
    from explorer.engine.stored_latents import StoredLatent
    lat = StoredLatent.from_array(result.latent(), name=f'{target_name} projected')
    recipe = Recipe(synthesis=synthesis).with_latent(lat).replace(seeds=(lat.ref,), seed_weights=(1.0,))
    return render_recipe_png(G, path, recipe, png, device=device)


def _pivotal_tuning(args, G, path, result, target, out, device):
    import torch

    from explorer.commands._common import TextProgress
    from explorer.engine.checkpoint import save_generator, sha256_file
    from explorer.engine.projector import (
        PivotalTuningConfig,
        pivotal_tune,
        psnr_uint8,
        to_uint8,
    )
    cfg = PivotalTuningConfig(steps=args.pti_steps, seed=args.seed)
    with TextProgress('pivotal tuning') as bar:
        def progress(info):
            bar(info.step, info.total, f'PSNR {info.losses["psnr"]:.2f} dB')
        G_tuned, _ = pivotal_tune(G, result.ws, target, cfg, progress=progress)
    model = out.with_name(out.stem + '.pti.pt')
    save_generator(G_tuned, model, extra={'per_image_model': {
        'note': 'pivotal tuning: finetuned around one projected latent; renders that image, not a general model',
        'base_checkpoint': Path(path).name, 'base_checkpoint_sha256': sha256_file(path),
        'target': Path(args.target).name, 'latent_file': out.name, 'steps': cfg.steps, 'lr': cfg.lr}})
    png = _write_png(G_tuned, model, result, out.with_name(out.stem + '.pti.png'), Path(args.target).name, device,
                     C.synthesis_of(args))
    with torch.no_grad():
        ws = torch.from_numpy(result.ws)[None].to(device)
        psnr = psnr_uint8(to_uint8(G_tuned.synthesis(ws, noise_mode='const')), target)
    C.info(f'wrote {model} (a per-image model) and {png}: PSNR {psnr:.2f} dB')
