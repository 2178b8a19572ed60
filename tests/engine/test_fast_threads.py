"""The CPU plan on several cores: the same bits whatever the thread count, batch size or
position in the batch (what re-rendering a recipe bit for bit needs), and the lanes' plumbing.

On a CPU with more than one intra-op thread ``SG2Plan.run`` splits each conv layer's output
channels over lanes (threads at one intra-op thread each), and ``FastRenderer`` renders the
samples of a batch on concurrent lanes; both must give exactly the one-thread result.
"""

import threading

import pytest
import torch
import torch.nn.functional as F
from sg2_nets import make_sg2

from explorer.engine import fast_plan
from explorer.engine.capabilities import cpu_supports_bf16, nnpack_available
from explorer.engine.fast_plan import one_intra_op_thread, run_lanes, run_split
from explorer.engine.fast_render import FastRenderer


def make_G(res=64, cmax=128, clamp=0.5, arch='skip', seed=0):
    """Channels enough to split (LAYER_SPLIT_MIN per slice) and maps of 32x32 and more (NNPACK)."""
    return make_sg2(res=res, base_per_px=64, cmax=cmax, clamp=clamp, arch=arch, seed=seed)


def _ws(G, n, seed=1):
    with torch.no_grad():
        return G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)), None)


@pytest.fixture
def threads():
    """Set the intra-op thread count inside a test; restored after."""
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


def _render(fr, ws, n_threads, **kw):
    torch.set_num_threads(n_threads)
    out = fr.render(ws, **kw)
    assert torch.get_num_threads() == n_threads         # the render restored the caller's count
    return out


@pytest.mark.parametrize('nonfused', [False, True])
@pytest.mark.parametrize('fold', [False, True])
@pytest.mark.parametrize('clamp,res', [(0.5, 64), (None, 64), (0.5, 128)])
def test_split_layers_give_the_one_thread_bits(threads, monkeypatch, nonfused, fold, clamp, res):
    """Batch 1 at 2, 3 and 4 threads (layers split over lanes: by rows where NNPACK runs on
    64 rows or more here, else by output channels) == at 1 thread, bit for bit, in both
    modulation forms, with and without the folded up layers and the clamp; and it is still
    G.synthesis's image."""
    monkeypatch.setattr(fast_plan, 'ROW_SPLIT_MIN', 64)
    G = make_G(res=res, cmax=128 if res == 64 else 64, clamp=clamp)
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 1)
    _render(fr, ws, 1)                                   # builds the plan
    fr._plan.fold_from = 8 if fold else 1 << 20
    fr._plan._use_nonfused = lambda lp, x: nonfused
    calls, rows = [], []
    part, rows_layer = fr._plan._conv_part, fr._plan._rows_layer
    fr._plan._conv_part = lambda *a, **k: calls.append(len(a) == 11) or part(*a, **k)  # 11: a slice
    fr._plan._rows_layer = lambda lp, *a: rows.append(lp.resolution) or rows_layer(lp, *a)
    for mode, gen in (('const', None), ('random', 5)):
        def kw():
            return dict(noise_mode=mode, noise_generator=None if gen is None else torch.Generator().manual_seed(gen))
        calls.clear()
        one = _render(fr, ws, 1, **kw())
        assert calls and not any(calls)                   # 1 thread: nothing split
        for n in (2, 3, 4):
            calls.clear()
            assert torch.equal(_render(fr, ws, n, **kw()), one), (mode, n)
            assert sum(calls) >= 2 * len(fr._plan.blocks)  # the layers were split (several parts each)
            if nnpack_available():                         # NNPACK layers on 64 rows: split by rows
                assert sorted(set(rows)) == ([64] if res == 64 else [64, 128])
                rows.clear()
        with torch.no_grad():
            ref = G.synthesis(ws, **kw())
        torch.testing.assert_close(one, ref, atol=5e-5, rtol=1e-4)
    if fold and nnpack_available():
        assert any(lp.extra.get('fold') is not None for e in fr._plan.blocks for lp in e['layers'])


