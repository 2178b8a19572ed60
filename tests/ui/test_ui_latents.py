"""Stored latents in the GUI (issue #16): import, Keep this latent, export, the Latents list,
stored latents as base / mix source / in batch export and PNGs, panels that show a ref.

The window renders on the exact path (Session(fast=False)) so frames compare bit for bit
with the engine's own renders."""

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

import torch  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.png import load_png, read_recipe  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import recipe_ws, render  # noqa: E402
from explorer.engine.stored_latents import Edit, StoredLatent  # noqa: E402
from explorer.ui.latents_controller import kept_name, model_fixes, plain_base, with_mix_source  # noqa: E402


@pytest.fixture
def win(qtbot, tiny_ckpt):
    from explorer.engine.session import Session
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=Session('cpu', fast=False), checkpoint=tiny_ckpt)
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


@pytest.fixture
def G(win):
    return load_generator(win.info.path)


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id and not win.shown_preview
                    and win.frame_recipe == win.recipe, timeout=15000)


def engine_pixels(G, recipe):
    return to_uint8(render(G, recipe))


def w_plus(G, seed=1, shift=0.3):
    """An NVIDIA-layout W+ [1, num_ws, w_dim] no seed makes (mapped, then moved per layer)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32))
    w = G.mapping(z, None).numpy()
    w = w + shift * np.random.RandomState(seed + 1).randn(*w.shape).astype(np.float32)
    return w.astype(np.float32)


def do(qtbot, win, fn, kind):
    """Run a latent action and wait until the controller has handled the worker's answer."""
    with qtbot.waitSignal(win.latents.done, timeout=15000, check_params_cb=lambda k, *_: k == kind) as sig:
        fn()
    return sig.args


def import_file(qtbot, win, path):
    args = do(qtbot, win, lambda: win.latents.import_latent(path), 'read')
    settle(qtbot, win)
    return args


def test_import_npz_shows_synthesis_pixels_and_lists_it(qtbot, win, G, tmp_path):
    win.latent_panel.seed.setValue(42)
    settle(qtbot, win)
    before = win.recipe
    w = w_plus(G)
    np.savez(tmp_path / 'projected_w.npz', w=w)          # NVIDIA's projector layout
    _, lat, error = import_file(qtbot, win, tmp_path / 'projected_w.npz')
    assert error == '' and lat.space == 'w+' and lat.name == 'projected_w.npz'
    assert win.recipe.seeds == (lat.ref,) and win.recipe.seed_weights == (1.0,)
    assert win.recipe.latents == (lat,)
    wanted = to_uint8(G.synthesis(torch.from_numpy(w), noise_mode='const'))
    assert win.frame_exact and np.array_equal(win.frame, wanted)
    # The panels say what the base is; the seed box keeps the last seed.
    lp = win.latent_panel
    assert not lp.stored_box.isHidden() and 'projected_w.npz' in lp.stored_label.text()
    assert 'W+' in lp.stored_label.text() and 'projected_w.npz' in lp.blend_label.text()
    assert lp.seed.value() == 42 and lp.pad.inactive and lp.pad.weight_at(42, 0) is None
    # Listed, with the view's frame as its thumbnail; in use: not removable.
    panel = win.latents_panel
    assert [x.key for x in panel.latents] == [lat.key] and lat.key in panel.thumbed
    panel.list.setCurrentRow(0)
    assert not panel.remove_btn.isEnabled()
    win.undo()      # one undo step
    assert win.recipe == before


