"""Batch export in batches: ``render_seeds_to_dir`` feeds the synthesis several recipes at once
(``rendering.render_many``) and writes on a writer thread (``render_batch.ImageWriter``); every
file must hold exactly the pixels of its recipe rendered alone, at any thread count, in every
noise mode, with the files, their order, progress, cancel and errors as one by one."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sg2_nets import make_sg2

from explorer.engine import fast_synthesis, rendering
from explorer.engine.export import to_uint8
from explorer.engine.networks_stylegan2 import Generator
from explorer.engine.png import load_png, read_recipe
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe
from explorer.engine.render_batch import ImageWriter, render_seeds_to_dir
from explorer.errors import UserError


def make_G(res=64, cmax=128, seed=0):
    """Channels enough for the lanes to split a layer, maps of 32x32 and more (NNPACK)."""
    return make_sg2(res=res, base_per_px=64, cmax=cmax, clamp=0.5, seed=seed)


@pytest.fixture(scope='module')
def G():
    return make_G()


@pytest.fixture
def threads():
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


@pytest.fixture
def batch_calls(monkeypatch):
    """Batch sizes of the synthesis calls that reach the fast plan."""
    sizes = []
    real = fast_synthesis.try_render

    def spy(synthesis, ws, *a, **kw):
        sizes.append(ws.shape[0])
        return real(synthesis, ws, *a, **kw)
    monkeypatch.setattr(fast_synthesis, 'try_render', spy)
    return sizes


NOISES = [dict(noise_mode='const'), dict(noise_mode='none'),
          dict(noise_mode='random', noise_seed=7), dict(noise_mode='random', noise_seed=7, noise_strength=2.0,
                                                        layer_noise=(0.5, 1.5) * 5)]


@pytest.mark.parametrize('noise', NOISES, ids=['const', 'none', 'random', 'random-scaled'])
@pytest.mark.parametrize('n_threads', [1, 2])
def test_batched_images_are_their_recipes_rendered_alone(G, threads, batch_calls, noise, n_threads):
    base = Recipe(psi=0.7, **noise)
    recipes = [rendering.resolved(G, base.replace(seeds=(s,), seed_weights=(1.0,))) for s in (3, 1, 4, 15)]
    assert {r.synthesis for r in recipes} == {'fast'}
    threads(n_threads)
    alone = [rendering.render(G, r) for r in recipes]
    assert batch_calls == [1] * 4
    batched = rendering.render_many(G, recipes)
    assert batch_calls[4:] == [4]                       # one synthesis call took all four
    for a, b in zip(alone, batched):
        assert torch.equal(a, b)
    threads(1 if n_threads == 2 else 2)                 # the other thread count: still the same bits
    for a, b in zip(alone, rendering.render_many(G, recipes)):
        assert torch.equal(a, b)
    if noise['noise_mode'] == 'random':                 # the noise is there, and it is each seed's own
        plain = rendering.render(G, recipes[0].replace(noise_mode='none'))
        assert not torch.equal(plain, alone[0])


def test_random_noise_per_recipe_is_what_its_own_generator_draws(G, threads):
    """A batch drawing [N, ...] noise from one generator would give sample 0 other noise from the
    second layer on; the batch gives every sample the noise of its seeded generator."""
    threads(2)
    recipe = rendering.resolved(G, Recipe(seeds=(5,), noise_mode='random', noise_seed=11))
    ws = rendering.recipe_ws(G, recipe).expand(3, -1, -1).contiguous()
    imgs = rendering.synthesize_batch(G, [recipe] * 3, ws)
    naive = G.synthesis(ws, **rendering.synthesis_kwargs(G, recipe))
    single = rendering.render(G, recipe)
    assert all(torch.equal(img, single) for img in imgs)
    assert not torch.equal(naive[1:2], single)


def test_recipes_with_other_synthesis_settings_render_one_by_one(G, threads, batch_calls):
    threads(2)
    recipes = [rendering.resolved(G, Recipe(seeds=(1,), noise_mode='random', noise_seed=1)),
               rendering.resolved(G, Recipe(seeds=(2,), noise_mode='random', noise_seed=2))]
    out = rendering.render_many(G, recipes)
    assert batch_calls == [1, 1]
    assert all(torch.equal(a, rendering.render(G, r)) for a, r in zip(out, recipes))


def test_reference_recipes_render_one_by_one(G, threads, monkeypatch):
    threads(2)
    calls = []
    real = G.synthesis.forward

    def spy(ws, *a, **kw):
        calls.append((ws.shape[0], kw.get('impl')))
        return real(ws, *a, **kw)
    monkeypatch.setattr(G.synthesis, 'forward', spy)
    recipes = [Recipe(seeds=(s,), synthesis='ref') for s in (1, 2, 3)]
    out = rendering.render_many(G, recipes)
    assert calls == [(1, 'ref')] * 3
    monkeypatch.undo()
    assert all(torch.equal(a, rendering.render(G, r)) for a, r in zip(out, recipes))


def test_batch_size_follows_the_lanes_and_bounds_memory(G, threads, monkeypatch):
    threads(1)
    assert rendering.batch_size(G) == 1
    threads(2)
    assert rendering.batch_size(G) == 2
    threads(40)
    assert rendering.batch_size(G) == rendering.MAX_BATCH
    image_bytes = 4 * 3 * 64 * 64
    monkeypatch.setattr(rendering, 'BATCH_IMAGE_BYTES', 2 * image_bytes * 3)
    assert rendering.batch_size(G) == 3
    monkeypatch.setattr(rendering, 'BATCH_IMAGE_BYTES', image_bytes)
    assert rendering.batch_size(G) == 1
    monkeypatch.setattr(rendering, 'BATCH_IMAGE_BYTES', 1 << 30)
    work = rendering.sample_work_bytes(G)
    assert work == 6 * 4 * G.synthesis.b64.conv1.weight.shape[0] * 64 * 64
    monkeypatch.setattr(rendering, 'BATCH_WORK_BYTES', 5 * work)
    assert rendering.batch_size(G) == 5
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    assert rendering.batch_size(G) == 1


def test_working_memory_estimate_caps_config_f_1024():
    """config-f 1024 (32 channels at 1024 px): 768 MiB a sample, so 5 at once at most."""
    with torch.device('meta'):                      # shapes only, no memory
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                      synthesis_kwargs=dict(channel_base=32768, channel_max=512))
    assert rendering.sample_work_bytes(G) == 768 << 20
    assert rendering.BATCH_WORK_BYTES // rendering.sample_work_bytes(G) == 5


@pytest.mark.parametrize('noise_mode', ['const', 'random'])
def test_seed_batch_files_equal_one_by_one(G, threads, tmp_path, noise_mode, batch_calls):
    seeds = [9, 2, 7, 0, 5]
    base = Recipe(psi=0.5, noise_mode=noise_mode, noise_seed=3)
    (tmp_path / 'one').mkdir()
    (tmp_path / 'batched').mkdir()
    threads(1)
    one = render_seeds_to_dir(G, None, seeds, tmp_path / 'one', base_recipe=base, batch=1)
    threads(2)
    done = []
    batched = render_seeds_to_dir(G, None, seeds, tmp_path / 'batched', base_recipe=base,
                                  progress=lambda i, n, name: done.append((i, n, name)))
    assert batch_calls == [1] * 5 + [2, 2, 1]
    assert [p.name for p in batched] == [p.name for p in one] == [f'seed{s:04d}.png' for s in seeds]
    assert done == [(i + 1, 5, f'seed{s:04d}.png') for i, s in enumerate(seeds)]
    for a, b in zip(one, batched):
        assert np.array_equal(load_png(a), load_png(b))
        assert read_recipe(a) == read_recipe(b)
    alone = rendering.render(G, rendering.resolved(G, base.replace(seeds=(7,), seed_weights=(1.0,))))
    assert np.array_equal(load_png(batched[2]), to_uint8(alone))
    assert sorted(p.name for p in (tmp_path / 'batched').iterdir()) == sorted(p.name for p in batched)


def test_skip_existing_renders_only_the_missing_ones_and_removes_temp_files(G, threads, tmp_path):
    threads(2)
    out = tmp_path / 'out'
    out.mkdir()
    first = render_seeds_to_dir(G, None, [1, 3], out)
    before = {p: p.stat().st_mtime_ns for p in first}
    (out / '.seed0002.png.abc123.tmp').write_bytes(b'partial')
    done = []
    written = render_seeds_to_dir(G, None, [1, 2, 3, 4], out, skip_existing=True,
                                  progress=lambda i, n, name: done.append((i, name)))
    assert [p.name for p in written] == ['seed0002.png', 'seed0004.png']
    assert done == [(2, 'seed0002.png'), (4, 'seed0004.png')]
    assert {p: p.stat().st_mtime_ns for p in first} == before
    assert not list(out.glob('*.tmp'))
    (tmp_path / 'again').mkdir()
    again = render_seeds_to_dir(G, None, [2], tmp_path / 'again', batch=1)
    assert np.array_equal(load_png(again[0]), load_png(out / 'seed0002.png'))


def test_a_write_error_surfaces_and_nothing_after_it_is_written(G, threads, tmp_path, monkeypatch):
    from explorer.engine import render_batch
    threads(2)
    real = render_batch.write_frame

    def failing(out, *a, **kw):
        if Path(out).name == 'seed0002.png':
            raise UserError(f'cannot write {out}: No space left on device')
        return real(out, *a, **kw)
    monkeypatch.setattr(render_batch, 'write_frame', failing)
    with pytest.raises(UserError, match='No space left'):
        render_seeds_to_dir(G, None, range(6), tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ['seed0000.png', 'seed0001.png']


def test_cancel_from_progress_stops_the_batch(G, threads, tmp_path):
    threads(2)
    seen = []

    def progress(i, n, name):
        seen.append(name)
        raise Cancelled()
    with pytest.raises(Cancelled):
        render_seeds_to_dir(G, None, range(8), tmp_path, progress=progress)
    assert seen == ['seed0000.png']
    files = sorted(tmp_path.iterdir())
    assert len(files) <= 4 and not [p for p in files if p.suffix != '.png']   # at most the batches in flight
    for p in files:
        assert load_png(p).shape == (64, 64, 3)                               # complete files only


def test_image_writer_keeps_order_bounds_its_queue_and_drops_writes_on_abort():
    import threading
    gate = threading.Event()
    order = []

    def write(k):
        gate.wait(5)
        order.append(k)
    w = ImageWriter(depth=1)
    w.submit(0, lambda: write(0))                   # taken by the writer thread, waits on the gate
    t = threading.Thread(target=lambda: [w.submit(k, (lambda k=k: write(k))) for k in (1, 2)])
    t.start()
    t.join(0.3)
    assert t.is_alive()                             # one queued, the third blocks: bounded
    gate.set()
    t.join(5)
    assert w.completed(wait=True) == [0, 1, 2] and order == [0, 1, 2]
    w.close()
    gate.clear()
    with pytest.raises(RuntimeError, match='stop'):
        with ImageWriter(depth=4) as w2:
            w2.submit(0, lambda: write(10))
            w2.submit(1, lambda: write(11))
            w2.submit(2, lambda: write(12))
            threading.Timer(0.2, gate.set).start()
            raise RuntimeError('stop')
    assert order[3:] == [10]                       # the write under way finished; the rest dropped


@pytest.mark.parametrize('noise_mode', ['const', 'none'])
def test_grid_tiles_in_batches_equal_their_cell_recipes(G, threads, batch_calls, noise_mode):
    from explorer.engine.export import batch_to_uint8
    from explorer.engine.grid_spec import GridSpec, cell_recipe
    from explorer.engine.mixing import iter_grid
    spec = GridSpec(rows=(1, 2), cols=(3, 4), layers=(0, 1, 2), psi=0.7, noise_mode=noise_mode, synthesis='fast')
    threads(2)
    tiles = {(k, r, c): img for k, r, c, img in iter_grid(G, spec)}
    assert batch_calls[0] == 2 and len(tiles) == 8      # headers and cells two at a time
    threads(1)
    for r, row in enumerate(spec.rows):
        for c, col in enumerate(spec.cols):
            one = batch_to_uint8(rendering.render(G, cell_recipe(spec, G.num_ws, row, col)))[0]
            assert np.array_equal(tiles[('cell', r, c)], one)


@pytest.mark.parametrize('noise_mode', ['const', 'random'])
def test_video_frames_in_batches_equal_single_renders(G, threads, batch_calls, noise_mode):
    from explorer.engine import animation as A
    anim = A.seed_walk([1, 2, 3], seconds=1, fps=5, base=Recipe(noise_mode=noise_mode, noise_seed=4))
    plan = A.AnimationPlan(G, anim)
    threads(2)
    frames = list(plan.frames())
    assert len(frames) == 5 and 2 in batch_calls
    threads(1)
    for i, frame in enumerate(frames):
        assert np.array_equal(frame, to_uint8(rendering.render(G, plan.frame_recipe(i)))), i


def test_skip_existing_checks_again_before_each_batch(G, threads, tmp_path, monkeypatch):
    """Another process writing into the same folder: a file that appears meanwhile is left alone."""
    from explorer.engine import render_batch
    threads(1)
    real = render_batch.render_many

    def meanwhile(G, recipes, **kw):
        (tmp_path / 'seed0002.png').write_bytes(b'theirs')
        return real(G, recipes, **kw)
    monkeypatch.setattr(render_batch, 'render_many', meanwhile)
    written = render_seeds_to_dir(G, None, [1, 2], tmp_path, skip_existing=True, batch=1)
    assert [p.name for p in written] == ['seed0001.png']
    assert (tmp_path / 'seed0002.png').read_bytes() == b'theirs'
