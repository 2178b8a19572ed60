"""GUI latency: time from a slider change (request submitted) to the frame shown.

    QT_QPA_PLATFORM=offscreen python bench/gui_latency.py [--checkpoint P] [--n 50]
        [--control psi|noise|layer|seed|direction] [--path auto|exact] [--drag] [--bf16]

Opens the real explorer window with the default checkpoint, waits for the first
frame, then moves one control N times, each time waiting until the new frame is on
screen (ImageItem.setImage done and the event loop has run). Prints the median,
the 90th percentile and the render time measured inside the worker.

``--control direction`` drags the first direction slider of the Directions tab (the set
shipped with the model, else SeFa computed in the worker first): an edit after mapping, so
the mapping stays cached, as for noise/layer.

``--path exact`` keeps the view on G.synthesis (the app before the fast path);
``--drag`` holds the slider down while stepping (interactive requests: progressive
preview when a full frame takes longer than 50 ms), then releases it and reports the
time from release to the full-resolution frame. Each line says how many of the shown
frames were previews and at which resolution. ``--regrab K`` (with ``--drag``) then
releases the slider K more times, grabs it again ``--regrab-after`` ms later (while the
full-resolution refine is rendering) and moves it: the time from that movement to the
preview on screen (the worker interrupts the refine between layers).
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
    ap.add_argument('--control', default='psi', choices=['psi', 'noise', 'layer', 'seed', 'direction'],
                    help='psi: new mapping each step; noise/layer/direction: style-only (mapping cached); seed')
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--threads', default='auto', help="CPU render threads: 'auto' (as the app: cores - 1) or N")
    ap.add_argument('--path', default='auto', choices=['auto', 'exact'],
                    help='auto: the app (fast path for StyleGAN2); exact: G.synthesis for the view too')
    ap.add_argument('--drag', action='store_true', help='hold the slider down (psi/noise/layer) while stepping')
    ap.add_argument('--bf16', action='store_true', help="View > 'Use bf16' (where the CPU supports it)")
    ap.add_argument('--regrab', type=int, default=0, help='with --drag: release/re-grab rounds (default 0)')
    ap.add_argument('--regrab-after', type=float, default=300.0,
                    help='ms between release and grabbing again (default 300)')
    args = ap.parse_args(argv)

    os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
    # a throw-away settings folder: a user's saved bf16 choice or window size must not change the numbers
    import tempfile
    os.environ['STYLEGAN_EXPLORER_CONFIG'] = tempfile.mkdtemp(prefix='explorer-bench-')
    from explorer.ui.app import make_app
    app = make_app()
    from explorer.ui.main_window import MainWindow
    t_open = time.perf_counter()
    from explorer.engine.session import Session
    engine = Session(args.device, cpu_threads=args.threads, fast=args.path == 'auto')
    win = MainWindow(engine=engine, checkpoint=args.checkpoint)
    win.show()
    results = []
    win.worker.resultReady.connect(results.append)

    def spin_until(cond, timeout=120.0):
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                raise SystemExit('timed out waiting for the window')
            time.sleep(0.0005)

    spin_until(lambda: win.frame is not None)
    first_frame_s = time.perf_counter() - t_open
    if args.control == 'direction':
        panel = win.directions_panel
        if panel.dset is None:
            win.directions.compute('sefa', None, 4, 0)
            spin_until(lambda: panel.dset is not None and not panel.busy)
        spin_until(lambda: panel.rows and panel.rows[0].value.isEnabled())
    if args.bf16:
        if not win.act_bf16.isEnabled():
            raise SystemExit('bf16 is not available for this model/CPU')
        win.act_bf16.setChecked(True)
        spin_until(lambda: win._shown_id >= win.last_request.request_id)

    def slider():
        if args.control == 'psi':
            return win.truncation_panel.psi.slider
        if args.control == 'noise':
            return win.noise_panel.rows[0].slider
        if args.control == 'layer':
            return win.layers_panel.blend_sliders[0].slider
        if args.control == 'direction':
            return win.directions_panel.rows[0].value.slider
        return None

    def step(i):
        if args.control == 'psi':
            win.truncation_panel.psi.slider.setValue(100 + (i % 150) - 75 if i % 2 else 100 + i % 100)
        elif args.control == 'noise':
            win.noise_panel.rows[0].slider.setValue((i * 7) % 200 + 1)
        elif args.control == 'layer':
            if not win.recipe.mix_seeds:
                win.layers_panel.preset_buttons['coarse'].click()
            win.layers_panel.blend_sliders[0].slider.setValue((i * 7) % 100 + 1)
        elif args.control == 'direction':       # -5..+5 sigma in 0.05 steps: slider 0..200
            win.directions_panel.rows[0].value.slider.setValue(100 + (i % 150) - 75 if i % 2 else 100 + i % 100)
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

    held = slider() if args.drag else None
    if held is not None:
        if args.control == 'layer' and not win.recipe.mix_seeds:
            win.layers_panel.preset_buttons['coarse'].click()
        held.setSliderDown(True)
    for i in range(args.warmup):
        once(10_000 + i)
    win.latencies_ms.clear()
    results.clear()
    shown = 0
    i = 0
    while shown < args.n:
        req = once(i)
        i += 1
        if req is not None:
            shown += 1
    lat = list(win.latencies_ms)[-args.n:]
    shown = [r for r in results if r.image is not None]
    previews = [r.timings.get('resolution') for r in shown if r.preview]
    paths = sorted({r.timings.get('path', '?') for r in shown})
    refine_s = None
    if held is not None:
        t0 = time.perf_counter()
        held.setSliderDown(False)       # sliderReleased: refine a preview to full resolution
        spin_until(lambda: win._shown_id >= win.last_request.request_id and not win.shown_preview)
        refine_s = time.perf_counter() - t0
    regrab_ms = []
    for k in range(args.regrab if held is not None else 0):
        held.setSliderDown(True)
        once(20_000 + 2 * k)                # a preview on screen, so the release refines
        held.setSliderDown(False)           # release: the full-resolution refine starts
        t_end = time.perf_counter() + args.regrab_after / 1e3
        spin_until(lambda: time.perf_counter() >= t_end)
        held.setSliderDown(True)            # grab again while the refine renders, and move
        t0 = time.perf_counter()
        req = once(20_001 + 2 * k)
        if req is not None:
            regrab_ms.append((time.perf_counter() - t0) * 1e3)
    if held is not None:
        held.setSliderDown(False)
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
    sizes = sorted(set(previews))
    print(f'view path: {", ".join(paths)}; previews: {len(previews)} of {len(shown)} frames'
          + (f' at {", ".join(f"{r}x{r}" for r in sizes)}' if sizes else ''))
    if refine_s is not None:
        print(f'slider released -> full-resolution frame shown: {refine_s * 1e3:.0f} ms')
    if regrab_ms:
        r = sorted(regrab_ms)
        print(f'grabbed again {args.regrab_after:.0f} ms after a release, moved -> preview shown '
              f'(n={len(r)}): median {statistics.median(r):.0f} ms, p90 {r[int(0.9 * (len(r) - 1))]:.0f} ms, '
              f'max {r[-1]:.0f} ms; interrupted refines: {len(getattr(win.worker, "interrupted_ids", []))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