def test_import_torch_w_latent_and_wrong_w_dim(qtbot, win, G, tmp_path):
    w = w_plus(G)[0, 0]                     # W [w_dim]: every layer takes it
    torch.save(torch.from_numpy(w), tmp_path / 'w.pt')
    _, lat, error = import_file(qtbot, win, tmp_path / 'w.pt')
    assert error == '' and lat.space == 'w'
    wanted = to_uint8(G.synthesis(torch.from_numpy(np.repeat(w[None, None], G.num_ws, axis=1)), noise_mode='const'))
    assert np.array_equal(win.frame, wanted)
    before = win.recipe
    np.save(tmp_path / 'other.npy', np.zeros(G.w_dim + 3, np.float32))
    _, bad, error = do(qtbot, win, lambda: win.latents.import_latent(tmp_path / 'other.npy'), 'read')
    qtbot.waitUntil(lambda: win.last_error_box is not None, timeout=5000)
    assert 'w_dim' in win.last_error_box.text() and 'other.npy' in win.last_error_box.text()
    assert win.recipe == before and len(win.latents_panel.latents) == 1
    win.last_error_box.close()
    win.last_error_box = None
    (tmp_path / 'junk.npz').write_bytes(b'not a zip')
    do(qtbot, win, lambda: win.latents.import_latent(tmp_path / 'junk.npz'), 'read')
    assert win.last_error_box is not None and win.recipe == before


def test_keep_this_latent_same_pixels_then_undo(qtbot, win, G):
    win.latent_panel.seed.setValue(7)
    win.truncation_panel.psi.setValue(0.6)
    win.layers_panel.preset_buttons['middle'].click()       # mixes in seed 8
    edit = Edit.make('test', np.linspace(-1, 1, G.w_dim), 2.5, (0, 1, 2))
    win.apply_changes({'edits': (edit,)})
    settle(qtbot, win)
    start = win.recipe
    assert start.mix_seeds and start.edits
    wanted = engine_pixels(G, start)
    assert np.array_equal(win.frame, wanted)
    _, lat, error = do(qtbot, win, win.act_keep_latent.trigger, 'keep')
    settle(qtbot, win)
    assert error == '' and lat.space == 'w+'
    assert lat.name.startswith('kept ') and 'seed 7' in lat.name and 'mix' in lat.name and 'edits' in lat.name
    rec = win.recipe
    assert rec.seeds == (lat.ref,) and rec.mix_seeds == () and rec.layer_source is None and rec.edits == ()
    assert rec.latents == (lat,)
    assert np.array_equal(win.frame, wanted)        # the very same pixels
    np.testing.assert_array_equal(lat.array(), recipe_ws(G, start)[0].numpy())
    assert win.latents_panel.get(lat.key) is not None and lat.key in win.latents_panel.thumbed
    win.undo()
    assert win.recipe == start
    settle(qtbot, win)
    assert np.array_equal(win.frame, wanted)


def test_export_writes_nvidia_layout_that_reimports_to_the_same_key(qtbot, win, G, tmp_path):
    win.latent_panel.seed.setValue(5)
    settle(qtbot, win)
    seed_frame = win.frame.copy()
    _, path, error = do(qtbot, win, lambda: win.latents.export_latent(tmp_path / 'out'), 'export')
    assert error == '' and str(path).endswith('out.npz')
    with np.load(path) as z:
        assert list(z.keys()) == ['w']
        w = z['w']
    assert w.dtype == np.float32 and w.shape == (1, G.num_ws, G.w_dim)
    expected = StoredLatent.from_array(recipe_ws(G, win.recipe)[0].numpy())
    assert StoredLatent.from_array(w).key == expected.key
    _, lat, _ = import_file(qtbot, win, path)
    assert lat.key == expected.key and win.recipe.seeds == (lat.ref,)
    assert np.array_equal(win.frame, seed_frame)        # the seed's image, now from the file


