"""FastRenderer: same images as G.synthesis, graph re-capture bookkeeping, stop_at previews."""

import pytest
import torch
import torch.nn.functional as F
from sg2_nets import make_sg2

from explorer.engine.capabilities import cpu_supports_bf16, nnpack_available
from explorer.engine.cuda_graphs import GraphCache
from explorer.engine.fast_plan import one_intra_op_thread
from explorer.engine.fast_render import FastRenderer
from explorer.engine.quality import psnr


def make_G(arch='skip', res=32, clamp=None, seed=0):
    return make_sg2(res=res, base_per_px=16, cmax=32, clamp=clamp, arch=arch, seed=seed)


def _ws(G, n, seed=1):
    with torch.no_grad():
        return G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)), None)


@pytest.mark.parametrize('arch,clamp', [('skip', None), ('skip', 0.4), ('resnet', None), ('orig', 1.0)])
@pytest.mark.parametrize('batch', [1, 2])
def test_matches_synthesis_all_noise_modes(arch, clamp, batch):
    G = make_G(arch, clamp=clamp)
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, batch)
    scales = [0.5 + 0.1 * i for i in range(G.num_ws)]
    for mode in ('const', 'none', 'random'):
        g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        with torch.no_grad():
            ref = G.synthesis(ws, noise_mode=mode, noise_scale=scales, noise_generator=g1)
        out = fr.render(ws, noise_mode=mode, noise_scale=scales, noise_generator=g2)
        assert out.shape == ref.shape and out.dtype == torch.float32
        assert ref.abs().max() > 0.05  # a real image, not all zeros / saturated
        torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)


def test_stop_at_preview_matches_synthesis():
    G = make_G('skip', res=64)
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 1)
    for r in (4, 16, 32):
        with torch.no_grad():
            ref = G.synthesis(ws, noise_mode='const', stop_at=r)
        torch.testing.assert_close(fr.render(ws, stop_at=r), ref, atol=2e-5, rtol=1e-4)
        assert ref.shape[-1] == r


def test_weights_changed_in_place_rebuild_the_plan():
    G = make_G()
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 1)
    before = fr.render(ws)
    with torch.no_grad():
        G.synthesis.b32.conv1.weight.mul_(1.5)    # training snapshot copied into G
        G.synthesis.b16.conv0.noise_strength.fill_(0.9)
        ref = G.synthesis(ws, noise_mode='const')
    after = fr.render(ws)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, ref, atol=2e-5, rtol=1e-4)


@pytest.mark.skipif(not cpu_supports_bf16(), reason='CPU without AVX512-BF16/AMX')
def test_bf16_quality():
    G = make_G(clamp=256)
    ws = _ws(G, 2)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const')
    out = FastRenderer(G, 'cpu', dtype='bf16').render(ws)
    assert out.dtype == torch.float32
    assert 35 < psnr(out, ref) < 200  # close, but really computed in bf16


