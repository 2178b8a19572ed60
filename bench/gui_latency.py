"""GUI latency: time from a slider change (request submitted) to the frame shown.

    QT_QPA_PLATFORM=offscreen python bench/gui_latency.py [--checkpoint P] [--n 50] [--control psi|noise|layer|seed]

Opens the real explorer window with the default checkpoint, waits for the first
frame, then moves one control N times, each time waiting until the new frame is on
screen (ImageItem.setImage done and the event loop has run). Prints the median,
the 90th percentile and the render time measured inside the worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--checkpoint', default=None, help='checkpoint (default: the shipped default)')
    ap.add_argument('--device', default=None, choices=['cpu', 'cuda'])
    ap.add_argument('--n', type=int, default=50, help='number of slider changes (default 50)')
    ap.add_argument('--control', default='psi', choices=['psi', 'noise', 'layer', 'seed'],
                    help='psi: new mapping each step; noise/layer: style-only (mapping cached); seed')
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--threads', default='auto', help="CPU render threads: 'auto' (as the app: cores - 1) or N")
    args = ap.parse_args(argv)

    os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
    from explorer.ui.app import make_app
    app = make_app()
    from explorer.ui.main_window import MainWindow
    t_open = time.perf_counter()
    win = MainWindow(checkpoint=args.checkpoint, device=args.device, cpu_threads=args.threads)
    win.show()

    def spin_until(cond, timeout=120.0):
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                raise SystemExit('timed out waiting for the window')
            time.sleep(0.0005)

    spin_until(lambda: win.frame is not None)
    first_frame_s = time.perf_counter() - t_open
    render_ms = []

    def step(i):
        if args.control == 'psi':
            win.truncation_panel.psi.slider.setValue(100 + (i % 150) - 75 if i % 2 else 100 + i % 100)
        elif args.control == 'noise':
            win.noise_panel.rows[0].slider.setValue((i * 7) % 200 + 1)
        elif args.control == 'layer':
            if not win.recipe.mix_seeds:
                win.layers_panel.preset_buttons['coarse'].click()
            win.layers_panel.blend_sliders[0].slider.setValue((i * 7) % 100 + 1)
        else:
            win.latent_panel.seed.setValue(1000 + i)

    def once(i):
        before = win.last_request.request_id
        step(i)
        req = win.last_request
        if req.request_id == before:
            return None
        spin_until(lambda: win._shown_id >= req.request_id)
        app.processEvents()
        return req

    for i in range(args.warmup):
        once(10_000 + i)
    win.latencies_ms.clear()
    shown = 0
    i = 0
    while shown < args.n:
        req = once(i)
        i += 1
        if req is not None:
            shown += 1
    lat = list(win.latencies_ms)[-args.n:]
    info = win.info
    win.shutdown()
    win.close()
    lat_sorted = sorted(lat)
    p90 = lat_sorted[int(0.9 * (len(lat_sorted) - 1))]
    print(f'checkpoint: {info.name} ({info.resolution}x{info.resolution}, {info.num_ws} style layers) on {info.device}')
    print(f'first frame after window creation: {first_frame_s:.2f} s')
    print(f'control: {args.control}, n={len(lat)}')
    print(f'submit -> shown: median {statistics.median(lat):.1f} ms, p90 {p90:.1f} ms, '
          f'min {lat_sorted[0]:.1f} ms, max {lat_sorted[-1]:.1f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
