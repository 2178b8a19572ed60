"""Screenshots for a layout review: the whole window, every top-level tab, every Explore
controls tab and every menu, for the default model and for an 18-layer StyleGAN2 model (random weights,
1024 px, few channels so it renders quickly on the CPU).

    xvfb-run -a -s '-screen 0 1600x1000x24' python docs/review_screenshots.py --size 1280x800 --out /tmp/shots1280

(QT_QPA_PLATFORM=offscreen works too.) Writes OUT/<model>_<tab>.png; look at every one.
These are for reviewing, not for the docs (docs/make_screenshots.py makes those).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'docs'))

from make_screenshots import open_window, pump, settler, waiter  # noqa: E402

DEFAULT_CHECKPOINT = ROOT / 'checkpoints' / 'portraits64.pt'


def make_layered_checkpoint(resolution: int, path: Path) -> Path:
    """A random-weights StyleGAN2 generator with 2*log2(resolution)-2 style layers
    (1024 px -> 18), small channels so the CPU renders it in well under a second."""
    import torch

    from explorer.engine.checkpoint import save_generator
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=resolution, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=1024, channel_max=32, num_fp16_res=0)).eval()
    return save_generator(G, path)


def slug(text: str) -> str:
    return re.sub(r'[^a-z0-9]+', '_', text.replace('&&', 'and').lower()).strip('_')


def shoot(checkpoint, name: str, size, out: Path) -> list[Path]:
    app, win = open_window(str(checkpoint), size)
    wait = waiter(app)
    settle = settler(app, win, wait)
    wait(lambda: win.frame is not None, timeout=300)
    settle()
    written = []

    def save(tab):
        pump(app)
        p = out / f'{name}_{slug(tab)}.png'
        win.grab().save(str(p))
        written.append(p)

    explore = win.tabs.widget(0)
    win.tabs.setCurrentWidget(explore)
    for i in range(win.controls.count()):
        win.controls.setCurrentIndex(i)
        settle()
        save(f'explore {win.controls.tabText(i)}')
    # Directions again with a computed set: a row per direction, the sweep strip filled.
    panel = win.directions_panel
    win.controls.setCurrentWidget(panel)
    if panel.dset is None:
        panel.count.setValue(8)
        win.directions.compute('sefa', None, 8, 0)
        wait(lambda: panel.dset is not None and not panel.busy, timeout=300)
    wait(lambda: panel.rows and panel.rows[0].value.isEnabled())
    panel.choose_layers(min(1, len(panel.rows) - 1), 'coarse')
    wait(lambda: panel.sweep.complete(), timeout=300)
    settle()
    save('explore directions computed')
    win.controls.setCurrentIndex(0)
    for i in range(1, win.tabs.count()):
        win.tabs.setCurrentIndex(i)
        if win.tabs.widget(i) is win.grid_panel:
            g = win.grid_panel
            wait(lambda: len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols), timeout=300)
        save(win.tabs.tabText(i))
    from PyQt6.QtCore import QPoint
    bar = win.menuBar()
    for action in bar.actions():           # each menu opened, as it shows over the window
        menu = action.menu()
        menu.popup(bar.mapToGlobal(QPoint(bar.actionGeometry(action).left(), bar.height())))
        pump(app, 30)
        p = out / f'{name}_menu_{slug(action.text())}.png'
        menu.grab().save(str(p))
        written.append(p)
        menu.hide()
    win.shutdown()
    win.close()
    win.deleteLater()
    pump(app)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', default='1280x800', help='window size WxH (default 1280x800)')
    ap.add_argument('--out', default='/tmp/review_shots', help='folder for the PNGs')
    ap.add_argument('--models', nargs='+', choices=('default', 'layers18'), default=('default', 'layers18'))
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split('x'))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix='explorer-review-') as tmp:
        for model in args.models:
            if model == 'default':
                ckpt = DEFAULT_CHECKPOINT
            else:
                ckpt = make_layered_checkpoint(1024, Path(tmp) / 'layers18.pt')
            written += shoot(ckpt, model, size, out)
    print('wrote', len(written), 'screenshots to', out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