def test_batch_samples_equal_each_sample_alone(threads):
    """A batch at 2 threads (samples on concurrent lanes) gives each sample exactly as rendered
    alone at 1 thread, whatever its position; random noise: the batch at 1 and at 2 threads."""
    G = make_G()
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 5)
    alone = [_render(fr, ws[i:i + 1], 1) for i in range(5)]
    for n in (2, 3):
        batch = _render(fr, ws, n)
        for i in range(5):
            assert torch.equal(batch[i:i + 1], alone[i]), (n, i)
    shuffled = _render(fr, ws.flip(0), 2)
    assert torch.equal(shuffled, torch.cat(alone[::-1]))
    seeded = [_render(fr, ws, n, noise_mode='random', noise_generator=torch.Generator().manual_seed(9))
              for n in (1, 2)]
    assert torch.equal(seeded[0], seeded[1])


def test_resnet_and_stop_at_under_lanes(threads):
    G = make_G(arch='resnet')
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 2)
    one = _render(fr, ws, 1)
    assert torch.equal(_render(fr, ws, 2), one)
    assert torch.equal(_render(fr, ws[:1], 2), one[:1])
    G2 = make_G()
    fr2 = FastRenderer(G2, 'cpu')
    ws2 = _ws(G2, 1)
    assert torch.equal(_render(fr2, ws2, 2, stop_at=32), _render(fr2, ws2, 1, stop_at=32))


def test_cancel_stops_every_lane(threads):
    """A batch on lanes: Cancelled reaches the caller, no lane starts another sample after it,
    and the renderer works afterwards."""
    from explorer.engine.progress import Cancelled
    G = make_G()
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 6)
    ref = _render(fr, ws, 1)
    asked = []
    lock = threading.Lock()

    def interrupt():
        with lock:
            asked.append(1)
            return len(asked) >= 3
    torch.set_num_threads(2)
    with pytest.raises(Cancelled):
        fr.render(ws, interrupt=interrupt)
    assert torch.get_num_threads() == 2
    n_conv = sum(1 for n, _ in G.synthesis.named_modules() if n.endswith(('conv0', 'conv1')))
    assert len(asked) < 2 * n_conv                        # stopped within the first two samples
    assert torch.equal(_render(fr, ws, 2), ref)


def test_run_lanes_and_run_split_keep_order_and_raise(threads):
    torch.set_num_threads(3)
    names = run_lanes(lambda i: (i, threading.current_thread().name, torch.get_num_threads()), 7)
    assert [i for i, _, _ in names] == list(range(7))
    assert all(n == 1 for _, _, n in names)               # every lane at one intra-op thread
    assert torch.get_num_threads() == 3
    assert run_split(lambda a, b: (a, b, fast_plan.cpu_lanes()), [0, 32, 64, 96], 3) == [
        (0, 32, 1), (32, 64, 1), (64, 96, 1)]              # no nested splitting inside a lane

    def boom(i):
        if i == 4:
            raise ValueError('four')
        return i
    with pytest.raises(ValueError, match='four'):
        run_lanes(boom, 8)
    with pytest.raises(ValueError, match='four'):
        run_split(lambda a, b: boom(a), [0, 4, 8], 2)
    assert torch.get_num_threads() == 3
    with one_intra_op_thread():
        assert torch.get_num_threads() == 1
        assert run_lanes(lambda i: i * i, 4) == [0, 1, 4, 9]   # one thread: one lane, in order
    assert torch.get_num_threads() == 3


