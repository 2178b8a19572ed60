"""Progressive preview and the fast view path (issue 7 item 3).

Interactive requests (a slider held down, or changes in a burst) render a reduced-
resolution preview when the measured full-frame time exceeds the worker's budget (here
injected through ``engine.assume_full_ms``); a pause refines to full resolution. The
view uses FastRenderer for StyleGAN2 models only; exports, the clipboard and favourites use
the exact reference path. A short pause while a slider (or the latent pad) is still held
does not refine; the release does at once, and so does a longer pause while held (the
worker interrupts that refine if the drag moves on).
"""

import numpy as np
import pytest
import torch

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import Qt  # noqa: E402
from ui_helpers import FakeEngine, qimage_array  # noqa: E402

from explorer.engine.checkpoint import load_generator, save_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.png import load_png
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import render
from explorer.engine.session import Session  # noqa: E402
from explorer.workers.render_worker import RenderRequest, RenderWorker  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def win(qtbot, tiny_ckpt):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=tiny_ckpt, device='cpu')
    qtbot.addWidget(w)
    shown = []      # (request, preview?, resolution, status text, view frame shape)
    w.worker.resultReady.connect(lambda res: shown.append(res))
    w.results = shown
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)


def drag(qtbot, win, values):
    """Hold the psi slider down and move it, waiting for each frame like a user would."""
    slider = win.truncation_panel.psi.slider
    slider.setSliderDown(True)
    seen = []
    for v in values:
        slider.setValue(v)
        req = win.last_request
        assert req.option('interactive') is True
        qtbot.waitUntil(lambda: win._shown_id >= req.request_id, timeout=15000)
        seen.append((win.shown_preview, win.status_label.text(), win.view.frame.shape))
    return slider, seen


def test_slow_model_drag_previews_then_release_refines(qtbot, win):
    win.engine.assume_full_ms = 500.0           # pretend a full frame takes 500 ms
    before_frame, before_recipe = win.frame.copy(), win.frame_recipe
    fired = []
    win.refiner.idle_timer.timeout.connect(lambda: fired.append(1))   # runs after the window's own slot
    slider, seen = drag(qtbot, win, [90, 80, 70])
    for preview, status, shape in seen:
        assert preview and 'preview 4x4' in status, status     # 8x8: 500 ms x MACs(8)/MACs(16) > 50 ms
        assert shape == (4, 4, 3)                # the view scales it smoothly to the full size
    previews = [r for r in win.results if r.request.option('interactive')]
    assert previews and all(r.timings['resolution'] == 4 and r.preview for r in previews)
    # While previewing, the full-resolution frame (Save, Star) is still the last full one.
    assert win.frame_recipe == before_recipe and np.array_equal(win.frame, before_frame)
    # The preview is the skip architecture's 4x4 image (the view scales it, bilinear: no blocks).
    G = load_generator(win.info.path)
    low = to_uint8(render(G, win.recipe, stop_at=4))
    assert np.abs(win.view.frame.astype(int) - low.astype(int)).max() <= 1
    # A short pause while the slider is still held: no full-resolution refine yet (a slow drag
    # would pay for an interrupted refine on every movement); the preview stays.
    held = []
    win.refiner.held_timer.setInterval(1500)      # well after the idle timer, even on a loaded machine
    win.refiner.held_timer.timeout.connect(lambda: held.append(1))
    slider.setValue(65)
    fired.clear()                                # the change restarted the idle timer
    qtbot.waitUntil(lambda: bool(fired), timeout=15000)
    settle(qtbot, win)
    assert not held and win.last_request.option('interactive') is True and win.shown_preview
    # Held still for HELD_REFINE_MS: the same recipe renders at full resolution, still held.
    qtbot.waitUntil(lambda: bool(held), timeout=15000)
    assert slider.isSliderDown() and win.last_request.option('interactive') is None
    assert win.last_request.recipe == win.recipe
    settle(qtbot, win)
    assert not win.shown_preview and win.frame_recipe == win.recipe
    # Moving on previews again.
    slider.setValue(60)
    assert win.last_request.option('interactive') is True
    settle(qtbot, win)
    assert win.shown_preview
    # Release: a full-resolution render of the same recipe follows at once.
    slider.setSliderDown(False)
    assert win.last_request.option('interactive') is None
    settle(qtbot, win)
    assert not win.shown_preview
    # The frame on screen is the refine; a late preview result may still arrive after it, but the
    # window drops it as stale, so look up the result that is actually shown.
    last = next(r for r in reversed(win.results) if r.request_id == win._shown_id)
    assert last.request.option('interactive') is None and last.request.recipe == win.recipe
    assert last.timings['resolution'] == 16 and not last.preview
    assert 'preview' not in win.status_label.text() and 'fast fp32' in win.status_label.text()
    assert win.frame_recipe == win.recipe and win.frame.shape == (16, 16, 3)
    assert np.abs(win.frame.astype(int) - to_uint8(render(G, win.recipe)).astype(int)).max() <= 1