def test_stored_latent_as_mix_source(qtbot, win, G, tmp_path):
    np.savez(tmp_path / 'face.npz', w=w_plus(G, seed=3, shift=0.8))
    _, lat, _ = import_file(qtbot, win, tmp_path / 'face.npz')
    win.latent_panel.back_btn.click()                   # seeds are the base again
    settle(qtbot, win)
    seed = win.latent_panel.seed.value()
    assert win.recipe.seeds == (seed,) and win.recipe.latents == ()     # the unused latent is pruned
    plain = win.frame.copy()
    panel = win.latents_panel
    panel.list.setCurrentRow(panel.row_of(lat.key))
    panel.mix_btn.click()
    assert win.recipe.mix_seeds == (lat.ref,) and win.recipe.latents == (lat,)
    lp = win.layers_panel
    assert lp.mix_spins[0].isHidden() and 'face.npz' in lp.mix_labels[0].text()
    assert 'face.npz' in lp.preset_source.currentText()
    lp.preset_buttons['coarse'].click()
    lp.blend_sliders[1].setValue(0.5)
    settle(qtbot, win)
    rec = win.recipe
    coarse = set(win.info.group('coarse'))
    assert rec.layer_source == tuple(0 if i in coarse else -1 for i in range(win.info.num_ws))
    assert rec.mix_seeds == (lat.ref,)
    assert np.array_equal(win.frame, engine_pixels(G, rec)) and not np.array_equal(win.frame, plain)
    # The layer rule by hand: coarse layers from the file (layer 1 half way), the rest from the seed.
    ws = recipe_ws(G, Recipe(seeds=(seed,))).numpy()
    src = lat.array()
    for i in coarse:
        b = 0.5 if i == 1 else 1.0
        ws[0, i] = ws[0, i] + b * (src[i] - ws[0, i])
    np.testing.assert_allclose(recipe_ws(G, rec).numpy(), ws, atol=1e-6)
    # Adding a seed source next to it still works (seeds only from a seed).
    lp.add_src.click()
    assert win.recipe.mix_seeds == (lat.ref, seed + 2) and not lp.mix_spins[1].isHidden()


def test_png_with_stored_latent_reopens_with_it(qtbot, win, G, tmp_path):
    np.savez(tmp_path / 'a.npz', w=w_plus(G, seed=9))
    _, lat, _ = import_file(qtbot, win, tmp_path / 'a.npz')
    wanted = win.frame.copy()
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        out = win.exporter.save_png(tmp_path / 'x.png')
    d = read_recipe(out)
    assert d['seeds'] == [lat.ref] and [x['key'] for x in d['latents']] == [lat.key]
    assert np.array_equal(load_png(out), wanted)
    # Forget it: another seed, and off the list.
    win.latent_panel.next_btn.click()
    settle(qtbot, win)
    panel = win.latents_panel
    panel.list.setCurrentRow(panel.row_of(lat.key))
    assert panel.remove_btn.isEnabled()
    panel.remove_btn.click()
    assert panel.latents == []
    assert win.opener.open_recipe(out)
    settle(qtbot, win)
    assert win.recipe.latents == (lat,) and np.array_equal(win.frame, wanted)
    assert [x.key for x in panel.latents] == [lat.key]          # listed again


def test_panels_and_seed_keys_with_a_stored_base(qtbot, win, G, tmp_path):
    win.latent_panel.seed.setValue(100)
    settle(qtbot, win)
    np.savez(tmp_path / 'b.npz', w=w_plus(G, seed=4))
    import_file(qtbot, win, tmp_path / 'b.npz')
    lp = win.latent_panel
    pad = (lp.pad.x, lp.pad.y)
    win.apply_changes({'psi': 0.5})         # panels refresh with a ref base: nothing breaks
    assert (lp.pad.x, lp.pad.y) == pad and lp.seed.value() == 100
    lp.next_btn.click()                     # a step goes on from the last seed
    assert win.recipe.seeds == (101,) and win.recipe.latents == ()
    assert lp.stored_box.isHidden() and not lp.pad.inactive and lp.pad.weight_at(1, 1) == 1.0
    win.undo()
    assert win.recipe.seeds[0].startswith('latent:')
    lp.random_btn.click()
    assert isinstance(win.recipe.seeds[0], int)
    win.undo()
    last = lp.seed.value()                  # the random seed: the seed controls keep the last seed
    assert win.recipe.seeds[0].startswith('latent:') and last != 101
    lp.pad.drag_by(-0.5, 0.0)               # the pad blends seeds again, from there
    assert win.recipe.seeds[:2] == (last, last + 1) and win.recipe.seed_weights[:2] == (0.5, 0.5)
    assert win.recipe.latents == ()
    win.undo()
    win.layers_panel.preset_buttons['coarse'].click()   # a new source from the last plain seed (none: 0)
    assert win.recipe.mix_seeds == (1,)
    settle(qtbot, win)
    win.exporter.star_current()
    qtbot.waitUntil(lambda: len(win.favourites_panel.recipes) == 1, timeout=15000)
    assert 'b.npz' in win.favourites_panel.list.item(0).text()
    from explorer.ui.batch import BatchDialog
    dlg = BatchDialog(win, 100)
    assert dlg.seeds()[0] == 100
    dlg.close()


