"""File > Reference synthesis for exports reaches every image export of the window, not only
Save image and batch export: video / PNG-frame export, grid images and Copy image render with
the reference when it is on (the files record 'ref') and on the fast path when it is off
('fast', tiny_G has one); either way the pixels equal a render of the recorded recipe."""

import json

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from ui_helpers import qimage_array  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.grid_spec import GridSpec, cell_recipe, compose_grid  # noqa: E402
from explorer.engine.mixing import iter_grid  # noqa: E402
from explorer.engine.png import load_png, read_recipe  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import render  # noqa: E402

# Seed 49 of tiny_G has a pixel where the fast path and the reference differ by one level (torch
# 2.x on x86 CPUs), so a frame or tile rendered on the wrong path shows in the pixels as well.
SEEDS = (49, 3)


def test_video_export_takes_the_reference_option(qtbot, win, tmp_path, tiny_ckpt):
    for s in SEEDS:
        win.animation_panel.add_keyframe(Recipe(seeds=(s,)))
    win.animation_panel.fps.setValue(3)
    G = load_generator(tiny_ckpt, device='cpu')
    assert win.info.synthesis_path == 'fast'
    for reference, want in ((True, 'ref'), (False, 'fast')):
        win.exporter.reference_action.setChecked(reference)
        out = tmp_path / f'frames_{want}'
        with qtbot.waitSignal(win.animation.exported, timeout=30000) as sig:
            assert win.animation.export_to(out)         # a folder of PNG frames, each with its recipe
        assert sig.args == [str(out), '']
        side = json.loads((out / 'animation.json').read_text())
        assert side['output']['synthesis'] == want
        frames = sorted(out.glob('frame*.png'))
        assert len(frames) == side['frames'] >= 2
        for f in frames:
            rec = Recipe.from_dict(read_recipe(f))
            assert rec.synthesis == want, f.name
            assert np.array_equal(load_png(f), to_uint8(render(G, rec))), f.name


def test_video_export_passes_the_option_to_the_session(qtbot, fake_win, tmp_path):
    """The worker hands the option to ``RenderSession.export_animation`` (the fake records it)."""
    w = fake_win
    for s in (1, 2):
        w.animation_panel.add_keyframe(Recipe(seeds=(s,)), np.zeros((8, 8, 3), np.uint8))
    for reference in (True, False):
        w.exporter.reference_action.setChecked(reference)
        with qtbot.waitSignal(w.animation.exported, timeout=30000):
            w.animation.export_to(tmp_path / f'walk{int(reference)}.gif')
    assert w.worker.engine.animation_exports == [('exact', 'ref'), ('exact', 'auto')]


def grid_done(win):
    g = win.grid_panel
    return len(g.tiles) == len(g.rows) + len(g.cols) + len(g.rows) * len(g.cols)


def test_grid_image_takes_the_reference_option(qtbot, win, tmp_path, tiny_ckpt):
    """Off: the tiles on screen (fast) are written and recorded 'fast'. On: the worker renders the
    grid again with the reference (progress per tile) and the file records 'ref'."""
    g = win.grid_panel
    g.set_rows_cols([SEEDS[0]], list(SEEDS))
    g.set_group('coarse')
    win.tabs.setCurrentWidget(g)
    qtbot.waitUntil(lambda: grid_done(win), timeout=30000)
    assert win.grid.spec.synthesis == 'auto'
    shown = dict(g.tiles)
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:
        fast = win.grid.save(tmp_path / 'fast.png')
    assert saved.args == [str(fast), '']
    progress = []
    win.worker.progress.connect(lambda kind, done, total, _: kind == 'grid-export' and progress.append((done, total)))
    win.exporter.reference_action.setChecked(True)
    with qtbot.waitSignal(win.pngSaved, timeout=30000) as saved:
        ref = win.grid.save(tmp_path / 'ref.png')
    assert saved.args == [str(ref), '']
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)
    assert g.tiles.keys() == shown.keys() and all(np.array_equal(g.tiles[k], v) for k, v in shown.items())
    G = load_generator(tiny_ckpt, device='cpu')
    h = G.img_resolution
    for path, want in ((fast, 'fast'), (ref, 'ref')):
        spec = GridSpec.from_dict(read_recipe(path)['grid'])
        assert spec.synthesis == want
        image = load_png(path)
        tiles = {(kind, r, c): img for kind, r, c, img in iter_grid(G, spec)}
        assert np.array_equal(image, compose_grid(spec, tiles, (h, h, 3)))
        for c, col in enumerate(spec.cols):         # each cell is its cell recipe's render on that path
            cell = image[h:2 * h, (c + 1) * h:(c + 2) * h]
            assert np.array_equal(cell, to_uint8(render(G, cell_recipe(spec, G.num_ws, spec.rows[0], col)))), c
    assert np.array_equal(load_png(fast), compose_grid(win.grid.spec, shown, (h, h, 3)))


