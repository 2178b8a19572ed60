"""Regenerate the README's sample sheet and style-mixing grids from a checkpoint.

    python docs/make_samples.py [--checkpoint P]

Writes docs/samples.png (an 8x4 sheet of seeds 0-31, psi 0.7, upscaled 2x for reading)
and runs ``python main.py mix`` three times (coarse / middle / fine styles from the
column faces) into docs/mix_coarse.png, docs/mix_middle.png, docs/mix_fine.png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROWS = '1,2,3,4'
COLS = '10,11,12,13,14'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None, help='default: the shipped default model')
    ap.add_argument('--outdir', default=str(ROOT / 'docs'))
    ap.add_argument('--psi', type=float, default=0.7)
    args = ap.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)

    import explorer
    from explorer.engine.export import batch_to_uint8
    from explorer.engine.latents import compute_ws
    G = explorer.load_generator(args.checkpoint)
    with torch.no_grad():
        imgs = batch_to_uint8(G.synthesis(compute_ws(G, list(range(32)), args.psi), noise_mode='const'))
    n, h, w, c = imgs.shape
    sheet = imgs.reshape(4, 8, h, w, c).transpose(0, 2, 1, 3, 4).reshape(4 * h, 8 * w, c)
    im = Image.fromarray(sheet[..., 0] if c == 1 else sheet)
    im.resize((im.width * 2, im.height * 2), Image.LANCZOS).save(out / 'samples.png')
    print(f'wrote {out / "samples.png"}')

    ck = ['--checkpoint', args.checkpoint] if args.checkpoint else []
    for group in ('coarse', 'middle', 'fine'):
        cmd = [sys.executable, str(ROOT / 'main.py'), 'mix', *ck, '--rows', ROWS, '--cols', COLS,
               '--styles', group, '--psi', str(args.psi), '--out', str(out / f'mix_{group}.png')]
        print(' '.join(cmd[1:]))
        subprocess.run(cmd, check=True)


if __name__ == '__main__':
    main()