@pytest.mark.parametrize('channels,res', [(64, 256), (128, 128), (32, 64)])
def test_torgb_by_rows_gives_the_whole_maps_bits(threads, channels, res):
    """ToRGB as torch.mm on whole rows (what the row lanes of the last layers compute) == on the
    whole map, bit for bit, at the lanes' cuts (multiples of 6 rows)."""
    torch.set_num_threads(1)
    G = make_G(res=64)
    fr = FastRenderer(G, 'cpu')
    fr._refresh()
    lp = fr._plan.blocks[-1]['torgb']
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, channels, res, res, generator=g)
    lp_big = fast_plan.LayerPlan(**{**lp.__dict__, 'weight': torch.randn(3, channels, 1, 1, generator=g),
                                      'extra': {}})
    wt = lp_big.weight.reshape(3, -1) * torch.rand(1, channels, generator=g)
    whole = fr._plan._rgb_rows(lp_big, wt, x, 0, res, torch.empty(1, 3, res, res))
    for parts in (2, 3, 4):
        cuts = fast_plan.tile_row_cuts(res, parts)
        out = torch.empty(1, 3, res, res)
        for r0, r1 in zip(cuts[:-1], cuts[1:]):
            fr._plan._rgb_rows(lp_big, wt, x, r0, r1, out[:, :, r0:r1])
        assert torch.equal(out, whole), cuts
    ref = F.conv2d(x, wt.reshape(3, channels, 1, 1), bias=lp_big.bias)
    if lp_big.clamp is not None:
        ref = ref.clamp(-lp_big.clamp, lp_big.clamp)
    torch.testing.assert_close(whole, ref, atol=1e-5, rtol=1e-5)


def test_image_upsampling_by_rows_gives_the_whole_images_bits():
    """The plan's separable 2x image upsampling: close to upfirdn2d's, and the same bits by row
    slices (the lanes' cuts, or any even cut) as whole; other filters are not taken."""
    from kernels.upfirdn2d import setup_filter
    f = setup_filter([1, 3, 3, 1])
    taps = fast_plan.separable_up2_taps(f, 4.0)
    assert taps == ((0.25, 0.75, 0.75, 0.25),) * 2
    wf, pt, op = fast_plan.fir_up_params(f, 3, 2, 2, 1, 4.0, torch.float32, 'cpu')
    x = torch.randn(2, 3, 40, 24, generator=torch.Generator().manual_seed(0))
    whole = fast_plan.upsample2_rows(x, *taps, 0, 80)
    torch.testing.assert_close(whole, fast_plan.upfirdn_up(x, wf, 2, pt, op), atol=1e-6, rtol=1e-6)
    for cuts in (fast_plan.tile_row_cuts(80, 2), fast_plan.tile_row_cuts(80, 3), [0, 2, 78, 80], [0, 40, 80]):
        parts = torch.cat([fast_plan.upsample2_rows(x, *taps, a, b) for a, b in zip(cuts[:-1], cuts[1:])], 2)
        assert torch.equal(parts, whole), cuts
    assert fast_plan.separable_up2_taps(setup_filter([1, 2, 1]), 4.0) is None          # 3 taps
    assert fast_plan.separable_up2_taps(setup_filter([1, 3, 2, 1]), 4.0) is None       # asymmetric
    assert fast_plan.separable_up2_taps(torch.rand(4, 4) + torch.eye(4), 4.0) is None  # not separable


@pytest.mark.parametrize('family', ['stylegan1', 'stylegan2', 'stylegan3'])
def test_mapping_of_a_few_cpu_samples_runs_at_one_thread_with_the_same_bits(threads, family):
    """The mapping networks run a CPU batch of up to fast_plan.SMALL_BATCH samples at one intra-op
    thread (an OpenMP region would leave workers spinning on the cores the synthesis lanes need),
    larger batches at the caller's count; the thread count is restored and the ws are the same."""
    from explorer.engine.families import build_generator
    kw = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3)
    if family == 'stylegan1':
        kw.update(mapping_layers=2, mapping_fmaps=32, fmap_base=256, fmap_max=16)
    else:
        kw.update(mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=16))
    G = build_generator(family, kw)
    seen = []
    G.mapping.fc0.register_forward_hook(lambda *a: seen.append(torch.get_num_threads()))
    for n, want in ((1, 1), (fast_plan.SMALL_BATCH, 1), (fast_plan.SMALL_BATCH + 1, 3)):
        z = torch.randn(n, 32, generator=torch.Generator().manual_seed(n))
        torch.set_num_threads(1)
        with torch.no_grad():
            one = G.mapping(z, None, truncation_psi=0.7)
        torch.set_num_threads(3)
        seen.clear()
        with torch.no_grad():
            three = G.mapping(z, None, truncation_psi=0.7)
        assert seen == [want] and torch.get_num_threads() == 3, (n, seen)
        assert torch.equal(one, three), n


