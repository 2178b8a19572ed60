"""Regenerate the README screenshots: main view, per-layer panel, noise panel, mixing grid,
directions (sliders and a sweep strip).

    xvfb-run -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--checkpoint P] [--size WxH] [--only NAME ...]

(works with QT_QPA_PLATFORM=offscreen too; QWidget.grab renders the window itself).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


SHOTS = ('main', 'layers', 'noise', 'grid', 'directions')


def open_window(checkpoint=None, size=(1500, 940)):
    """Make the app and a shown MainWindow with fresh preferences (no saved bf16 choice,
    favourites or geometry, none written back); returns (app, win)."""
    import os
    import tempfile

    from explorer.paths import CONFIG_ENV
    os.environ[CONFIG_ENV] = tempfile.mkdtemp(prefix='explorer-screenshots-')
    from explorer.ui.app import make_app
    app = make_app()
    from explorer.ui.main_window import MainWindow
    win = MainWindow(checkpoint=checkpoint, cpu_threads='auto')
    win.resize(*size)
    win.show()
    return app, win


def pump(app, n=20):
    for _ in range(n):
        app.processEvents()
        time.sleep(0.01)


def waiter(app, default_timeout=120):
    """wait(cond, timeout): process events until cond() holds; exits on a timeout."""
    def wait(cond, timeout=default_timeout):
        end = time.time() + timeout
        while not cond():
            app.processEvents()
            time.sleep(0.01)
            if time.time() > end:
                raise SystemExit('timed out')
    return wait


def settler(app, win, wait, same_recipe=False):
    """settle(): wait until the newest request's frame is on screen (``same_recipe``: and the full
    frame shows the window's recipe), then let it paint."""
    def settle():
        wait(lambda: win.last_request is not None and win._shown_id >= win.last_request.request_id
             and (not same_recipe or win.frame_recipe == win.recipe))
        pump(app, 30)
    return settle


def save_small(widget, path, limit=300_000) -> None:
    """Save ``widget.grab()`` as a PNG; over ``limit`` bytes, with a palette of 256 colours, then
    fewer (the noise-detail view is mostly per-pixel noise and compresses badly)."""
    from PIL import Image
    widget.grab().save(str(path))
    if Path(path).stat().st_size <= limit:
        return
    rgb = Image.open(path).convert('RGB')
    for colours, method in ((256, Image.Quantize.MEDIANCUT), (128, Image.Quantize.FASTOCTREE),
                            (64, Image.Quantize.FASTOCTREE)):
        rgb.quantize(colours, method=method, dither=Image.Dither.NONE).save(path, optimize=True)
        if Path(path).stat().st_size <= limit:
            return


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--outdir', default=str(ROOT / 'docs'))
    ap.add_argument('--size', default='1400x900', help='window size WxH (default 1400x900)')
    ap.add_argument('--only', nargs='+', choices=SHOTS, default=SHOTS, help='make only these screenshots')
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split('x'))
    app, win = open_window(args.checkpoint, (w, h))
    out = Path(args.outdir)
    wait = waiter(app)
    settle = settler(app, win, wait)

    wait(lambda: win.frame is not None)
    if 'directions' in args.only:
        directions(win, wait, settle, out)
    if args.only == ['directions']:
        win.shutdown()
        win.close()
        return 0
    win.controls.setCurrentIndex(0)     # (the directions shot leaves its own tab showing)
    win.latent_panel.seed.setValue(1207)
    win.latent_panel.pad.drag_by(-0.35, -0.2)
    win.truncation_panel.preset_07.click()
    settle()
    save_small(win, out / 'screenshot_main.png')

    win.controls.setCurrentIndex(1)
    win.layers_panel.preset_buttons['coarse'].click()
    win.layers_panel.blend_sliders[2].setValue(0.6)
    settle()
    save_small(win, out / 'screenshot_layers.png')

    win.controls.setCurrentIndex(2)
    for i, s in enumerate(win.noise_panel.rows):
        if s.isEnabled() and i < 5:
            s.setValue(0.0)
    win.noise_panel.rows[7].setValue(2.0)
    # (the noise-detail view is black for a model with no learned noise, e.g. the placeholder)
    learned = [v for v in (win.info.layer_noise_learned or ()) if v]
    win.noise_panel.show_detail.setChecked(bool(learned))
    settle()
    save_small(win, out / 'screenshot_noise.png')

    win.noise_panel.show_detail.setChecked(False)
    win.tabs.setCurrentWidget(win.grid_panel)
    g = win.grid_panel
    wait(lambda: len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols), timeout=300)
    for _ in range(20):
        app.processEvents()
    save_small(win, out / 'screenshot_grid.png')
    win.shutdown()
    win.close()
    print('wrote', ', '.join(sorted(p.name for p in out.glob('screenshot_*.png'))))
    return 0


def directions(win, wait, settle, out):
    """The Directions tab: the model's named set (else SeFa on the coarse and middle layers),
    one slider moved, the sweep strip of the selected direction."""
    panel = win.directions_panel
    win.latent_panel.seed.setValue(1207)
    win.truncation_panel.preset_07.click()
    win.controls.setCurrentWidget(panel)
    if panel.dset is None:
        panel.count.setValue(8)
        win.directions.compute('sefa', None, 8, 0)
        wait(lambda: panel.dset is not None and not panel.busy)
    wait(lambda: panel.rows and panel.rows[0].value.isEnabled())
    names = list(panel.dset.names)
    if 'glasses' in names:          # the shipped named set: a direction anyone can check by eye
        k = names.index('glasses')
        panel.rows[k].value.setValue(2.0)
    else:
        k = min(1, len(panel.rows) - 1)
        panel.choose_layers(k, 'coarse')
        panel.rows[k].value.setValue(1.5)
    panel.select(k)                 # its sweep strip
    wait(lambda: panel.sweep.complete())
    settle()
    save_small(win, out / 'screenshot_directions.png')
    win.directions_panel.reset_all.click()
    settle()


if __name__ == '__main__':
    sys.exit(main())