def test_copy_image_takes_the_reference_option(qtbot, win, tiny_ckpt):
    from PyQt6.QtWidgets import QApplication
    win.latent_panel.seed.setValue(SEEDS[0])
    qtbot.waitUntil(lambda: win.frame_recipe == win.recipe and not win.shown_preview, timeout=15000)
    asked = []
    real = win.engine.render
    win.engine.render = lambda recipe, **kw: (asked.append((recipe, kw.get('path'))), real(recipe, **kw))[1]
    G = load_generator(tiny_ckpt, device='cpu')
    clip = QApplication.clipboard()
    for reference, want in ((True, 'ref'), (False, 'auto')):
        win.exporter.reference_action.setChecked(reference)
        clip.clear()
        n = len(asked)
        win.exporter.copy_to_clipboard()
        expected = to_uint8(render(G, win.recipe.replace(synthesis=want)))
        qtbot.waitUntil(lambda: not clip.image().isNull() and np.array_equal(qimage_array(clip.image()), expected),
                        timeout=15000)
        assert [r.synthesis for r, path in asked[n:] if path == 'exact'] == [want]


def test_performance_tab_and_status_line_say_what_exports_render_with(qtbot, win):
    """The Performance tab's Exports line follows the option; an exact frame on the fast path is
    'export pixels (fast fp32)' only while exports render with it."""
    from explorer.ui.performance_panel import path_text
    perf = win.look_inside.performance.panel
    assert perf.exports_label.text() == 'fast fp32'
    win.exporter.reference_action.setChecked(True)
    assert perf.exports_label.text() == 'reference'
    win.restore_recipe(win.recipe.replace(seeds=(7,)))       # a restored recipe shows its exact frame
    qtbot.waitUntil(lambda: win.frame_exact and win.frame_recipe == win.recipe, timeout=15000)
    assert perf.path_label.text() == 'fast fp32' and 'export pixels' not in win.status_label.text()
    win.exporter.reference_action.setChecked(False)
    assert perf.exports_label.text() == 'fast fp32'
    exact = {'path': 'exact', 'synthesis': 'fast fp32'}
    assert path_text(exact) == path_text(exact, 'fast fp32') == 'export pixels (fast fp32)'
    assert path_text(exact, 'reference') == 'fast fp32'
    assert path_text({'path': 'exact', 'synthesis': 'reference'}, 'reference') == 'export pixels (reference)'
    assert path_text({'path': 'fast bf16', 'synthesis': 'fast bf16'}, 'fast fp32') == 'fast bf16'


def test_grid_takes_explores_synthesis_path_and_an_opened_grid_gives_its_own(qtbot, fake_win):
    """Like a single image: a recipe from an older file ('ref') makes a 'ref' grid, and opening a
    grid PNG makes its recorded path Explore's (one undo step with its noise and cutoff)."""
    w = fake_win
    g = w.grid_panel
    assert g.spec(w.recipe).synthesis == 'auto'
    assert g.spec(w.recipe.replace(synthesis='ref')).synthesis == 'ref'
    spec = GridSpec(rows=(1,), cols=(2, 3), layers=(0, 1), synthesis='ref')
    assert w.grid.open(spec)
    assert w.recipe.synthesis == 'ref' and w.grid.spec.synthesis == 'ref'
    w.undo()
    assert w.recipe.synthesis == 'auto'