def test_frame_conversion_runs_at_one_thread_with_the_same_levels(threads, monkeypatch):
    """to_uint8 (every frame the window shows) at one intra-op thread on the CPU, the caller's count
    restored; the levels are those of the conversion at any thread count."""
    from explorer.engine import export
    img = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    torch.set_num_threads(2)
    at_two = export.float_to_uint8(img[0]).permute(1, 2, 0).numpy()
    seen = []
    inner = export.float_to_uint8
    monkeypatch.setattr(export, 'float_to_uint8', lambda t: seen.append(torch.get_num_threads()) or inner(t))
    frame = export.to_uint8(img)
    assert seen == [1] and torch.get_num_threads() == 2
    assert (frame == at_two).all() and frame.dtype.name == 'uint8' and frame.shape == (256, 256, 3)


def test_concurrent_callers_share_the_lane_workers(threads):
    """Two threads splitting work at once: each gets its own results, and the lane worker threads
    are reused (taken while a split runs, given back after), not made anew for every split."""
    torch.set_num_threads(3)
    results, errors = {}, []

    def caller(k):
        try:
            torch.set_num_threads(3)
            results[k] = [run_lanes(lambda i: (k, r, i, fast_plan.cpu_lanes()), 5) for r in range(40)]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
    run_lanes(lambda i: i, 3)                               # at least two workers exist
    before = fast_plan._worker_count
    callers = [threading.Thread(target=caller, args=(k,)) for k in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert not errors
    for k in range(2):
        assert results[k] == [[(k, r, i, 1) for i in range(5)] for r in range(40)]
    assert fast_plan._worker_count <= before + 4           # at most two more per concurrent caller


@pytest.mark.skipif(not nnpack_available(), reason='NNPACK not in this torch build')
def test_nnpack_slices_and_concurrent_calls_are_exact(threads):
    """What the split relies on: an NNPACK conv's output-channel slices, run at the same time
    on two threads, equal the whole conv's channels bit for bit."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 96, 40, 40, generator=g)
    w = torch.randn(160, 96, 3, 3, generator=g)
    b = torch.randn(160, generator=g)
    whole = torch._nnpack_spatial_convolution(x, w, b, [1, 1])
    torch.set_num_threads(2)
    parts = run_split(lambda a, c: torch._nnpack_spatial_convolution(x, w[a:c], b[a:c], [1, 1]), [0, 64, 160], 2)
    assert torch.equal(torch.cat(parts, 1), whole)


@pytest.mark.skipif(not nnpack_available(), reason='NNPACK not in this torch build')
@pytest.mark.parametrize('shape', [(64, 40, 130, 1), (64, 40, 131, 2), (72, 24, 140, 2), (24, 160, 30, 2),
                                   (24, 40, 30, 2)], ids=['rows-p1', 'rows-p2', 'rows-p2-b', 'chans', 'whole'])
@pytest.mark.parametrize('lanes', [2, 3])
def test_nnpack_conv_split_gives_the_one_call_bits(threads, shape, lanes):
    """fast_plan.nnpack_conv (the StyleGAN3 plan's convs): by rows on 6-row tiles (padding 1
    and 2, StyleGAN3's), by output channels, or whole: the bits of one NNPACK call."""
    I, O, H, p = shape
    g = torch.Generator().manual_seed(H)
    x = torch.randn(1, I, H, H - 3, generator=g)
    w = torch.randn(O, I, 3, 3, generator=g)
    b = torch.randn(O, generator=g)
    whole = torch._nnpack_spatial_convolution(x, w, b, [p, p])
    threads(lanes)
    calls = []
    real = run_split
    def counting(fn, cuts, n):
        calls.append(len(cuts) - 1)
        return real(fn, cuts, n)
    import unittest.mock
    with unittest.mock.patch.object(fast_plan, 'run_split', counting), one_intra_op_thread():
        y = fast_plan.nnpack_conv(x, w, b, p, lanes)
    assert torch.equal(y, whole)
    assert bool(calls and calls[0] >= 2) == (shape[2] >= 128 or O >= 128), calls


@pytest.mark.parametrize('clamp', [0.3, None])
@pytest.mark.parametrize('noise_shape', ['const', 'random', None])
@pytest.mark.parametrize('modulate', [False, True])
def test_shuffled_epilogue_equals_shuffle_then_epilogue(clamp, noise_shape, modulate):
    """The folded up layer's epilogue before pixel_shuffle (written into a row slice of the
    output, as a lane does) gives the bits of shuffling first."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(0)
    O, h, w = 6, 5, 7
    y = torch.randn(1, 4 * O, h + 3, w, generator=g)[:, :, 1:1 + h]      # a row slice, as in a lane
    noise = {'const': torch.randn(2 * h, 2 * w, generator=g), 'random': torch.randn(1, 1, 2 * h, 2 * w, generator=g),
             None: None}[noise_shape]
    d, bias = torch.rand(1, O, generator=g) + 0.5, torch.randn(O, generator=g)
    ref = F.pixel_shuffle(y.clone(), 2)
    if modulate:
        ref = ref.mul_(d.reshape(1, O, 1, 1)).add_(bias.reshape(1, O, 1, 1))
    if noise is not None:
        ref = ref.add_(noise)
    ref = F.leaky_relu_(ref, 0.2)
    if clamp is not None:
        ref = ref.clamp_(-clamp, clamp)
    out = torch.full([1, O, 2 * h + 4, 2 * w], float('nan'))
    fast_plan._shuffled_epilogue(y.clone(), noise, clamp, out[:, :, 2:2 + 2 * h], *((d, bias) if modulate else ()))
    assert torch.equal(out[:, :, 2:2 + 2 * h], ref)
    assert out[:, :, :2].isnan().all() and out[:, :, 2 + 2 * h:].isnan().all()


@pytest.mark.skipif(not cpu_supports_bf16(), reason='CPU without AVX512-BF16/AMX')
def test_bf16_keeps_intra_op_threads_and_is_repeatable(threads):
    """What bf16 guarantees: no lanes (oneDNN's bf16 convs give other bits sliced), the same
    bits for the same input at the same thread count and batch, and at another thread count
    the same image within bf16 rounding (paper256 differed in the last bits between 1 and 2
    OpenMP threads; not bit-identical, so a bit-exact re-render needs fp32)."""
    from explorer.engine.quality import psnr
    G = make_G(res=128, cmax=128)
    ws = _ws(G, 3)
    fr = FastRenderer(G, 'cpu', dtype='bf16', fp32_upto=8)
    split = []
    part = fast_plan.SG2Plan._conv_part
    fr.render(ws[:1])
    fr._plan._conv_part = lambda *a, **k: split.append(len(a) == 11) or part(fr._plan, *a, **k)
    out = {n: _render(fr, ws, n) for n in (1, 2)}
    assert not any(split) and fr._plan.lanes_ok() is False
    assert torch.equal(_render(fr, ws, 2), out[2])
    assert psnr(out[1], out[2]) > 60
