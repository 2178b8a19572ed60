"""Regenerate docs/screenshot_projection.png (the projection window mid-run) and
docs/screenshot_projection_mix.png (Explore with the projected portrait as the base and its
coarse styles taken from a seed, Styles tab), issue #17, on the default model.

    QT_QPA_PLATFORM=offscreen python docs/make_projection_screenshots.py [--checkpoint P]

The photo is a procedural portrait (explorer.training.synthetic, seed 7) saved as a PNG
without a recipe, opened as a dropped file would be.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--grab-at', type=int, default=120, help='grab the window at this step')
    ap.add_argument('--mix-seed', type=int, default=5, help='the seed the coarse styles come from')
    ap.add_argument('--outdir', default=str(ROOT / 'docs'))
    args = ap.parse_args(argv)

    from make_screenshots import open_window, settler, waiter
    from PIL import Image

    from explorer.training.synthetic import SyntheticPortraits
    app, win = open_window(args.checkpoint, (1400, 900))
    wait = waiter(app, 600)
    settle = settler(app, win, wait, same_recipe=True)

    wait(lambda: win.frame is not None)
    photo = Path(tempfile.mkdtemp()) / 'portrait.png'
    Image.fromarray(SyntheticPortraits(resolution=256, seed=7).image(0)).save(photo)
    win.opener.open_path(photo)                 # a PNG without a recipe: the projection window
    ctl = win.projection
    d = ctl.dialog
    d.resize(1400, 900)
    d.steps.setValue(args.steps)
    steps = []
    ctl.stepShown.connect(steps.append)
    done = []
    ctl.finished.connect(lambda r, e: done.append((r, e)))
    ctl.start()
    wait(lambda: steps and steps[-1] >= args.grab_at)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.01)
    d.grab().save(str(Path(args.outdir) / 'screenshot_projection.png'))
    wait(lambda: done)
    result, error = done[0]
    if error:
        raise SystemExit(error)
    print(f'projected: PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.3f}, {result.seconds:.1f} s')
    ctl.use_in_explore()
    d.close()
    settle()
    coarse = win.info.group('coarse')
    src = tuple(0 if i in coarse else -1 for i in range(win.info.num_ws))
    win.apply_changes({'mix_seeds': (args.mix_seed,), 'layer_source': src, 'layer_blend': (1.0,) * win.info.num_ws})
    win.controls.setCurrentIndex(1)             # Styles
    settle()
    win.grab().save(str(Path(args.outdir) / 'screenshot_projection_mix.png'))
    win.shutdown()


if __name__ == '__main__':
    main()
