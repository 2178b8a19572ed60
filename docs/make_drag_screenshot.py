"""Regenerate docs/screenshot_drag.png: Drag mode on the default model (issue #19), three
window grabs side by side: before, with the points and the mask placed, after the drag.

    QT_QPA_PLATFORM=offscreen python docs/make_drag_screenshot.py [--checkpoint P] [--seed 0]

The points and the mask are placed with mouse events on the view, as a user would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--handle', default='33,9', help='x,y image pixels')
    ap.add_argument('--target', default='33,2', help='x,y image pixels')
    ap.add_argument('--mask', default='14,0,50,22', help='x0,y0,x1,y1: the box painted as the movable region')
    ap.add_argument('--steps', type=int, default=200)
    ap.add_argument('--out', default=str(ROOT / 'docs' / 'screenshot_drag.png'))
    ap.add_argument('--keep', default='', help='also write the three full grabs into this folder')
    args = ap.parse_args(argv)

    from make_screenshots import open_window, settler, waiter
    from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
    from PyQt6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter
    app, win = open_window(args.checkpoint, (1400, 900))
    wait = waiter(app, 300)
    settle = settler(app, win, wait, same_recipe=True)

    def mouse(kind, x, y, button=Qt.MouseButton.LeftButton):
        vp = win.view.viewport()
        p = win.view.widget_pos(x, y)
        pos = QPoint(round(p.x()), round(p.y()))
        t = {'press': QEvent.Type.MouseButtonPress, 'move': QEvent.Type.MouseMove,
             'release': QEvent.Type.MouseButtonRelease}[kind]
        ev = QMouseEvent(t, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button,
                         Qt.MouseButton.NoButton if kind == 'release' else button, Qt.KeyboardModifier.NoModifier)
        app.sendEvent(vp, ev)
        app.processEvents()

    wait(lambda: win.frame is not None)
    win.latent_panel.seed.setValue(args.seed)
    settle()
    drag_tab = win.drag.panel.parentWidget()
    while drag_tab is not None and win.controls.indexOf(drag_tab) < 0:
        drag_tab = drag_tab.parentWidget()
    win.controls.setCurrentWidget(drag_tab)
    settle()
    grabs = [win.grab().toImage()]

    win.drag.set_mode(True)
    x0, y0, x1, y1 = (float(v) for v in args.mask.split(','))
    panel = win.drag.panel
    panel.brush.setChecked(True)
    r = 3
    panel.radius.setValue(r)
    y = y0 + 0.5
    while y <= y1:
        mouse('press', x0 + 0.5, y)
        mouse('move', x1 - 0.5, y)
        mouse('release', x1 - 0.5, y)
        y += r
    panel.brush.setChecked(False)
    hx, hy = (float(v) + 0.5 for v in args.handle.split(','))
    tx, ty = (float(v) + 0.5 for v in args.target.split(','))
    for x, y in ((hx, hy), (tx, ty)):
        mouse('press', x, y)
        mouse('release', x, y)
    panel.steps.setValue(args.steps)
    for _ in range(20):
        app.processEvents()
    grabs.append(win.grab().toImage())

    done = []
    win.drag.finished.connect(lambda res, err: done.append((res, err)))
    panel.start_btn.click()
    wait(lambda: bool(done))
    res, err = done[0]
    if err:
        raise SystemExit(err)
    settle()
    grabs.append(win.grab().toImage())
    print(f'{res.steps} steps, distances {res.start_distances} -> {res.distances}, reached {res.reached}; '
          f'{panel.status.text()}')

    if args.keep:
        for name, g in zip(('before', 'points', 'after'), grabs):
            g.save(str(Path(args.keep) / f'drag_{name}.png'))
    # Side by side at half size, each with a caption.
    scale = 0.5
    w = int(grabs[0].width() * scale)
    h = int(grabs[0].height() * scale)
    cap = 34
    out = QImage(3 * w + 2 * 8, h + cap, QImage.Format.Format_RGB32)
    out.fill(QColor('#ffffff'))
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    f = QFont()
    f.setPointSize(14)
    f.setBold(True)
    p.setFont(f)
    for i, (g, text) in enumerate(zip(grabs, ('1. before', '2. handle (red), target (blue), mask (light)',
                                              '3. after the drag'))):
        x = i * (w + 8)
        p.drawImage(x, cap, g.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation))
        p.setPen(QColor('#202124'))
        p.drawText(x + 6, 24, text)
    p.end()
    out.save(args.out)
    print('wrote', args.out)
    win.shutdown()


if __name__ == '__main__':
    main()