def test_graph_cache_recaptures_only_when_shapes_or_weights_change():
    G = make_G()
    captured = []

    def fake_capture(fn, static):
        captured.append(sorted(static))
        out_holder = {}

        def replay():  # re-run eagerly on the *static* buffers, like a graph replay
            out_holder['img'].copy_(fn(static))
        out_holder['img'] = fn(static).clone()
        return replay, out_holder['img']

    fr = FastRenderer(G, 'cpu', use_graphs=True, graph_capture=fake_capture)
    assert fr.use_graphs
    ws1, ws1b, ws2 = _ws(G, 1, 1), _ws(G, 1, 2), _ws(G, 2, 3)
    with torch.no_grad():
        ref1, ref1b = G.synthesis(ws1, noise_mode='const'), G.synthesis(ws1b, noise_mode='const')
    a = fr.render(ws1).clone()
    b = fr.render(ws1b).clone()                      # new styles: buffers refilled, no capture
    assert len(captured) == 1
    torch.testing.assert_close(a, ref1, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(b, ref1b, atol=2e-5, rtol=1e-4)
    fr.render(ws1, noise_scale=0.3)                  # noise strength: buffer change only
    assert len(captured) == 1
    fr.render(ws2)                                   # batch changes -> capture
    fr.render(ws1, stop_at=16)                       # resolution changes -> capture
    assert len(captured) == 3
    fr.render(ws1)                                   # cached again
    assert len(captured) == 3
    with torch.no_grad():
        G.synthesis.b8.conv1.weight.add_(0.1)        # new weights -> plan rebuilt, graphs dropped
    fr.render(ws1)
    assert len(captured) == 4 and fr.graphs.captures == 4


def test_graph_replays_do_not_overwrite_earlier_results():
    """A replay rewrites the graph's static output; results handed out earlier must keep their values."""
    G = make_G()

    def fake_capture(fn, static):  # like a CUDA graph: one output buffer, rewritten by every replay
        out = fn(static).clone()
        return (lambda: out.copy_(fn(static))), out

    fr = FastRenderer(G, 'cpu', use_graphs=True, graph_capture=fake_capture)
    ws1, ws2 = _ws(G, 1, 1), _ws(G, 1, 2)
    a = fr.render(ws1)
    b = fr.render(ws2)
    assert fr.graphs.captures == 1
    with torch.no_grad():
        torch.testing.assert_close(a, G.synthesis(ws1, noise_mode='const'), atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(b, G.synthesis(ws2, noise_mode='const'), atol=2e-5, rtol=1e-4)


def test_graph_cache_is_bounded():
    calls = []
    cache = GraphCache(capture=lambda fn, st: (lambda: calls.append(1), torch.zeros(1)), max_entries=2)
    for key in ('a', 'b', 'c', 'a'):
        cache.run(key, None, {'x': torch.ones(1)})
    assert cache.captures == 4 and len(cache.entries) == 2


def test_forced_reference_env_uses_plain_synthesis(monkeypatch):
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    G = make_G()
    fr = FastRenderer(G, 'cpu')
    assert not fr.use_plan
    ws = _ws(G, 1)
    with torch.no_grad():
        torch.testing.assert_close(fr.render(ws), G.synthesis(ws, noise_mode='const'), atol=0, rtol=0)


def test_stylegan3_falls_back_to_synthesis():
    from explorer.engine.networks_stylegan3 import Generator as G3
    torch.manual_seed(0)
    G = G3(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
           num_layers=3, num_critical=1, mapping_kwargs=dict(num_layers=1)).eval()
    ws = _ws(G, 1)
    with torch.no_grad():
        ref = G.synthesis(ws)
    torch.testing.assert_close(FastRenderer(G, 'cpu').render(ws), ref)


def test_low_precision_refused_without_the_plan(monkeypatch):
    from explorer.engine.networks_stylegan3 import Generator as G3
    torch.manual_seed(0)
    G = G3(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
           num_layers=3, num_critical=1, mapping_kwargs=dict(num_layers=1)).eval()
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')   # (on the CPU StyleGAN3 has a plan of its own)
    with pytest.raises(ValueError, match='StyleGAN2 plan'):
        FastRenderer(G, 'cpu', dtype='bf16' if cpu_supports_bf16() else 'fp16')


@pytest.mark.parametrize('binomial', [True, False])
def test_folded_up_kernel_equals_transposed_conv_then_fir(binomial):
    """fold_up_fir: one 3x3 conv to 4*O channels + pixel_shuffle equals the transposed conv
    followed by the FIR, for the StyleGAN2 [1, 3, 3, 1] filter and for an arbitrary one."""
    from explorer.engine.fast_plan import fir_pad_params, fold_up_fir
    g = torch.Generator().manual_seed(0)
    O, I, H = 5, 3, 7
    x = torch.randn(1, I, H, H, generator=g, dtype=torch.float64)
    w = torch.randn(O, I, 3, 3, generator=g, dtype=torch.float64)
    f = torch.tensor([1., 3, 3, 1]) if binomial else torch.rand(4, 4, generator=g) + 0.1
    fir = fir_pad_params(f / f.sum() if f.ndim == 1 else f, O, 4.0, torch.float64, 'cpu')
    y = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)                # [1, O, 2H+1, 2H+1]
    ref = F.conv2d(y, fir, padding=1, groups=O)                           # [1, O, 2H, 2H]
    G = fold_up_fir(w, fir, 1)
    assert G.shape == (4 * O, I, 3, 3)
    out = F.pixel_shuffle(F.conv2d(x, G, padding=1), 2)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)
    assert fold_up_fir(w, fir, 3) is None                                # taps beyond the 3x3: refused


@pytest.mark.skipif(not nnpack_available(), reason='NNPACK not in this torch build')
@pytest.mark.parametrize('nonfused', [False, True])
@pytest.mark.parametrize('arch', ['skip', 'resnet'])
def test_folded_up_layers_in_the_plan_match_synthesis(arch, nonfused):
    """With folding enabled from 8 px (normally 512), the fp32 NNPACK plan still renders
    G.synthesis's image, with both modulation forms."""
    G = make_G(arch, res=64, clamp=0.5)
    fr = FastRenderer(G, 'cpu', use_nnpack=True)
    ws = _ws(G, 1)
    fr.render(ws)                                                         # builds the plan
    fr._plan.fold_from = 8
    fr._plan._use_nonfused = lambda lp, x: nonfused
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='random', noise_generator=g1)
    out = fr.render(ws, noise_mode='random', noise_generator=g2)
    folded = [lp for e in fr._plan.blocks for lp in e['layers'] if lp.extra.get('fold') is not None]
    assert [lp.resolution for lp in folded] == [64]                       # NNPACK needs a 32x32 input
    torch.testing.assert_close(out, ref, atol=5e-5, rtol=1e-4)