def test_batch_export_keeps_latent_mix_source_and_edits(qtbot, win, G, tmp_path):
    np.savez(tmp_path / 'base.npz', w=w_plus(G, seed=5))
    np.savez(tmp_path / 'mix.npz', w=w_plus(G, seed=6, shift=1.0))
    _, mix, _ = import_file(qtbot, win, tmp_path / 'mix.npz')
    _, base, _ = import_file(qtbot, win, tmp_path / 'base.npz')
    win.latents_panel.list.setCurrentRow(win.latents_panel.row_of(mix.key))
    win.latents_panel.mix_btn.click()
    win.layers_panel.preset_buttons['middle'].click()
    edit = Edit.make('e', np.ones(G.w_dim), 1.0, (0,))
    win.apply_changes({'edits': (edit,)})
    settle(qtbot, win)
    assert win.recipe.seeds == (base.ref,) and win.recipe.mix_seeds == (mix.ref,)
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as sig:
        win.batch.export([3, 4], tmp_path / 'out')
    paths, error = sig.args
    assert error == '' and len(paths) == 2
    for seed, p in zip((3, 4), paths):
        rec = Recipe.from_dict(read_recipe(p))
        assert rec.seeds == (seed,) and rec.mix_seeds == (mix.ref,) and rec.edits == (edit,)
        assert rec.latents == (mix,)            # the base latent is not carried along unused
        assert rec.layer_source == win.recipe.layer_source
        assert np.array_equal(load_png(p), engine_pixels(G, rec))


def test_dropped_pt_is_a_latent_or_a_checkpoint(qtbot, win, G, tmp_path, tiny_ckpt):
    torch.save({'w': torch.from_numpy(w_plus(G, seed=8))}, tmp_path / 'lat.pt')
    with qtbot.waitSignal(win.latents.done, timeout=15000):
        win.opener.open_path(str(tmp_path / 'lat.pt'))
    settle(qtbot, win)
    assert win.recipe.seeds[0].startswith('latent:')
    with qtbot.waitSignal(win.modelLoaded, timeout=15000):      # no latent in it: opened as a checkpoint
        win.opener.open_path(tiny_ckpt)
    assert win.last_error_box is None


def test_recipe_helpers():
    lat = StoredLatent.from_array(np.ones((6, 4), np.float32), name='x')
    r = Recipe(seeds=(3,))
    r2, k = with_mix_source(r, lat, 6)
    assert k == 0 and r2.mix_seeds == (lat.ref,) and r2.layer_source == (-1,) * 6 and r2.latents == (lat,)
    assert with_mix_source(r2, lat, 6) == (r2, 0)
    assert plain_base(r2) is None and plain_base(r2.replace(seeds=(lat.ref,), seed_weights=(1.0,))) == lat.ref
    assert kept_name(r, now=0).endswith('(seed 3)')

    class Info:
        w_dim, num_ws = 4, 8
    fix = model_fixes(r2.replace(seeds=(lat.ref,), seed_weights=(1.0,)), Info, 9)
    assert fix == {'seeds': (9,), 'seed_weights': (1.0,), 'mix_seeds': (), 'layer_source': None,
                   'layer_blend': None, 'latents': ()}
    Info.num_ws = 6
    assert model_fixes(r2, Info, 9) == {}
