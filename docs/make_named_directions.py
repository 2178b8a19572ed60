"""Make the named directions shipped with the default model, and print how well they work.

    nice python docs/make_named_directions.py [--retrain] [--checkpoint P]

1. The attribute regressor (``explorer/engine/attributes.py``): a small CNN trained on
   procedural portraits (``SyntheticPortraits`` at 64 px) with their own factors as labels,
   checked on held-out portraits (another dataset seed). Saved beside the checkpoint as
   ``<name>_attributes.pt``; an existing file is reused unless ``--retrain``.
2. ``--samples`` w codes (psi 1) of the generator are rendered and labelled by the regressor.
3. One direction per factor is fitted in W (``directions.fit_direction``: ridge on the scores,
   a linear SVM for glasses), plain and conditional (the other factors' directions projected out).
4. Each candidate (plain/conditional x layer range) is swept over -3..+3 std on "selection"
   seeds; per factor the candidate that moves its factor most selectively (largest ratio of
   the target's mean |change| to the other factors', among those that move the target at least
   half as much as the best one) is kept. Factors whose best edit is not monotone, too weak
   (the regressor's prediction hardly moves) or not selective enough are left out.
5. The kept directions are measured again on other seeds ("report" seeds, 0..63), saved as
   ``<name>_directions.npz`` (method 'named') and drawn as a sweep strip in
   ``docs/named_directions.png``.

Everything is seeded; with the same torch build and thread count the files come out the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Layer ranges tried for every direction (ws indices of the 64 px default model are
# coarse 0-2, middle 3-6, fine 7-9; the groups come from the network itself).
# Left out after looking at docs/named_directions.png: the regressor's mean moves, but the images
# do not do what the name says (see checkpoints/README.md, "Named directions").
DROPPED_BY_EYE = ('hair length',)
RANGE_CANDIDATES = ('coarse', 'middle', 'fine', 'coarse+middle', 'middle+fine', 'all')
MIN_RATIO = 2.0             # a kept direction moves its factor at least this much more than the others
MAX_MEAN_VIOLATION = 0.05   # a kept direction's mean curve may dip at most this much (normalised units)
MIN_TARGET_CHANGE = 0.3     # ... and move its own factor by at least this much (mean |change|, normalised units;
                            # roll, at 0.28, was invisible in docs/named_directions.png)


def log(msg):
    print(msg, flush=True)


def layer_range(G, spec: str) -> tuple:
    from explorer.engine.latents import groups_for
    groups = groups_for(G)
    return tuple(sorted({i for part in spec.split('+') for i in groups[part]}))


def train_or_load(args, path):
    from explorer.training import attributes as A
    if path.exists() and not args.retrain:
        log(f'regressor: {path} (use --retrain to train it again)')
        return A.AttributeModel.load(path)
    t0 = time.time()
    log(f'rendering {args.train_images} training portraits (dataset seed {args.data_seed}) ...')
    images, labels = A.portrait_set(args.train_images, seed=args.data_seed)
    log(f'training the regressor: {args.epochs} epochs ...')
    model = A.train_regressor(images, labels, epochs=args.epochs, seed=args.seed,
                              progress=lambda s, n, m: log(f'  step {s}/{n}: {m}') if s % 500 == 0 else None)
    del images
    held, held_labels = A.portrait_set(args.heldout, seed=args.heldout_seed)
    quality = A.evaluate(model, held, held_labels)
    model.info.update(heldout_images=args.heldout, heldout_seed=args.heldout_seed, data_seed=args.data_seed,
                      heldout={k: round(v['value'], 4) for k, v in quality.items()},
                      heldout_metric={k: v['metric'] for k, v in quality.items()},
                      train_seconds=round(time.time() - t0, 1), threads=torch.get_num_threads())
    model.save(path)
    log(f'wrote {path} ({path.stat().st_size / 1024:.0f} kB) in {time.time() - t0:.0f} s')
    return model


def label_samples(G, model, n, seed):
    from explorer.engine.directions import sample_w
    from explorer.training import attributes as A
    w = sample_w(G, n, seed=seed)                                           # [N, w_dim]
    pred = []
    for i in range(0, n, 512):
        ws = w[i:i + 512, None].repeat(1, G.num_ws, 1)
        pred.append(model.predict(A.render_ws(G, ws)))
    return w.double().numpy(), np.concatenate(pred)


def fit_all(w, pred, model):
    from explorer.engine.directions import fit_direction, orthogonalise
    raw = {}
    for k, (name, kind) in enumerate(zip(model.names, model.kinds)):
        y = pred[:, k]
        if kind == 'binary':                # P > 0.5, in the normalised units of predict()
            y = (y > (0.5 - model.mean[k]) / model.std[k]).astype(np.float64)
        raw[name] = fit_direction(w, y)
    cond = {n: orthogonalise(raw[n], [raw[o] for o in model.names if o != n]) for n in model.names}
    return raw, cond


def measure(G, model, ws, direction, step, layers, name):
    from explorer.training import attributes as A
    pred = A.sweep_predictions(G, model, ws, direction, step, layers)
    return A.edit_effect(pred, model.names, name)


def effect_row(e):
    other, oc = e.worst_other
    return (f'target {e.target_change:5.2f}  others {e.others_change:5.3f}  ratio {e.ratio:5.1f}  '
            f'monotone {100 * e.monotone_fraction:3.0f}%  dip {e.mean_violation:.3f}  worst other {other} {oc:.2f}')


def choose(effects):
    """effects: {(variant, range): EditEffect} -> the key of the most selective strong edit."""
    best_target = max(e.target_change for e in effects.values())
    ok = {k: e for k, e in effects.items() if e.target_change >= 0.5 * best_target}
    return max(ok, key=lambda k: ok[k].ratio)


def sweep_figure(G, dset, seeds, path, psi=1.0, sigmas=(-3, -2, -1, 0, 1, 2, 3)):
    from PIL import Image, ImageDraw

    from explorer.engine.directions import apply_edit
    from explorer.engine.export import batch_to_uint8
    from explorer.engine.latents import compute_ws
    ws = compute_ws(G, list(seeds), psi)
    R = G.img_resolution
    label_w = 96
    rows = []
    for k in range(len(dset)):
        step = float(dset.std[k])
        edited = torch.cat([apply_edit(ws[i:i + 1], dset.vector(k), s * step, dset.layers_of(k))
                            for i in range(len(seeds)) for s in sigmas])
        with torch.no_grad():
            imgs = batch_to_uint8(G.synthesis(edited, noise_mode='const'))
        imgs = imgs.reshape(len(seeds), len(sigmas), R, R, 3)
        for i in range(len(seeds)):
            rows.append((dset.names[k] if i == 0 else '', seeds[i], np.concatenate(list(imgs[i]), axis=1)))
    header = 14
    canvas = Image.new('RGB', (label_w + len(sigmas) * R, header + len(rows) * R), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, s in enumerate(sigmas):
        draw.text((label_w + j * R + R // 2 - 8, 1), f'{s:+d}' if s else '0', fill=(0, 0, 0))
    for r, (name, seed, strip) in enumerate(rows):
        y = header + r * R
        canvas.paste(Image.fromarray(strip), (label_w, y))
        if name:
            draw.text((4, y + 4), name, fill=(0, 0, 0))
        draw.text((4, y + R - 14), f'seed {seed}', fill=(90, 90, 90))
    canvas.save(path)
    log(f'wrote {path}')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None, help='default: the shipped default model')
    ap.add_argument('--out', default=None, help='default: <checkpoint>_directions.npz beside the checkpoint')
    ap.add_argument('--attributes', default=None, help='default: <checkpoint>_attributes.pt beside the checkpoint')
    ap.add_argument('--retrain', action='store_true', help='train the regressor even if its file exists')
    ap.add_argument('--train-images', type=int, default=16000)
    ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--heldout', type=int, default=2000)
    ap.add_argument('--data-seed', type=int, default=0, help='SyntheticPortraits seed of the training portraits')
    ap.add_argument('--heldout-seed', type=int, default=1, help='SyntheticPortraits seed of the held-out portraits')
    ap.add_argument('--samples', type=int, default=10000, help='generated images labelled to fit the directions')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--selection-seeds', default='1000-1015', help='seeds used to choose variant and layer range')
    ap.add_argument('--report-seeds', default='0-63', help='seeds of the reported measurements')
    ap.add_argument('--figure', default=str(ROOT / 'docs' / 'named_directions.png'))
    ap.add_argument('--figure-only', action='store_true', help='only draw the figure from the shipped files')
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import explorer
    from explorer.engine.checkpoint import default_checkpoint_path, sha256_file
    from explorer.engine.directions import DirectionSet, _std_along
    from explorer.engine.latents import compute_ws, parse_seeds
    from explorer.training import attributes as A

    ckpt = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    G = explorer.load_generator(ckpt)
    out = Path(args.out) if args.out else ckpt.with_name(ckpt.stem + '_directions.npz')
    if args.figure_only:
        sweep_figure(G, DirectionSet.load(out), [0, 1, 2], args.figure)
        return
    sha = sha256_file(ckpt)
    model = train_or_load(args, Path(args.attributes) if args.attributes else A.default_attributes_path(ckpt))
    log('held-out quality of the regressor: ' + json.dumps(model.info.get('heldout', {})))

    t0 = time.time()
    w, pred = label_samples(G, model, args.samples, args.seed)
    log(f'labelled {args.samples} generated images in {time.time() - t0:.0f} s; '
        'predicted spread (normalised units, 1 = the training portraits\' std): '
        + ', '.join(f'{n} {s:.2f}' for n, s in zip(model.names, pred.std(0))))
    raw, cond = fit_all(w, pred, model)
    names = list(model.names)
    dirs = {('plain', n): raw[n] for n in names} | {('conditional', n): cond[n] for n in names}
    keys = list(dirs)
    stds = dict(zip(keys, _std_along(G, np.stack([dirs[k] for k in keys]), 4096)))

    sel_ws = compute_ws(G, parse_seeds(args.selection_seeds), 1.0)
    chosen = {}
    for n in names:
        effects = {}
        for variant in ('plain', 'conditional'):
            for spec in RANGE_CANDIDATES:
                effects[(variant, spec)] = measure(G, model, sel_ws, dirs[(variant, n)], stds[(variant, n)],
                                                   layer_range(G, spec), n)
        log(f'--- {n}')
        for (variant, spec), e in effects.items():
            log(f'  {variant:11s} {spec:13s} {effect_row(e)}')
        chosen[n] = choose(effects)
        log(f'  chosen: {chosen[n]}')

    rep_ws = compute_ws(G, parse_seeds(args.report_seeds), 1.0)
    kept, table = [], []
    for n in names:
        variant, spec = chosen[n]
        layers = layer_range(G, spec)
        e = measure(G, model, rep_ws, dirs[(variant, n)], stds[(variant, n)], layers, n)
        ok = (e.ratio >= MIN_RATIO and e.mean_violation <= MAX_MEAN_VIOLATION
              and e.target_change >= MIN_TARGET_CHANGE and n not in DROPPED_BY_EYE)
        table.append((n, variant, spec, e, ok))
        if ok:
            kept.append((n, variant, layers))
    log('\nreport seeds ' + args.report_seeds + ' (psi 1, amounts -3..+3 std):')
    log('| direction | fitted | layers | target mean abs change | others (mean) | ratio | worst other | '
        'images monotone | mean curve -3..+3 | shipped |')
    log('|---|---|---|---|---|---|---|---|---|---|')
    for n, variant, spec, e, ok in table:
        other, oc = e.worst_other
        curve = ' '.join(f'{v:+.2f}' for v in e.mean_curve)
        log(f'| {n} | {variant} | {spec} {list(layer_range(G, spec))} | {e.target_change:.2f} | '
            f'{e.others_change:.3f} | {e.ratio:.1f} | {other} {oc:.2f} | {100 * e.monotone_fraction:.0f}% | '
            f'{curve} | {"yes" if ok else "no"} |')

    dset = DirectionSet(
        directions=np.stack([dirs[(v, n)] for n, v, _ in kept]).astype(np.float32),
        layers=tuple(range(G.num_ws)), method='named', names=tuple(n for n, _, _ in kept), num_ws=G.num_ws,
        checkpoint_sha256=sha, std=np.array([stds[(v, n)] for n, v, _ in kept]),
        layer_ranges=tuple(layers for _, _, layers in kept))
    dset.save(out)
    log(f'wrote {out} ({len(dset)} directions: {", ".join(dset.names)})')
    sweep_figure(G, DirectionSet.load(out), [0, 1, 2], args.figure)


if __name__ == '__main__':
    main()