def test_pause_after_non_drag_burst_refines(qtbot, win, monkeypatch):
    """Spin box / keyboard bursts hold nothing: the pause itself refines."""
    from explorer.ui import refine
    monkeypatch.setattr(refine, 'BURST_S', 3600.0)     # every change counts as part of a burst
    win.engine.assume_full_ms = 500.0
    win.truncation_panel.psi.spin.setValue(0.6)
    win.truncation_panel.psi.spin.setValue(0.55)         # the second change of a burst
    assert win.last_request.option('interactive') is True
    qtbot.waitUntil(lambda: win.last_request.option('interactive') is None, timeout=15000)
    settle(qtbot, win)
    assert not win.shown_preview and win.frame_recipe == win.recipe


def test_latent_pad_hold_defers_refine_to_release(qtbot, win, monkeypatch):
    from explorer.ui import refine
    monkeypatch.setattr(refine, 'BURST_S', 3600.0)
    win.engine.assume_full_ms = 500.0
    win.show()
    pad = win.latent_panel.pad
    win.refiner.held_timer.setInterval(60000)     # here only the release may refine
    fired = []
    win.refiner.idle_timer.timeout.connect(lambda: fired.append(1))
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=pad.rect().center())
    pad.drag_by(-0.25, 0.0)                      # as mouse moves while pressed do
    pad.drag_by(-0.25, 0.0)
    assert win.last_request.option('interactive') is True
    fired.clear()
    qtbot.waitUntil(lambda: bool(fired), timeout=15000)
    settle(qtbot, win)
    assert win.last_request.option('interactive') is True and win.shown_preview
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=pad.rect().center())
    assert win.last_request.option('interactive') is None
    settle(qtbot, win)
    assert not win.shown_preview and win.frame_recipe == win.recipe


def test_release_refines_at_once(qtbot, win):
    win.engine.assume_full_ms = 500.0
    win.refiner.idle_timer.setInterval(60000)          # only the release can refine here
    win.refiner.held_timer.setInterval(60000)
    slider, _ = drag(qtbot, win, [120, 110])
    assert win.shown_preview
    n = len(win.results)
    slider.setSliderDown(False)                  # sliderReleased
    assert win.last_request.option('interactive') is None
    settle(qtbot, win)
    assert len(win.results) == n + 1 and not win.shown_preview


def test_single_click_renders_full_even_for_slow_model(qtbot, win):
    win.engine.assume_full_ms = 500.0
    qtbot.wait(int(1000 * 0.2))                  # no burst in progress
    win.latent_panel.seed.setValue(7)
    assert win.last_request.option('interactive') is None
    settle(qtbot, win)
    assert not win.shown_preview and win.results[-1].timings['resolution'] == 16


def test_fast_model_never_previews(qtbot, win):
    win.refiner.idle_timer.setInterval(50)
    slider, seen = drag(qtbot, win, [90, 80, 70, 60])
    assert all(not p for p, _, _ in seen)
    assert all(r.timings['resolution'] == 16 for r in win.results)
    ids = win.last_request.request_id
    qtbot.wait(300)                              # the pause: nothing to refine
    assert win.last_request.request_id == ids and win.last_request.option('interactive')
    slider.setSliderDown(False)
    assert win.last_request.request_id == ids


def test_save_uses_exact_path_and_restore_renders_exactly(qtbot, win, tmp_path):
    win.engine.assume_full_ms = 500.0
    drag(qtbot, win, [95, 85])
    assert win.shown_preview
    G = load_generator(win.info.path)
    exact = to_uint8(render(G, win.recipe))
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:
        out = win.exporter.save_png(tmp_path / 'p.png')      # while a preview is on screen
    assert saved.args[1] == ''
    assert np.array_equal(load_png(out), exact)
    win.truncation_panel.psi.slider.setSliderDown(False)
    settle(qtbot, win)
    assert not win.frame_exact                    # the view: fast path
    win.latent_panel.seed.setValue(3)
    settle(qtbot, win)
    assert win.opener.open_recipe(out)
    settle(qtbot, win)
    assert win.last_request.option('path') == 'exact'
    assert win.frame_exact and np.array_equal(win.frame, exact)