@pytest.mark.parametrize('arch', ['skip', 'resnet'])
def test_plan_interrupt_is_asked_before_every_conv_layer(arch):
    """The CPU plan asks before each conv layer of each sample: stopping at the k-th
    question raises Cancelled with exactly k questions asked (one intra-op thread: the samples
    run one after the other; concurrent lanes: tests/engine/test_fast_threads.py)."""
    from explorer.engine.progress import Cancelled
    G = make_G(arch)
    fr = FastRenderer(G, 'cpu')
    ws = _ws(G, 2)
    asked = []
    with one_intra_op_thread():
        out = fr.render(ws, interrupt=lambda: asked.append(1) and False)
        torch.testing.assert_close(out, fr.render(ws))
        n_conv = sum(1 for n, _ in G.synthesis.named_modules() if n.endswith(('conv0', 'conv1')))
        assert len(asked) == 2 * n_conv             # 2 samples, one question per conv layer
        for k in (1, n_conv + 1):                   # in the first sample / in the second
            asked.clear()
            with pytest.raises(Cancelled):
                fr.render(ws, interrupt=lambda: asked.append(1) or len(asked) >= k)
            assert len(asked) == k


@pytest.mark.parametrize('arch', ['skip', 'resnet'])
def test_batched_plan_matches_synthesis(arch):
    """The batched plan (used on CUDA; the CPU renders sample by sample) on CPU tensors."""
    G = make_G(arch, clamp=0.5)
    fr = FastRenderer(G, 'cpu', use_nnpack=False, channels_last=False)
    ws = _ws(G, 3)
    fr.render(ws[:1])  # builds the plan
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    noises = fr._plan.noise_list(3, 'random', [0.7] * G.num_ws, g2)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='random', noise_scale=0.7, noise_generator=g1)
        out = fr._plan.run(ws, noises)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_graphs_and_low_precision_match_reference(monkeypatch, fp32_math):
    # Parity at fp32 tolerances: TF32 convs/matmuls (cuDNN's default) round differently in the
    # reference's and the plan's different (but equivalent) convolution decompositions.
    G = make_G(clamp=256).cuda()
    ws = _ws(G.cpu(), 2).cuda()
    G = G.cuda()
    with torch.no_grad():
        monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
        ref = G.synthesis(ws, noise_mode='const')
        monkeypatch.delenv('EXPLORER_KERNELS')
    fr = FastRenderer(G, 'cuda', use_graphs=True)
    for _ in range(2):
        torch.testing.assert_close(fr.render(ws), ref, atol=1e-4, rtol=1e-3)
    assert fr.graphs.captures == 1
    for dt in ('fp16', 'bf16'):
        from explorer.engine.capabilities import dtype_supported
        if dtype_supported(dt, 'cuda'):
            assert psnr(FastRenderer(G, 'cuda', dtype=dt).render(ws), ref) > 35


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_graphs_capture_stylegan3_synthesis_and_redraw_random_noise():
    from explorer.engine.networks_stylegan3 import Generator as G3
    torch.manual_seed(0)
    G = G3(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
           num_layers=3, num_critical=1, mapping_kwargs=dict(num_layers=1)).eval().requires_grad_(False).cuda()
    ws = _ws(G.cpu(), 2).cuda()
    G = G.cuda()
    with torch.no_grad():
        ref = G.synthesis(ws)
    fr = FastRenderer(G, 'cuda', use_graphs=True)
    out = fr.render(ws)
    assert fr.use_graphs and fr.graphs.captures == 1   # captured, no fall-back to eager
    torch.testing.assert_close(out, ref, atol=2e-2, rtol=1e-2)
    # StyleGAN2 plan, random noise: static noise buffers are refilled on every replay.
    G2 = make_G(clamp=256).cuda()
    fr2 = FastRenderer(G2, 'cuda', use_graphs=True)
    ws2 = _ws(G2.cpu(), 1).cuda()
    G2 = G2.cuda()
    a, b = fr2.render(ws2, noise_mode='random'), fr2.render(ws2, noise_mode='random')
    assert fr2.use_graphs and fr2.graphs.captures == 1 and not torch.equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_graphs_capture_stylegan1_mid_growth():
    """StyleGAN1 reads its lod once per change, so capture needs no host sync (it used to
    fall back to eager with a warning)."""
    import warnings

    from explorer.engine.networks_stylegan1 import Generator as G1
    torch.manual_seed(0)
    G = G1(z_dim=16, w_dim=16, img_resolution=16, channels=[16, 16, 8], mapping_layers=2,
           mapping_fmaps=16).eval().requires_grad_(False)
    G.synthesis.lod.fill_(0.5)          # mid fade-in: the lod value matters
    ws = _ws(G, 1).cuda()
    G = G.cuda()
    with torch.no_grad():
        ref = G.synthesis(ws)
    fr = FastRenderer(G, 'cuda', use_graphs=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = fr.render(ws)
    assert fr.use_graphs and fr.graphs.captures == 1
    torch.testing.assert_close(out, ref, atol=2e-2, rtol=1e-2)