def _tiny_models(tiny_G):
    """One tiny generator per family (StyleGAN2 from the fixture), seeded."""
    from explorer.engine import networks_stylegan1 as sg1
    from explorer.engine import networks_stylegan3 as sg3
    torch.manual_seed(0)
    return {
        'stylegan2': tiny_G,
        'stylegan3': sg3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
                                   channel_max=16, num_layers=4, mapping_kwargs=dict(num_layers=2)).eval(),
        'stylegan1': sg1.Generator(z_dim=16, w_dim=16, img_resolution=16, channels=[16, 16, 8],
                                   mapping_layers=2, mapping_fmaps=16).eval(),
    }


def test_engine_paths_per_family(tiny_G, tmp_path, monkeypatch):
    from explorer.engine import fast_render
    calls = []
    real = fast_render.FastRenderer.render
    monkeypatch.setattr(fast_render.FastRenderer, 'render',
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    models = _tiny_models(tiny_G)
    for family, G in models.items():
        eng = Session('cpu')
        info = eng.load(save_generator(G, tmp_path / f'{family}.pt'))
        assert info.family == family
        recipe = Recipe(seeds=(5,), psi=0.7)
        calls.clear()
        frame, t = eng.render(recipe)
        exact = to_uint8(render(eng.G, recipe))
        if family == 'stylegan2':
            assert info.fast_dtypes[0] == 'fp32' and t['path'] == 'fast fp32' and calls
            assert np.abs(frame.astype(int) - exact.astype(int)).max() <= 1
        elif family == 'stylegan3':     # its CPU plan: the exact path runs the same plan (no_grad)
            assert info.fast_dtypes[0] == 'fp32' and t['path'] == 'fast fp32' and calls
            assert np.array_equal(frame, exact)
        else:
            assert info.fast_dtypes == () and t['path'] == 'exact' and not calls
            assert np.array_equal(frame, exact)
        calls.clear()
        ex, t = eng.render_exact(recipe)      # the export's pixels: StyleGAN2's default fast plan, else the reference
        fast = family == 'stylegan2'
        assert t['path'] == 'exact' and bool(calls) == fast and np.array_equal(ex, exact)
        from explorer.engine.rendering import synthesis_path
        assert t['synthesis'] == ('fast fp32' if synthesis_path(eng.G, 'auto') == 'fast' else 'reference')
        assert synthesis_path(eng.G, 'auto') == 'fast' or family == 'stylegan3'      # SG1: NNPACK, SG2: the plan
        calls.clear()
        eng.export_png(tmp_path / f'{family}.png', recipe, recipe.to_dict())
        assert bool(calls) == fast and np.array_equal(load_png(tmp_path / f'{family}.png'), exact)
        # Slow-model previews on the exact path too where the architecture allows it.
        eng.assume_full_ms = 500.0
        _, t = eng.render(recipe, max_ms=50)
        assert t['preview'] == (family == 'stylegan2')


class _Interrupt:
    """An interrupt callable that says 'stop' from its (after+1)-th question on."""

    def __init__(self, after=None):
        self.after, self.calls = after, 0

    def __call__(self):
        self.calls += 1
        return self.after is not None and self.calls > self.after


def test_engine_render_is_interruptible_between_layers(tiny_G, tmp_path):
    """Every family and path asks ``interrupt`` between layers, stops at the first True with
    Cancelled (no later layer asks again), leaves no hook behind, and renders the same
    pixels when it is never told to stop."""
    from explorer.engine.progress import Cancelled
    models = _tiny_models(tiny_G)
    recipe = Recipe(seeds=(5,), psi=0.7)
    for family, G in models.items():
        eng = Session('cpu')
        eng.load(save_generator(G, tmp_path / f'{family}.pt'))
        for path in (('auto', 'exact') if family == 'stylegan2' else ('auto',)):
            plain, _ = eng.render(recipe, path=path)
            never = _Interrupt()
            frame, _ = eng.render(recipe, path=path, interrupt=never)
            assert np.array_equal(frame, plain), (family, path)
            assert never.calls >= 4, (family, path, never.calls)    # asked per layer, not once
            stop = _Interrupt(after=2)
            with pytest.raises(Cancelled):
                eng.render(recipe, path=path, interrupt=stop)
            assert stop.calls == 3, (family, path)                  # stopped at the first True
            assert not any(m._forward_pre_hooks for m in eng.G.modules()), (family, path)
            again, _ = eng.render(recipe, path=path)
            assert np.array_equal(again, plain), (family, path)


def test_engine_preview_resolution_from_measurements(tiny_G, tmp_path):
    eng = Session('cpu')
    eng.load(save_generator(tiny_G, tmp_path / 'g.pt'))
    recipe = Recipe(seeds=(1,))
    _, t = eng.render(recipe, max_ms=50)
    assert t['resolution'] == 16                  # nothing measured yet: a full frame (and a measurement)
    eng._ms[('fast fp32', 16)] = 400.0            # measured slow full frames ...
    eng._ms[('fast fp32', 8)] = 60.0              # ... 8x8 over the budget, 4x4 within it
    eng._ms[('fast fp32', 4)] = 5.0
    _, t = eng.render(recipe, max_ms=50)
    assert t['resolution'] == 4 and t['preview']
    eng._ms[('fast fp32', 16)] = 30.0             # a fast model: always full
    _, t = eng.render(recipe, max_ms=50)
    assert t['resolution'] == 16 and not t['preview']


def test_worker_passes_interactive_budget_and_options(qtbot):
    engine = FakeEngine()
    w = RenderWorker(engine)
    w.preview_ms = 33.0
    w.start()
    try:
        with qtbot.waitSignal(w.resultReady, timeout=5000):
            w.submit(RenderRequest(Recipe(seeds=(1,)), 1, (('interactive', True),)))
        with qtbot.waitSignal(w.resultReady, timeout=5000):
            w.submit(RenderRequest(Recipe(seeds=(1,)), 2))       # the refine: same recipe, not skipped
        with qtbot.waitSignal(w.resultReady, timeout=5000):
            w.submit(RenderRequest(Recipe(seeds=(2,)), 3, (('dtype', 'bf16'), ('path', 'exact'))))
    finally:
        w.stop()
    assert engine.render_kwargs == [{'max_ms': 33.0}, {}, {'dtype': 'bf16', 'path': 'exact'}]


def test_bf16_menu_only_where_supported(qtbot, win):
    from explorer.engine.capabilities import dtype_supported
    supported = dtype_supported('bf16', 'cpu')
    assert win.act_bf16.isEnabled() == supported
    assert ('bf16' in win.info.fast_dtypes) == supported
    if not supported:
        return
    win.act_bf16.setChecked(True)
    assert win.last_request.option('dtype') == 'bf16'
    settle(qtbot, win)
    assert 'fast bf16' in win.status_label.text() and not win.frame_exact
    win.act_bf16.setChecked(False)
    assert win.last_request.option('dtype') is None
    settle(qtbot, win)
    assert 'fast fp32' in win.status_label.text()


def test_copy_and_star_use_exact_pixels_of_the_recipe_on_screen(qtbot, win):
    from PyQt6.QtWidgets import QApplication

    from explorer.ui.panels.favourites import THUMB
    from explorer.ui.qimage import to_pixmap
    win.engine.assume_full_ms = 500.0
    slider, _ = drag(qtbot, win, [95, 85])
    assert win.shown_preview                     # a 4x4 preview is on screen
    G = load_generator(win.info.path)
    exact = to_uint8(render(G, win.recipe))
    clip = QApplication.clipboard()
    clip.clear()
    win.exporter.copy_to_clipboard()

    def copied(expected):
        img = clip.image()
        return not img.isNull() and img.width() == 16 and np.array_equal(qimage_array(img), expected)
    qtbot.waitUntil(lambda: copied(exact), timeout=15000)
    win.exporter.star_current()
    fav = win.favourites_panel
    qtbot.waitUntil(lambda: fav.list.count() == 1, timeout=15000)
    assert fav.recipes == [win.recipe.replace(checkpoint=win.info.name, checkpoint_sha256=win.info.sha256)]
    assert fav.thumbs[0].toImage() == to_pixmap(exact, THUMB).toImage()
    # A full-resolution fast-path frame (fp32 or bf16) on screen: the copy still renders exactly.
    slider.setSliderDown(False)
    settle(qtbot, win)
    assert not win.frame_exact and not win.shown_preview
    win.engine.assume_full_ms = None             # full frames from here on, burst or not
    paths = []
    real = win.engine.render
    win.engine.render = lambda recipe, **kw: paths.append(kw.get('path')) or real(recipe, **kw)
    win.latent_panel.seed.setValue(11)
    settle(qtbot, win)
    assert paths and 'exact' not in paths and not win.frame_exact and not win.shown_preview
    n = len(paths)
    clip.clear()
    win.exporter.copy_to_clipboard()
    exact = to_uint8(render(G, win.recipe))
    qtbot.waitUntil(lambda: copied(exact), timeout=15000)
    assert paths[n:] == ['exact']
